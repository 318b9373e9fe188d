#pragma once
// What crosses between the nodes of a cluster: plain data with an `inspect` each, registered in
// one type-ID block (`caf::id_block::cartd`) on every node. Nothing here holds a pointer, a
// closure, a std::optional or a std::variant (CAF 0.17 cannot serialize those; see NOTES.md).
//
// A request that lands on a node that does not own its cart travels as a forward_request to the
// owner's cluster face; the owner runs it on its cart actor, renders the HTTP answer itself
// (`render_spec` says how) and sends back a forward_answer, which the arriving node writes out
// unchanged. Local requests keep the cart_request fast path (reply sink, no serialization).
#include <caf/atom.hpp>
#include <caf/meta/type_name.hpp>
#include <caf/type_id.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "actors/cart_protocol.hpp"
#include "domain/identity.hpp"

namespace cartd {

/// A cart command, flattened: `kind` names which one, the other members are its fields.
struct wire_command {
  enum kind_t : std::uint8_t {
    create = 1, get, add_item, set_quantity, remove_item, patch, remove_cart, merge
  };
  std::uint8_t kind = get;
  std::string currency, region;      ///< create
  std::string product, variant, item;
  std::int32_t quantity = 0;
  std::string source;                ///< merge
  std::uint8_t strategy = 0;         ///< merge: merge_strategy
  // patch: each member with its own presence flag
  bool has_region = false;
  bool has_codes = false;
  std::vector<std::string> codes;
  bool has_shipping = false;
  std::string shipping;
  bool has_metadata = false;
  std::string metadata_json;
};

// location_rule and render_spec: actors/cart_protocol.hpp (a local request carries them too).
std::string location_for(const location_rule& rule, const cart& c);

struct forward_request {
  std::string target;
  principal who;
  bool has_if_match = false;
  std::uint64_t if_match = 0;
  wire_command command;
  render_spec spec;
  std::string origin;  ///< the node it arrived on (logs and metrics)
};

struct forward_answer {
  std::int32_t status = 503;
  std::string content_type, etag, body;
  std::vector<std::string> headers;  ///< name, value, name, value, ...
  bool recorded = false;             ///< the Idempotency-Key answer committed with the change
};

/// A checkout request for a session that lives with another node's cart (or session id): the
/// owner runs it on its checkout registry and renders the answer as a forward_answer.
struct checkout_forward {
  enum op_t : std::uint8_t { open = 1, get, process };
  std::uint8_t op = get;
  std::string id;  ///< the session
  principal who;
  std::string cart, shipping_address_json, billing_address_json, shipping_method, email,
      tax_region;                 ///< open
  std::string token;              ///< process
  std::int64_t timeout_ms = 0;    ///< the owner's wait for its session actor
  std::string path, request_id;   ///< for problem details
  std::string traceparent;        ///< process: the request's trace context
};

/// One member as gossip carries it: an address and the incarnation it runs (never a handle).
struct member_info {
  std::string address;  ///< host:port, spelled as the member's own cluster.node
  std::uint64_t incarnation = 0;
};

/// The answer as the store keeps it for an Idempotency-Key (its Location header picked out).
stored_response stored_of(const forward_answer& a);

/// Only commands the HTTP front end sends have a wire form; false for the internal ones.
bool to_wire(const cart_command& cmd, wire_command& out);
cart_command from_wire(const wire_command& w);

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, principal& x) {
  return f(caf::meta::type_name("principal"), x.user, x.session, x.admin, x.bound_user);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, wire_command& x) {
  return f(caf::meta::type_name("wire_command"), x.kind, x.currency, x.region, x.product,
           x.variant, x.item, x.quantity, x.source, x.strategy, x.has_region, x.has_codes, x.codes,
           x.has_shipping, x.shipping, x.has_metadata, x.metadata_json);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, location_rule& x) {
  return f(caf::meta::type_name("location_rule"), x.kind, x.product, x.variant);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, render_spec& x) {
  return f(caf::meta::type_name("render_spec"), x.ok_status, x.view, x.location, x.method,
           x.path, x.request_id, x.if_none_match, x.idempotency_scope, x.idempotency_key);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, forward_request& x) {
  return f(caf::meta::type_name("forward_request"), x.target, x.who, x.has_if_match, x.if_match,
           x.command, x.spec, x.origin);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, forward_answer& x) {
  return f(caf::meta::type_name("forward_answer"), x.status, x.content_type, x.etag, x.body,
           x.headers, x.recorded);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, checkout_forward& x) {
  return f(caf::meta::type_name("checkout_forward"), x.op, x.id, x.who, x.cart,
           x.shipping_address_json, x.billing_address_json, x.shipping_method, x.email,
           x.tax_region, x.token, x.timeout_ms, x.path, x.request_id, x.traceparent);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, member_info& x) {
  return f(caf::meta::type_name("member_info"), x.address, x.incarnation);
}

// Atoms of the cluster face (at most 10 characters).
using hello_atom = caf::atom_constant<caf::atom("hello")>;
using gossip_atom = caf::atom_constant<caf::atom("gossip")>;
/// A node draining to stop: sent to its own membership actor, then (with its member_info) to
/// every live member, which takes it out of placement at once.
using leave_atom = caf::atom_constant<caf::atom("leave")>;


}  // namespace cartd

// Every type that crosses nodes, top-level message elements only (nested ones need `inspect`).
// Append only: the ids are positions, and `middleman.app-identifiers` names the wire version.
CAF_BEGIN_TYPE_ID_BLOCK(cartd, caf::first_custom_type_id)
CAF_ADD_TYPE_ID(cartd, (cartd::forward_request))
CAF_ADD_TYPE_ID(cartd, (cartd::forward_answer))
CAF_ADD_TYPE_ID(cartd, (cartd::member_info))
CAF_ADD_TYPE_ID(cartd, (std::vector<cartd::member_info>))
CAF_ADD_TYPE_ID(cartd, (cartd::checkout_forward))
CAF_END_TYPE_ID_BLOCK(cartd)

namespace cartd {
/// Changes whenever a wire type changes: nodes of different wire versions refuse each other.
inline constexpr const char* k_wire_version = "cartd-wire-1";
}  // namespace cartd
