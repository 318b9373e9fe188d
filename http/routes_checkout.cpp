// POST /checkout/session, GET /checkout/session/{id}, POST /checkout/process: parsed and
// checked here, then handed to the session's actor (actors/checkout_actor.cpp).
#include <caf/all.hpp>

#include "actors/checkout_protocol.hpp"
#include "actors/cluster.hpp"
#include "actors/wire.hpp"
#include "actors/system.hpp"
#include "domain/time.hpp"
#include "http/json.hpp"
#include "http/render_checkout.hpp"
#include "http/route_support.hpp"
#include "http/routes.hpp"
#include "http/service.hpp"

namespace cartd {

namespace {

struct address {
  std::string json;
  std::string tax_region;
};

/// An address (the JSON text of a body's object field) as canonical JSON; its errors are
/// reported on `body` as `key.field`.
std::optional<address> read_address(body_reader& body, const char* key, const std::string& raw) {
  body_reader a(raw);
  auto name = a.string("name", true, 1, 200);
  auto line1 = a.string("line1", true, 1, 200);
  auto line2 = a.string("line2", false, 0, 200);
  auto city = a.string("city", true, 1, 100);
  auto postal = a.string("postalCode", true, 1, 20);
  auto country = a.string("country", true, 2, 2);
  auto region = a.string("region", false, 1, 10);
  if (country && !is_region(*country)) a.fail("country", "an ISO 3166-1 code like US");
  std::string tax_region;
  if (country && region) {
    if (is_region(*region) && region->find('-') != std::string::npos)
      tax_region = *region;
    else if (is_region(*country + "-" + *region))
      tax_region = *country + "-" + *region;
    else
      a.fail("region", "a subdivision code like CA or US-CA");
  } else if (country) {
    tax_region = *country;
  }
  for (const auto& e : a.field_errors()) body.fail(std::string(key) + "." + e.field, e.message);
  if (!a.field_errors().empty()) return std::nullopt;
  json_writer w;
  w.begin_object().field("name", *name).field("line1", *line1);
  if (line2) w.field("line2", *line2);
  w.field("city", *city).field("postalCode", *postal).field("country", *country);
  if (region) w.field("region", *region);
  w.end_object();
  return address{w.str(), tax_region};
}

http_response answer(const checkout_reply& r, const http_request& req) {
  using kind = checkout_reply::kind;
  http_response resp;
  switch (r.how) {
    case kind::created:
      resp = json_response(201, render_checkout_session(*r.session));
      resp.headers.emplace_back("Location", "/api/v1/checkout/session/" + r.session->id);
      return resp;
    case kind::session:
      return json_response(200, render_checkout_session(*r.session));
    case kind::processing:
      return json_response(202, render_checkout_session(*r.session));
    case kind::placed:
      resp = json_response(201, render_order(*r.order));
      resp.headers.emplace_back("Location", "/api/v1/orders/" + r.order->id);
      return resp;
    case kind::order:
      return json_response(200, render_order(*r.order));
    case kind::failed:
      break;
  }
  resp = error_response(r.error, req);
  if (r.retry_after_s > 0)
    for (auto& [k, v] : resp.headers)
      if (k == "Retry-After") v = std::to_string(r.retry_after_s);
  return resp;
}

checkout_forward to_forward(const checkout_open& c) {
  checkout_forward f;
  f.op = checkout_forward::open;
  f.id = c.id;
  f.who = c.who;
  f.cart = c.cart.value;
  f.shipping_address_json = c.shipping_address_json;
  f.billing_address_json = c.billing_address_json;
  f.shipping_method = c.shipping_method;
  f.email = c.email;
  f.tax_region = c.tax_region;
  return f;
}

checkout_forward to_forward(const checkout_get& c) {
  checkout_forward f;
  f.op = checkout_forward::get;
  f.id = c.id;
  f.who = c.who;
  return f;
}

checkout_forward to_forward(const checkout_process& c) {
  checkout_forward f;
  f.op = checkout_forward::process;
  f.id = c.id;
  f.who = c.who;
  f.token = c.token;
  f.traceparent = c.traceparent;
  return f;
}

/// Sends `cmd` to the session's actor and renders its reply. In a cluster the session lives
/// on the node its id hashes to, which is its cart's owner when it was opened (new_session_id).
template <class Command>
void ask_checkout(caf::event_based_actor* self, const exchange_ptr& e, const finish_fn& finish,
                  Command cmd, std::chrono::milliseconds timeout) {
  if (auto* cv = e->svc.runtime.cluster()) {
    auto owner = cv->owner_of(cart_id{cmd.id});
    if (owner != cv->local_node()) {
      if (auto face = cv->face_of(owner)) {
        auto f = to_forward(cmd);
        f.timeout_ms = timeout.count();
        f.path = e->req.path;
        f.request_id = e->req.request_id;
        // The owner's own wait, plus the hop.
        return forward_to(self, e, finish, face, std::move(f), timeout + std::chrono::milliseconds(500));
      }
    }
  }
  const auto& checkouts = e->svc.runtime.checkouts();
  if (!checkouts)
    return finish(error_response(make_error(error_code::unavailable, "checkout is not running"), e->req));
  self->request(checkouts, timeout, std::move(cmd))
      .then([e, finish](checkout_reply& r) { finish(answer(r, e->req)); },
            [e, finish](caf::error&) {
              finish(error_response(make_error(error_code::unavailable, "checkout did not answer"),
                                    e->req));
            });
}

/// A new session's id: in a cluster, one that hashes to the node owning the cart, so that the
/// session lives with its cart (and every node finds it from its id alone).
std::string new_session_id(const service& svc, const cart_id& cart) {
  auto id = new_uuid_v7(now_ms());
  auto* cv = svc.runtime.cluster();
  if (!cv) return id;
  auto owner = cv->owner_of(cart);
  // With n live members one id in n hashes there: 64 tries fail with odds (1 - 1/n)^64.
  for (int i = 0; i < 64 && cv->owner_of(cart_id{id}) != owner; ++i) id = new_uuid_v7(now_ms());
  return id;
}

}  // namespace

forward_answer render_checkout_forwarded(const checkout_forward& cf, const checkout_reply& r) {
  http_request req;
  req.path = cf.path;
  req.request_id = cf.request_id;
  return to_forwarded(answer(r, req));
}

void create_checkout_route(const exchange_ptr& ex) {
  if (!ex->authenticate(auth_mode::caller)) return;
  body_reader body(ex->req.body);
  if (body.error()) return ex->fail(*body.error());
  auto cart = body.string("cartId", true, 1, 64);
  if (cart && !is_uuid(*cart)) body.fail("cartId", "must be a cart id (UUID)");
  auto method = body.string("shippingMethod", false, 1, 64);
  auto email = body.string("email", false, 3, 254);
  if (email && email->find('@') == std::string::npos) body.fail("email", "must be an email address");
  auto shipping_raw = body.object_json("shippingAddress", true, 4096);
  auto billing_raw = body.object_json("billingAddress", false, 4096);
  std::optional<address> shipping, billing;
  if (shipping_raw) shipping = read_address(body, "shippingAddress", *shipping_raw);
  if (billing_raw) billing = read_address(body, "billingAddress", *billing_raw);
  if (auto e = body.validation_error()) return ex->fail(*e);
  checkout_open cmd;
  cmd.cart = cart_id{*cart};
  cmd.shipping_address_json = shipping->json;
  cmd.tax_region = shipping->tax_region;
  if (billing) cmd.billing_address_json = billing->json;
  cmd.shipping_method = method.value_or("");
  cmd.email = email.value_or("");
  ex->run(auth_mode::caller, [cmd](caf::event_based_actor* self, exchange_ptr e, finish_fn finish) {
    auto c = cmd;
    c.id = new_session_id(e->svc, c.cart);
    c.who = e->who;
    ask_checkout(self, e, finish, std::move(c), e->svc.cfg.http.request_timeout);
  });
}

void get_checkout_route(const exchange_ptr& ex) {
  if (!ex->authenticate(auth_mode::caller)) return;
  if (!is_uuid(ex->param(0)))
    return ex->fail(make_error(error_code::not_found, "no such checkout session"));
  ex->run(auth_mode::caller, [](caf::event_based_actor* self, exchange_ptr e, finish_fn finish) {
    ask_checkout(self, e, finish, checkout_get{e->param(0), e->who}, e->svc.cfg.http.request_timeout);
  });
}

void process_checkout_route(const exchange_ptr& ex) {
  if (!ex->authenticate(auth_mode::caller)) return;
  body_reader body(ex->req.body);
  if (body.error()) return ex->fail(*body.error());
  auto id = body.string("sessionId", true, 1, 64);
  if (id && !is_uuid(*id)) body.fail("sessionId", "must be a checkout session id (UUID)");
  std::optional<std::string> token;
  if (auto raw = body.object_json("payment", true, 4096)) {
    body_reader p(*raw);
    auto method = p.string("method", false, 1, 32);
    if (method && *method != "card") p.fail("method", "must be card");
    token = p.string("token", true, 1, 256);
    for (const auto& e : p.field_errors()) body.fail("payment." + e.field, e.message);
  }
  if (auto e = body.validation_error()) return ex->fail(*e);
  checkout_process cmd{*id, {}, *token,
                       "00-" + ex->req.trace_id + "-" + ex->req.span_id + "-01"};
  ex->run(auth_mode::caller, [cmd](caf::event_based_actor* self, exchange_ptr e, finish_fn finish) {
    auto c = cmd;
    c.who = e->who;
    // One provider call may take payments.timeout; its answer is awaited, then the order.
    auto& cfg = e->svc.cfg;
    auto timeout = cfg.http.request_timeout + cfg.payments.timeout * 3 + std::chrono::seconds(2);
    ask_checkout(self, e, finish, std::move(c), timeout);
  });
}

}  // namespace cartd
