// Pricing configuration: tax rates per region and shipping methods (issue 4, first part).
// Each is kept as its API JSON in the store's pricing rules, so listing is a concatenation.
#include <caf/all.hpp>

#include "actors/pricing_book.hpp"
#include "actors/store_pool.hpp"
#include "actors/system.hpp"
#include "domain/ids.hpp"
#include "domain/rate.hpp"
#include "http/json.hpp"
#include "http/route_support.hpp"
#include "http/routes.hpp"
#include "http/service.hpp"

namespace cartd {

namespace {

http_response unavailable(const exchange_ptr& e) {
  return error_response(make_error(error_code::unavailable, "pricing store"), e->req);
}

/// Stores `rule` and answers its body: 201 (with Location, the request path) when it is new,
/// 200 when it replaced one.
void put_rule(const exchange_ptr& ex, pricing_rule rule) {
  ex->run(auth_mode::admin, [rule](caf::event_based_actor* self, exchange_ptr e, finish_fn finish) {
    auto* book = e->svc.runtime.pricing();
    call_store<bool>(
        self, e->svc.runtime.store_pool(), e->svc.cfg.http.request_timeout, false,
        [rule, book](store& s) {
          bool created = s.put_pricing_rule(rule);
          if (book) book->refresh();
          return created;
        },
        [e, finish, body = rule.body](std::optional<bool> created) {
          if (!created) return finish(unavailable(e));
          auto r = json_response(*created ? 201 : 200, body);
          if (*created) r.headers.emplace_back("Location", e->req.path);
          finish(std::move(r));
        });
  });
}

void delete_rule(const exchange_ptr& ex, const std::string& kind, const char* what) {
  if (!ex->authenticate(auth_mode::admin)) return;
  auto id = ex->param(0);
  ex->run(auth_mode::admin, [kind, id, what](caf::event_based_actor* self, exchange_ptr e,
                                             finish_fn finish) {
    call_store<bool>(
        self, e->svc.runtime.store_pool(), e->svc.cfg.http.request_timeout, false,
        [kind, id, book = e->svc.runtime.pricing()](store& s) {
          bool deleted = s.delete_pricing_rule(kind, id);
          if (book) book->refresh();
          return deleted;
        },
        [e, finish, what](std::optional<bool> deleted) {
          if (!deleted) return finish(unavailable(e));
          if (!*deleted)
            return finish(error_response(make_error(error_code::not_found, std::string("no such ") + what), e->req));
          finish(no_content_response());
        });
  });
}

void list_rules(const exchange_ptr& ex, const std::string& kind) {
  if (!ex->authenticate(auth_mode::open)) return;
  ex->run(auth_mode::open, [kind](caf::event_based_actor* self, exchange_ptr e,
                                      finish_fn finish) {
    call_store<std::vector<pricing_rule>>(
        self, e->svc.runtime.store_pool(), e->svc.cfg.http.request_timeout, false,
        [kind](store& s) { return s.list_pricing_rules(kind); },
        [e, finish](std::optional<std::vector<pricing_rule>> rules) {
          if (!rules) return finish(unavailable(e));
          json_writer w;
          w.begin_object().key("items").begin_array();
          for (const auto& r : *rules) w.raw_or_null(r.body);
          w.end_array().end_object();
          finish(json_response(200, w.str()));
        });
  });
}

}  // namespace

void put_tax_rate(const exchange_ptr& ex) {
  if (!ex->authenticate(auth_mode::admin)) return;
  const auto& region = ex->param(0);
  if (!is_region(region)) return ex->fail(make_error(error_code::not_found, "no such region code"));
  body_reader body(ex->req.body);
  if (body.error()) return ex->fail(*body.error());
  auto text = body.string("rate", true, 1, 16);
  std::optional<rate> parsed = text ? parse_rate(*text) : std::nullopt;
  if (text && !parsed) body.fail("rate", "must be a decimal string of percent, 0..100, up to 4 decimals");
  auto inclusive = body.boolean("inclusive", false).value_or(false);
  if (auto e = body.validation_error()) return ex->fail(*e);
  json_writer w;
  w.begin_object().field("region", region).field("rate", format_rate(*parsed)).field("inclusive", inclusive).end_object();
  put_rule(ex, pricing_rule{"tax", region, "", w.str()});
}

void delete_tax_rate(const exchange_ptr& ex) { delete_rule(ex, "tax", "tax rate"); }
void list_tax_rates(const exchange_ptr& ex) { list_rules(ex, "tax"); }

void put_shipping_method(const exchange_ptr& ex) {
  if (!ex->authenticate(auth_mode::admin)) return;
  const auto& id = ex->param(0);
  if (!is_catalog_id(id)) return ex->fail(make_error(error_code::not_found, "no such shipping method"));
  body_reader body(ex->req.body);
  if (body.error()) return ex->fail(*body.error());
  auto name = body.string("name", true, 1, 100);
  auto price = body.integer("price", true, 0, 10'000'000'000);
  auto free_over = body.integer("freeOver", false, 0, 1'000'000'000'000);
  auto currency = body.string("currency", false, 3, 3);
  if (currency && !is_currency(*currency)) body.fail("currency", "must be an ISO 4217 code like USD");
  if (auto e = body.validation_error()) return ex->fail(*e);
  json_writer w;
  w.begin_object().field("id", id).field("name", *name).field("price", *price);
  w.key("freeOver");
  if (free_over) w.value(*free_over); else w.null();
  // Prices are in the cart's currency; a method with a currency serves only carts in it.
  w.key("currency").value_or_null(currency.value_or(""));
  w.end_object();
  put_rule(ex, pricing_rule{"shipping", id, "", w.str()});
}

void delete_shipping_method(const exchange_ptr& ex) {
  delete_rule(ex, "shipping", "shipping method");
}
void list_shipping_methods(const exchange_ptr& ex) { list_rules(ex, "shipping"); }

}  // namespace cartd
