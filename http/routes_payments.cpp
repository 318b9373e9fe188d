// POST /payments/webhook: the provider's signed confirmations (API.md, Payments). No
// credentials: the signature over the raw body bytes is the credential. Every validly signed
// event is answered 200, also a duplicate or one naming nothing we know; duplicates are
// recognised by event id, and every handler is idempotent besides (events come in any order).
#include <caf/all.hpp>

#include "actors/checkout_protocol.hpp"
#include "actors/metrics.hpp"
#include "actors/store_pool.hpp"
#include "actors/system.hpp"
#include "domain/time.hpp"
#include "domain/webhook_signature.hpp"
#include "http/auth.hpp"
#include "http/json.hpp"
#include "http/route_support.hpp"
#include "http/routes.hpp"
#include "http/service.hpp"

namespace cartd {

namespace {

struct webhook_event {
  std::string id;
  std::string type;
  provider_payment payment;
};

std::optional<webhook_event> read_event(const std::string& raw, domain_error& err) {
  body_reader body(raw);
  if (body.error()) {
    err = *body.error();
    return std::nullopt;
  }
  webhook_event ev;
  auto id = body.string("id", true, 1, 255);
  auto type = body.string("type", true, 1, 64);
  auto data = body.object_json("data", true, 65536);
  if (auto e = body.validation_error()) {
    err = *e;
    return std::nullopt;
  }
  ev.id = *id;
  ev.type = *type;
  body_reader d(*data);
  ev.payment.id = d.string("id", false, 1, 255).value_or("");
  ev.payment.status = d.string("status", false, 1, 32).value_or("");
  ev.payment.reference = d.string("reference", false, 1, 255).value_or("");
  ev.payment.currency = d.string("currency", false, 1, 8).value_or("");
  ev.payment.amount = d.integer("amount", false, 0, 1'000'000'000'000'000).value_or(0);
  // The type is the event's word on the payment; `data.status` may lag behind it.
  if (ev.type == "payment.authorized") ev.payment.status = "authorized";
  if (ev.type == "payment.captured") ev.payment.status = "captured";
  if (ev.type == "payment.declined") ev.payment.status = "declined";
  return ev;
}

http_response received() { return json_response(200, R"({"received":true})"); }

}  // namespace

void payment_webhook_route(const exchange_ptr& ex) {
  auto& svc = ex->svc;
  const auto& secret = svc.cfg.payments.webhook_secret;
  auto header = parse_signature_header(ex->req.signature);
  bool valid = !secret.empty() && header &&
               verify_signature(*header, ex->req.body, now_ms() / 1000,
                                [&secret](std::string_view m) { return hmac_sha256_hex(secret, m); });
  if (!valid) {
    svc.stats.checkout().webhooks_rejected.Increment();
    return ex->fail(make_error(error_code::invalid_signature,
                               "missing, wrong or stale Cartd-Signature"));
  }
  domain_error err;
  auto ev = read_event(ex->req.body, err);
  if (!ev) return ex->fail(err);
  svc.stats.checkout().webhooks.Increment();
  auto event = *ev;
  ex->run(auth_mode::none, [event](caf::event_based_actor* self, exchange_ptr e, finish_fn finish) {
    auto& runtime = e->svc.runtime;
    bool confirms = event.type == "payment.authorized" || event.type == "payment.captured" ||
                    event.type == "payment.declined";
    auto id = event.id;
    call_store<bool>(
        self, runtime.store_pool(), e->svc.cfg.http.request_timeout, false,
        [id](store& s) { return s.remember_event(id, now_ms()); },
        [self, e, finish, event, confirms](std::optional<bool> first) {
          if (!first)
            return finish(error_response(make_error(error_code::unavailable, "store"), e->req));
          if (!*first || !confirms || !is_uuid(event.payment.reference) ||
              !e->svc.runtime.checkouts())
            return finish(received());  // a duplicate, or nothing for a checkout to do
          // A lost answer is no loss: reconciliation looks the session's payments up.
          self->request(e->svc.runtime.checkouts(), e->svc.cfg.http.request_timeout * 2,
                        checkout_confirm{event.payment.reference, event.payment})
              .then([finish](checkout_reply&) { finish(received()); },
                    [finish](caf::error&) { finish(received()); });
        });
  });
}

}  // namespace cartd
