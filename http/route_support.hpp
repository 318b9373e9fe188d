#pragma once
// Pieces every route handler uses: typed path params, If-Match, and the cart round trip.
#include <caf/event_based_actor.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "actors/cart_protocol.hpp"
#include "actors/cluster.hpp"
#include "actors/system.hpp"
#include "actors/wire.hpp"
#include "persistence/store.hpp"
#include "http/exchange.hpp"
#include "http/service.hpp"

namespace cartd {

enum class cart_view { full, totals, none };

// The Location of a 201 a cart command answers (the path of what it created) is a
// location_rule (actors/cart_protocol.hpp): plain data, so that the owner of a forwarded
// request, or the cart storing an Idempotency-Key answer, can render it too.

/// The cart id of path parameter `i`; answers 404 and returns nothing when it is not a UUID.
std::optional<cart_id> cart_param(const exchange_ptr& ex, std::size_t i);
/// If-Match as a version; answers 400 and returns false when the header is malformed.
bool read_if_match(const exchange_ptr& ex, std::optional<std::uint64_t>& out);
/// Sends `req` to the cart registry and renders the reply with `ok_status`.
void ask_cart(caf::event_based_actor* self, const exchange_ptr& ex, const finish_fn& finish,
              cart_request req, int ok_status, cart_view view, location_rule where = {});
http_response json_response(int status, std::string body);
/// 204 without a body.
http_response no_content_response();
/// The answer `r` as this request's Idempotency-Key answer, to commit in the transaction of
/// the change it reports (nothing when the request has no key). Once that transaction has
/// committed, `recorded(ex)` tells the exchange not to store it again.
std::optional<idempotency_completion> completion_for(const exchange& ex, const http_response& r);
void recorded(const exchange& ex);
struct pricing_rules;
/// The node's current pricing rules (null when the node has none).
std::shared_ptr<const pricing_rules> rules_of(const exchange& ex);
std::shared_ptr<const pricing_rules> rules_of(const service& svc);
/// Runs a cart command for the caller: straight to the registry when nothing needs preparing
/// (no actor per request), else through exchange::run (session lookup, Idempotency-Key).
/// In a cluster, a cart owned by another node goes there as a forward_request and its answer,
/// rendered by the owner, is written out unchanged.
void send_to_cart(const exchange_ptr& ex, cart_request req, int ok_status, cart_view view,
                  location_rule where = {});
/// A store check that may refuse a request before it reaches its cart (a limit).
using cart_precheck = std::function<std::optional<domain_error>(store&, const principal&)>;
/// send_to_cart after `check` ran on a store worker and found nothing wrong; its error is
/// the answer otherwise. Always the asynchronous path (credentials and Idempotency-Key first).
void send_to_cart_checked(const exchange_ptr& ex, cart_request req, int ok_status,
                          cart_view view, location_rule where, cart_precheck check);
/// A response as the answer a forwarded request carries back.
forward_answer to_forwarded(http_response resp);
/// A forwarded request's answer as this node's response (and the Idempotency-Key flag).
http_response from_forwarded(const exchange& ex, forward_answer& a);

/// Sends `msg` (a forward_request or checkout_forward) to the face of another node and
/// finishes with the answer that node rendered: `503` with Retry-After at once when that node
/// goes down (its face is monitored: CAF drops what was in flight to a dead node silently), or
/// after `timeout` when it does not answer (frozen). Never retried here: the owner may have
/// committed; the client's retry with its Idempotency-Key is the safe one.
template <class Message>
void forward_to(caf::event_based_actor* self, const exchange_ptr& e, const finish_fn& finish,
                const caf::actor& owner, Message msg, std::chrono::milliseconds timeout) {
  auto* cv = e->svc.runtime.cluster();
  auto started = std::chrono::steady_clock::now();
  auto answered = std::make_shared<bool>(false);
  auto once = [answered, finish](http_response r) {
    if (*answered) return;
    *answered = true;
    finish(std::move(r));
  };
  self->monitor(owner);
  self->set_down_handler([e, once, cv, started](caf::down_msg&) {
    cv->observe_forward(std::chrono::steady_clock::now() - started, false);
    once(error_response(
        make_error(error_code::unavailable, "the cart's owner node went down; retry"), e->req));
  });
  self->request(owner, timeout, std::move(msg))
      .then(
          [e, once, cv, started](forward_answer& a) {
            cv->observe_forward(std::chrono::steady_clock::now() - started, true);
            once(from_forwarded(*e, a));
          },
          [e, once, cv, started, answered](caf::error&) {
            if (*answered) return;
            cv->observe_forward(std::chrono::steady_clock::now() - started, false);
            once(error_response(
                make_error(error_code::unavailable, "the cart's owner node did not answer"),
                e->req));
          });
}

/// The owner's side of a forwarded request: `r` rendered as `spec` asks.
forward_answer render_forwarded(const service& svc, const render_spec& spec, const cart_reply& r);
/// `limit` (1..100, default 20) and `cursor` (a nextCursor this server gave) of a list route;
/// bad values go into `errors`.
void read_page(const exchange_ptr& ex, int& limit, std::optional<page_key>& after,
               std::vector<field_error>& errors);
/// Answers 400 validation_failed with `errors` and returns true, or returns false when none.
bool fail_query(const exchange_ptr& ex, std::vector<field_error> errors);
/// True when If-None-Match names `etag` (or is `*`).
bool none_match(const std::string& if_none_match, const std::string& etag);

}  // namespace cartd
