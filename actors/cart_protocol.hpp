#pragma once
// The cart protocol: every command a cart actor takes, the one reply type, and the typed actor
// alias. Read with domain/cart.hpp for the whole cart.
#include <caf/fwd.hpp>
#include <caf/typed_actor.hpp>
#include <caf/replies_to.hpp>
#include <caf/atom.hpp>
#include <caf/allowed_unsafe_message_type.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <variant>

#include "domain/cart.hpp"
#include "domain/errors.hpp"
#include "domain/identity.hpp"
#include "persistence/store.hpp"

namespace cartd {

// Commands (imperative). Each is answered with one cart_reply.
struct create_cart { std::string currency; std::string region; };
struct get_cart {};
struct add_item_cmd { product_id product; variant_id variant; std::int32_t quantity = 0; };
struct set_item_quantity_cmd { item_id item; std::int32_t quantity = 0; };
struct remove_item_cmd { item_id item; };
struct patch_cart_cmd { cart_patch patch; };
struct delete_cart_cmd {};
struct merge_cart { cart_id source; merge_strategy strategy = merge_strategy::sum; };
/// Sent by a merge target to its source: answers the source's state if `who` may merge it.
struct lend_for_merge {};
/// The stored snapshot moved under this actor (a merge wrote it): reload before the next command.
struct reload_cart {};
/// Supervision drill: the actor fails as a bug would, so restarts can be exercised and tested.
struct fail_cart {};

using cart_command = std::variant<create_cart, get_cart, add_item_cmd, set_item_quantity_cmd,
                                  remove_item_cmd, patch_cart_cmd, delete_cart_cmd, merge_cart,
                                  lend_for_merge, reload_cart, fail_cart>;

/// The answer to every command: the cart after it, or why it was refused.
struct cart_reply {
  bool ok = false;
  cart state;
  domain_error error;
  std::vector<line_state> lines;  ///< how each line stands against the catalog (with `state`)
  bool recorded = false;  ///< the request's Idempotency-Key answer committed with the change

  static cart_reply success(cart c) { return {true, std::move(c), {}, {}, false}; }
  static cart_reply failure(domain_error e) { return {false, {}, std::move(e), {}, false}; }
};

/// Where a reply goes when the sender is not an actor (the HTTP front end's fast path): the
/// cart calls deliver() instead of answering a request. A sink destroyed unanswered (its
/// message died in a failed mailbox) must answer by itself; the front end's does, with 503.
class cart_reply_sink {
 public:
  virtual ~cart_reply_sink() = default;
  virtual void deliver(cart_reply r) = 0;
};

/// Where a 201 points: nowhere, the cart, or the line of a product and variant.
struct location_rule {
  enum kind_t : std::uint8_t { none = 0, cart_path, item_path };
  std::uint8_t kind = none;
  std::string product, variant;
};

/// How a cart reply becomes its HTTP answer, and what the arriving request looked like: plain
/// values, so that the node that runs the command can render the answer (a forwarded request's
/// owner; an Idempotency-Key answer stored in the transaction of the change it reports).
struct render_spec {
  std::int32_t ok_status = 200;
  std::uint8_t view = 0;  ///< the HTTP side's cart_view
  location_rule location;
  std::string method, path, request_id, if_none_match;
  std::string idempotency_scope, idempotency_key;  ///< empty key: no Idempotency-Key
};

struct cart_request {
  cart_id target;
  principal who;
  std::optional<std::uint64_t> if_match;
  cart_command command;
  std::shared_ptr<cart_reply_sink> reply_to;  ///< null: answer the request as usual
  /// An Idempotency-Key request (non-empty key): the cart stores the answer this spec renders
  /// (cart_deps::render) in the very transaction that commits the change, and says so in
  /// cart_reply::recorded.
  render_spec idempotency;
};

using passivate_atom = caf::atom_constant<caf::atom("passivate")>;
using idle_atom = caf::atom_constant<caf::atom("idle")>;
/// The store changed a cart under its actor: drop the copy here and at its owner.
using evict_atom = caf::atom_constant<caf::atom("evict")>;
/// Drop the local copy of a cart only (its owner elsewhere changed it); never forwarded.
using forget_atom = caf::atom_constant<caf::atom("forget")>;
/// Membership changed: let go of the live carts (they reload from the store on next use).
using rehome_atom = caf::atom_constant<caf::atom("rehome")>;

using cart_actor = caf::typed_actor<caf::replies_to<cart_request>::with<cart_reply>,
                                    caf::reacts_to<idle_atom>, caf::reacts_to<passivate_atom>>;

/// A node's cart registry (actors/cart_registry.hpp): every cart request goes through it.
using cart_registry_actor =
    caf::typed_actor<caf::replies_to<cart_request>::with<cart_reply>,
                     caf::reacts_to<evict_atom, std::string>,
                     caf::reacts_to<forget_atom, std::string>, caf::reacts_to<rehome_atom>,
                     caf::reacts_to<passivate_atom, std::string, caf::actor>,
                     caf::reacts_to<idle_atom>>;

}  // namespace cartd

// Local only: a cart_request holds the front end's reply sink and a std::variant, and never
// leaves its node; what crosses is forward_request / forward_answer (actors/wire.hpp).
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(cartd::cart_request)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(cartd::cart_reply)
