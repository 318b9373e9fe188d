#pragma once
// The cart protocol: every command a cart actor takes, the one reply type, and the typed actor
// alias. Read with domain/cart.hpp for the whole cart.
#include <caf/fwd.hpp>
#include <caf/typed_actor.hpp>
#include <caf/replies_to.hpp>
#include <caf/atom.hpp>
#include <caf/allowed_unsafe_message_type.hpp>

#include <atomic>
#include <cstdint>
#include <functional>
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

  static cart_reply success(cart c) { return {true, std::move(c), {}, {}}; }
  static cart_reply failure(domain_error e) { return {false, {}, std::move(e), {}}; }
};

/// Where a reply goes when the sender is not an actor (the HTTP front end's fast path): the
/// cart calls deliver() instead of answering a request. A sink destroyed unanswered (its
/// message died in a failed mailbox) must answer by itself; the front end's does, with 503.
class cart_reply_sink {
 public:
  virtual ~cart_reply_sink() = default;
  virtual void deliver(cart_reply r) = 0;
};

/// An Idempotency-Key request's answer, to be stored by the very transaction that commits the
/// change it reports (see idempotency_completion). The front end sets `render`; the cart sets
/// `recorded` once that transaction committed.
struct idempotency_ticket {
  std::string scope;
  std::string key;
  std::function<stored_response(const cart&, const std::vector<line_state>&)> render;
  std::atomic<bool> recorded{false};
};

struct cart_request {
  cart_id target;
  principal who;
  std::optional<std::uint64_t> if_match;
  cart_command command;
  std::shared_ptr<cart_reply_sink> reply_to;  ///< null: answer the request as usual
  std::shared_ptr<idempotency_ticket> idempotency;  ///< null: no Idempotency-Key
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
                     caf::reacts_to<passivate_atom, std::string, caf::actor>>;

}  // namespace cartd

// Local-only for now: the cluster issue gives these an `inspect` and registers them remotely.
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(cartd::cart_request)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(cartd::cart_reply)
