#pragma once
// The checkout protocol: one actor per checkout session (actors/checkout_actor.cpp), found or
// spawned by the checkout registry of the node, like carts. Commands carry who asks; replies
// say which answer API.md gives. Local-only messages (the cluster issue registers them).
#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/atom.hpp>

#include <optional>
#include <string>
#include <vector>

#include "domain/checkout.hpp"
#include "domain/errors.hpp"
#include "domain/identity.hpp"
#include "payments/payment_provider.hpp"

namespace cartd {

struct checkout_open {
  std::string id;  ///< the new session's id
  principal who;
  cart_id cart;
  std::string shipping_address_json;
  std::string billing_address_json;  ///< empty: none
  std::string shipping_method;       ///< empty: the cart's
  std::string email;
  std::string tax_region;  ///< the shipping address's region: taxes a cart that has none
};

struct checkout_get {
  std::string id;
  principal who;
};

struct checkout_process {
  std::string id;
  principal who;
  std::string token;
  std::string traceparent;  ///< the request's W3C trace context, sent on to the provider
};

/// A provider's word on a payment of this session (a webhook or reconciliation).
struct checkout_confirm {
  std::string id;  ///< the session (the payment's reference)
  provider_payment payment;
};

struct checkout_reply {
  enum class kind {
    created,     ///< 201 the session
    session,     ///< 200 the session
    processing,  ///< 202 the session (payment pending)
    placed,      ///< 201 the order
    order,       ///< 200 the order (placed before)
    failed,      ///< the error
  } how = kind::failed;
  std::optional<checkout_session> session;
  std::optional<order_record> order;
  domain_error error;
  int retry_after_s = 0;  ///< for 503s refused by the breaker

  static checkout_reply fail(domain_error e, int retry_after = 0) {
    checkout_reply r;
    r.error = std::move(e);
    r.retry_after_s = retry_after;
    return r;
  }
};

using expire_atom = caf::atom_constant<caf::atom("expire")>;

}  // namespace cartd

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(cartd::checkout_open)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(cartd::checkout_get)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(cartd::checkout_process)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(cartd::checkout_confirm)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(cartd::checkout_reply)
