// GET /orders, GET/PATCH/DELETE /orders/{id}: parsed here, decided by actors/orders_actor.cpp.
#include <caf/all.hpp>

#include "actors/orders_actor.hpp"
#include "actors/system.hpp"
#include "http/json.hpp"
#include "http/render_checkout.hpp"
#include "http/route_support.hpp"
#include "http/routes.hpp"
#include "http/service.hpp"

namespace cartd {

namespace {

template <class Command>
void ask_orders(caf::event_based_actor* self, const exchange_ptr& e, const finish_fn& finish,
                Command cmd, bool list) {
  const auto& orders = e->svc.runtime.orders();
  if (!orders)
    return finish(error_response(make_error(error_code::unavailable, "orders are not running"), e->req));
  auto timeout = e->svc.cfg.http.request_timeout + e->svc.cfg.payments.timeout * 2;
  self->request(orders, timeout, std::move(cmd))
      .then(
          [e, finish, list](order_reply& r) {
            if (!r.ok) {
              auto resp = error_response(r.error, e->req);
              if (r.retry_after_s > 0)
                for (auto& [k, v] : resp.headers)
                  if (k == "Retry-After") v = std::to_string(r.retry_after_s);
              return finish(std::move(resp));
            }
            if (list) return finish(json_response(200, render_order_list(r.orders, r.next_cursor)));
            finish(json_response(200, render_order(r.orders.at(0))));
          },
          [e, finish](caf::error&) {
            finish(error_response(make_error(error_code::unavailable, "orders did not answer"), e->req));
          });
}

bool order_param(const exchange_ptr& ex) {
  if (is_uuid(ex->param(0))) return true;
  ex->fail(make_error(error_code::not_found, "no such order"));
  return false;
}

}  // namespace

void list_orders_route(const exchange_ptr& ex) {
  if (!ex->authenticate(auth_mode::caller)) return;
  order_list_cmd cmd;
  std::vector<field_error> errors;
  if (auto s = ex->query("status"); s && !s->empty()) {
    cmd.status = parse_order_status(*s);
    if (!cmd.status) errors.push_back({"status", "one of paid, fulfilled, shipped, delivered, cancelled"});
  }
  if (auto l = ex->query("limit"); l && !l->empty()) {
    bool digits = l->size() <= 4 && l->find_first_not_of("0123456789") == std::string::npos;
    int v = digits ? std::stoi(*l) : 0;
    if (v < 1 || v > 100) errors.push_back({"limit", "an integer 1..100"});
    else cmd.limit = v;
  }
  if (auto c = ex->query("cursor"); c && !c->empty()) {
    if (!is_uuid(*c)) errors.push_back({"cursor", "a nextCursor this route answered"});
    else cmd.cursor = *c;
  }
  if (auto u = ex->query("userId")) cmd.user_filter = *u;
  if (!errors.empty()) {
    auto e = make_error(error_code::validation_failed, "invalid query parameters");
    e.errors = errors;
    return ex->fail(e);
  }
  ex->run(auth_mode::caller, [cmd](caf::event_based_actor* self, exchange_ptr e, finish_fn finish) {
    auto c = cmd;
    c.who = e->who;
    if (!c.who.admin) c.user_filter.clear();  // only admins look at other users' orders
    ask_orders(self, e, finish, std::move(c), true);
  });
}

void get_order_route(const exchange_ptr& ex) {
  if (!ex->authenticate(auth_mode::caller) || !order_param(ex)) return;
  ex->run(auth_mode::caller, [](caf::event_based_actor* self, exchange_ptr e, finish_fn finish) {
    ask_orders(self, e, finish, order_get_cmd{e->who, e->param(0)}, false);
  });
}

void patch_order_route(const exchange_ptr& ex) {
  if (!ex->authenticate(auth_mode::admin) || !order_param(ex)) return;
  body_reader body(ex->req.body);
  if (body.error()) return ex->fail(*body.error());
  auto status = body.string("status", true, 1, 32);
  std::optional<order_status> to;
  if (status) {
    to = parse_order_status(*status);
    if (!to) body.fail("status", "one of paid, fulfilled, shipped, delivered, cancelled");
  }
  if (auto e = body.validation_error()) return ex->fail(*e);
  ex->run(auth_mode::admin, [to](caf::event_based_actor* self, exchange_ptr e, finish_fn finish) {
    ask_orders(self, e, finish, order_patch_cmd{e->who, e->param(0), *to}, false);
  });
}

void cancel_order_route(const exchange_ptr& ex) {
  if (!ex->authenticate(auth_mode::caller) || !order_param(ex)) return;
  ex->run(auth_mode::caller, [](caf::event_based_actor* self, exchange_ptr e, finish_fn finish) {
    ask_orders(self, e, finish, order_cancel_cmd{e->who, e->param(0)}, false);
  });
}

}  // namespace cartd
