#pragma once
// Orders after checkout (API.md, Orders). Orders are rows, not actors: this one actor per node
// reads them and applies the state machine of domain/order.hpp under each row's version (a
// write over a version that moved fails, on any node). A cancel voids or refunds the payment
// first, with a key per order, so repeated or racing cancels pay back once; then one
// transaction cancels, restocks and gives the discount uses back.
#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <caf/allowed_unsafe_message_type.hpp>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "domain/checkout.hpp"
#include "domain/errors.hpp"
#include "domain/identity.hpp"

namespace cartd {

class metrics;
class payment_gateway;
class catalog_cache;

struct order_list_cmd {
  principal who;
  std::optional<order_status> status;
  std::string user_filter;  ///< admins: ?userId=
  std::string cursor;
  int limit = 20;
};

struct order_get_cmd {
  principal who;
  std::string id;
};

struct order_patch_cmd {
  principal who;
  std::string id;
  order_status to = order_status::paid;
};

struct order_cancel_cmd {
  principal who;
  std::string id;
};

struct order_reply {
  bool ok = false;
  std::vector<order_record> orders;  ///< a list, or the one order
  std::string next_cursor;
  domain_error error;
  int retry_after_s = 0;
};

struct orders_deps {
  caf::actor store_pool;
  metrics* stats = nullptr;
  payment_gateway* payments = nullptr;
  catalog_cache* catalog = nullptr;  ///< dropped for an order's products when it restocks
  std::chrono::milliseconds io_timeout{4000};
  bool publish_events = false;
};

caf::actor spawn_orders_actor(caf::actor_system& sys, orders_deps deps);

}  // namespace cartd

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(cartd::order_list_cmd)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(cartd::order_get_cmd)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(cartd::order_patch_cmd)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(cartd::order_cancel_cmd)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(cartd::order_reply)
