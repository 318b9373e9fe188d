#pragma once
// Who is asking: a user (JWT), a guest session (session token), or both at once.
#include <string>

namespace cartd {

struct principal {
  std::string user;     ///< JWT `sub`; empty when no JWT was sent
  std::string session;  ///< session id behind X-Session-Token; empty when none
  bool admin = false;
  /// The user a session token's session is bound to (it was created with that user's JWT):
  /// carts the session makes belong to that user too. Grants no access by itself.
  std::string bound_user;

  bool anonymous() const { return user.empty() && session.empty(); }
  /// Scope for idempotency keys and rate limits: the user, else the session.
  std::string scope() const { return !user.empty() ? "u:" + user : "s:" + session; }
};

}  // namespace cartd
