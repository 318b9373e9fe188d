#pragma once
// Group commit: cart actors send their snapshot writes here; many carts' writes go into one
// transaction, flushed when the batch is full or as soon as the previous commit returns. A
// write is answered only once its transaction committed: acknowledged means durable.
#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <caf/allowed_unsafe_message_type.hpp>

#include <vector>

#include "persistence/store.hpp"

namespace cartd {

class metrics;

struct writer_options {
  int batch_max = 256;      ///< writes per transaction (1 when group commit is off)
  int max_in_flight = 1;    ///< concurrent transactions (SQLite has one writer)
};

/// Answers a write_unit with its write_status (or an error when the store failed).
caf::actor spawn_snapshot_writer(caf::actor_system& sys, store& s, metrics& m,
                                 writer_options opts);

}  // namespace cartd

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(cartd::write_unit)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::vector<cartd::write_unit>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::vector<cartd::write_status>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(cartd::write_status)
