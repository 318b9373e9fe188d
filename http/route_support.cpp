#include "http/route_support.hpp"

#include <caf/all.hpp>

#include "actors/pricing_book.hpp"
#include "actors/bulkhead.hpp"
#include "actors/cluster.hpp"
#include "actors/store_pool.hpp"
#include "actors/system.hpp"
#include "http/render.hpp"
#include "http/service.hpp"

namespace cartd {

std::optional<cart_id> cart_param(const exchange_ptr& ex, std::size_t i) {
  const auto& raw = ex->param(i);
  if (!is_uuid(raw)) {
    ex->fail(make_error(error_code::not_found, "no such cart"));
    return std::nullopt;
  }
  return cart_id{raw};
}

bool read_if_match(const exchange_ptr& ex, std::optional<std::uint64_t>& out) {
  bool bad = false;
  out = ex->if_match(bad);
  if (bad) {
    auto e = make_error(error_code::validation_failed, "malformed If-Match");
    e.errors.push_back({"If-Match", "must be an ETag such as \"3\""});
    ex->fail(e);
    return false;
  }
  return true;
}

http_response json_response(int status, std::string body) {
  http_response r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

std::optional<idempotency_completion> completion_for(const exchange& ex, const http_response& r) {
  if (!ex.idempotency) return std::nullopt;
  return idempotency_completion{ex.idempotency->scope, ex.idempotency->key,
                                stored_response{r.status, r.content_type, r.etag, r.body,
                                                location_of(r)}};
}

void recorded(const exchange& ex) {
  if (ex.idempotency) ex.idempotency->recorded = true;
}

http_response no_content_response() {
  http_response r;
  r.status = 204;
  r.content_type.clear();
  return r;
}

namespace {

}  // namespace

std::shared_ptr<const pricing_rules> rules_of(const service& svc) {
  auto* book = svc.runtime.pricing();
  return book ? book->current() : nullptr;
}

std::shared_ptr<const pricing_rules> rules_of(const exchange& ex) { return rules_of(ex.svc); }

namespace {

http_response render_reply(const cart_reply& r, const http_request& req, int ok_status,
                           cart_view view, const pricing_rules* rules, const location_rule& where) {
  if (!r.ok) return error_response(r.error, req);
  http_response resp;
  resp.status = ok_status;
  resp.etag = etag_of(r.state);
  if (req.method == "GET" && !req.if_none_match.empty() && none_match(req.if_none_match, resp.etag)) {
    resp.status = 304;  // unchanged since the version the client holds: no body
    resp.content_type.clear();
    return resp;
  }
  if (view == cart_view::full) resp.body = render_cart(r.state, r.lines, rules);
  if (view == cart_view::totals) resp.body = render_totals(r.state, rules);
  if (view == cart_view::none) resp.content_type.clear();
  if (where.kind != location_rule::none && ok_status == 201)
    resp.headers.emplace_back("Location", location_for(where, r.state));
  return resp;
}

/// Answers `r`; a totals view is priced in the pricing bulkhead (503 when it is full). Only
/// reads ask for totals, so answering from a pricing actor's thread is safe (no idempotency
/// record to write on the caller's actor).
void answer(const exchange_ptr& ex, const cart_reply& r, int ok_status, cart_view view,
            const location_rule& where, const finish_fn& finish) {
  if (r.recorded) recorded(*ex);
  if (view != cart_view::totals || !r.ok) {
    auto rules = rules_of(*ex);
    return finish(render_reply(r, ex->req, ok_status, view, rules.get(), where));
  }
  bool admitted = ex->svc.runtime.pricing_workers().submit([ex, r, ok_status, view] {
    auto rules = rules_of(*ex);
    ex->respond(render_reply(r, ex->req, ok_status, view, rules.get(), location_rule{}));
  });
  if (!admitted)
    finish(error_response(make_error(error_code::unavailable, "pricing is busy"), ex->req));
}

class exchange_sink final : public cart_reply_sink {
 public:
  exchange_sink(exchange_ptr ex, int ok_status, cart_view view, location_rule where)
      : ex_(std::move(ex)), ok_status_(ok_status), view_(view), where_(std::move(where)) {}
  void deliver(cart_reply r) override {
    auto ex = ex_;
    answer(ex_, r, ok_status_, view_, where_,
           [ex](http_response resp) { ex->respond(std::move(resp)); });
  }

 private:
  exchange_ptr ex_;
  int ok_status_;
  cart_view view_;
  location_rule where_;
};

}  // namespace

bool fail_query(const exchange_ptr& ex, std::vector<field_error> errors) {
  if (errors.empty()) return false;
  auto e = make_error(error_code::validation_failed, "invalid query parameters");
  e.errors = std::move(errors);
  ex->fail(e);
  return true;
}

void read_page(const exchange_ptr& ex, int& limit, std::optional<page_key>& after,
               std::vector<field_error>& errors) {
  if (auto l = ex->query("limit")) {
    bool digits = !l->empty() && l->size() <= 3 && l->find_first_not_of("0123456789") == std::string::npos;
    int n = digits ? std::stoi(*l) : 0;
    if (n < 1 || n > 100) errors.push_back({"limit", "must be an integer from 1 to 100", {}});
    else limit = n;
  }
  if (auto c = ex->query("cursor"); c && !c->empty()) {
    after = decode_cursor(*c);
    if (!after) errors.push_back({"cursor", "must be a nextCursor this list answered", {}});
  }
}

bool none_match(const std::string& if_none_match, const std::string& etag) {
  if (if_none_match == "*") return true;
  // A list of entity tags; weak ones compare as strong ones (RFC 9110, 13.1.2).
  std::size_t i = 0;
  while (i < if_none_match.size()) {
    auto comma = if_none_match.find(',', i);
    auto tag = if_none_match.substr(i, comma == std::string::npos ? std::string::npos : comma - i);
    auto b = tag.find_first_not_of(" \t");
    auto e = tag.find_last_not_of(" \t");
    if (b != std::string::npos) {
      tag = tag.substr(b, e - b + 1);
      if (tag.rfind("W/", 0) == 0) tag = tag.substr(2);
      if (tag == etag) return true;
    }
    if (comma == std::string::npos) break;
    i = comma + 1;
  }
  return false;
}

forward_answer to_forwarded(http_response resp) {
  forward_answer a;
  a.status = resp.status;
  a.content_type = std::move(resp.content_type);
  a.etag = std::move(resp.etag);
  a.body = std::move(resp.body);
  for (auto& [k, v] : resp.headers) {
    a.headers.push_back(std::move(k));
    a.headers.push_back(std::move(v));
  }
  return a;
}

http_response from_forwarded(const exchange& ex, forward_answer& a) {
  if (a.recorded && ex.idempotency) ex.idempotency->recorded = true;
  http_response resp;
  resp.status = a.status;
  resp.content_type = std::move(a.content_type);
  resp.etag = std::move(a.etag);
  resp.body = std::move(a.body);
  for (std::size_t i = 0; i + 1 < a.headers.size(); i += 2)
    resp.headers.emplace_back(a.headers[i], a.headers[i + 1]);
  return resp;
}

forward_answer render_forwarded(const service& svc, const render_spec& spec, const cart_reply& r) {
  http_request req;
  req.method = spec.method;
  req.path = spec.path;
  req.request_id = spec.request_id;
  req.if_none_match = spec.if_none_match;
  auto rules = rules_of(svc);
  auto resp = render_reply(r, req, spec.ok_status, static_cast<cart_view>(spec.view), rules.get(),
                           spec.location);
  return to_forwarded(std::move(resp));
}

namespace {

/// How `ex`'s cart reply is rendered, as values (for the owner of a forwarded request and for
/// the cart that stores an Idempotency-Key answer with its change).
render_spec spec_for(const exchange& ex, int ok_status, cart_view view, const location_rule& where) {
  render_spec spec;
  spec.ok_status = ok_status;
  spec.view = static_cast<std::uint8_t>(view);
  spec.location = where;
  spec.method = ex.req.method;
  spec.path = ex.req.path;
  spec.request_id = ex.req.request_id;
  spec.if_none_match = ex.req.if_none_match;
  if (ex.idempotency) {
    spec.idempotency_scope = ex.idempotency->scope;
    spec.idempotency_key = ex.idempotency->key;
  }
  return spec;
}

/// The cart is another node's: forward it there, with a timeout shorter than the request's
/// (a dead or frozen owner answers 503 with Retry-After, never a hang). Writes are not retried
/// blindly: the owner may have committed before it went silent; the client's retry (with its
/// Idempotency-Key) is the safe one.
/// Sends `req` to the cart's owner on another node, from inside an exchange's action.
void forward_from(caf::event_based_actor* self, const exchange_ptr& e, const finish_fn& finish,
                  const cart_request& req, int ok_status, cart_view view, location_rule where,
                  const caf::actor& owner) {
  auto* cv = e->svc.runtime.cluster();
  forward_request fr;
  fr.target = req.target.value;
  fr.who = e->who;
  fr.has_if_match = req.if_match.has_value();
  fr.if_match = req.if_match.value_or(0);
  to_wire(req.command, fr.command);
  fr.spec = spec_for(*e, ok_status, view, where);
  fr.origin = cv->local_node();
  forward_to(self, e, finish, owner, std::move(fr), e->svc.cfg.cluster.forward_timeout);
}

void forward_to_owner(const exchange_ptr& ex, cart_request req, int ok_status, cart_view view,
                      location_rule where, caf::actor owner) {
  ex->run(auth_mode::caller, [req = std::move(req), ok_status, view, where, owner](
                                 caf::event_based_actor* self, exchange_ptr e, finish_fn finish) {
    forward_from(self, e, finish, req, ok_status, view, where, owner);
  });
}

/// The face of the node owning `target` when that is another live node; else nothing (serve
/// here: the store's version condition keeps writes right while views disagree).
caf::actor remote_owner(service& svc, const cart_id& target) {
  if (auto* cv = svc.runtime.cluster()) {
    auto owner = cv->owner_of(target);
    if (owner != cv->local_node()) return cv->face_of(owner);
  }
  return {};
}

}  // namespace

void send_to_cart(const exchange_ptr& ex, cart_request req, int ok_status, cart_view view,
                  location_rule where) {
  if (auto face = remote_owner(ex->svc, req.target))
    return forward_to_owner(ex, std::move(req), ok_status, view, where, std::move(face));
  if (ex->ready_for_fast_path()) {
    req.who = ex->who;
    req.reply_to = std::make_shared<exchange_sink>(ex, ok_status, view, where);
    ex->svc.deadlines.watch(ex, ex->svc.cfg.http.request_timeout);
    ex->admit([ex, req = std::move(req)]() mutable {
      caf::anon_send(ex->svc.runtime.registry(), std::move(req));
    });
    return;
  }
  ex->run(auth_mode::caller, [req = std::move(req), ok_status, view, where](
                                 caf::event_based_actor* self, exchange_ptr e, finish_fn finish) {
    auto r = req;
    r.who = e->who;
    if (e->idempotency) r.idempotency = spec_for(*e, ok_status, view, where);
    ask_cart(self, e, finish, std::move(r), ok_status, view, where);
  });
}

void send_to_cart_checked(const exchange_ptr& ex, cart_request req, int ok_status,
                          cart_view view, location_rule where, cart_precheck check) {
  ex->run(auth_mode::caller, [req = std::move(req), ok_status, view, where,
                              check = std::move(check)](caf::event_based_actor* self,
                                                        exchange_ptr e, finish_fn finish) {
    auto who = e->who;
    call_store<std::optional<domain_error>>(
        self, e->svc.runtime.store_pool(), e->svc.cfg.http.request_timeout, false,
        [check, who](store& s) { return check(s, who); },
        [self, e, finish, req, ok_status, view, where](
            std::optional<std::optional<domain_error>> refused) {
          if (!refused)
            return finish(error_response(
                make_error(error_code::unavailable, "the store did not answer"), e->req));
          if (*refused) return finish(error_response(**refused, e->req));
          if (auto face = remote_owner(e->svc, req.target))
            return forward_from(self, e, finish, req, ok_status, view, where, face);
          auto r = req;
          r.who = e->who;
          if (e->idempotency) r.idempotency = spec_for(*e, ok_status, view, where);
          ask_cart(self, e, finish, std::move(r), ok_status, view, where);
        });
  });
}

void ask_cart(caf::event_based_actor* self, const exchange_ptr& ex, const finish_fn& finish,
              cart_request req, int ok_status, cart_view view, location_rule where) {
  self->request(ex->svc.runtime.registry(), ex->svc.cfg.http.request_timeout, std::move(req))
      .then(
          [ex, finish, ok_status, view, where](cart_reply& r) {
            answer(ex, r, ok_status, view, where, finish);
          },
          [ex, finish](caf::error&) {
            // Timed out, or the cart actor failed with this request in its mailbox.
            finish(error_response(make_error(error_code::unavailable, "cart did not answer"),
                                  ex->req));
          });
}

}  // namespace cartd
