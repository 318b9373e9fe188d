// Discounts (admin) and quotes: POST /pricing/calculate prices items with the pricing engine
// against the catalog and the stored rules, storing nothing.
#include <caf/all.hpp>

#include <algorithm>
#include <cctype>
#include <map>

#include "actors/pricing_book.hpp"
#include "actors/pricing_pool.hpp"
#include "actors/store_pool.hpp"
#include "actors/system.hpp"
#include "domain/catalog.hpp"
#include "domain/money.hpp"
#include "domain/time.hpp"
#include "http/json.hpp"
#include "http/pricing_codec.hpp"
#include "http/route_support.hpp"
#include "http/routes.hpp"
#include "http/service.hpp"

namespace cartd {

namespace {

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

http_response unavailable(const exchange_ptr& e) {
  return error_response(make_error(error_code::unavailable, "pricing store"), e->req);
}

bool valid_code(const std::string& c) {
  return std::all_of(c.begin(), c.end(), [](char ch) {
    return std::isalnum(static_cast<unsigned char>(ch)) || ch == '-' || ch == '_';
  });
}

}  // namespace

void create_discount(const exchange_ptr& ex) {
  if (!ex->authenticate(auth_mode::admin)) return;
  body_reader body(ex->req.body);
  if (body.error()) return ex->fail(*body.error());
  auto code = body.string("code", false, 1, 64);
  if (code && !valid_code(*code)) body.fail("code", "letters, digits, - and _ only");
  auto type = body.string("type", true, 1, 16);
  if (type && *type != "percentage" && *type != "fixed") body.fail("type", "must be percentage or fixed");
  json_writer w;
  w.begin_object();
  std::string id = new_uuid_v7(now_ms());
  w.field("id", id);
  w.key("code").value_or_null(code.value_or(""));
  w.field("type", type.value_or(""));
  auto currency = body.string("currency", false, 3, 3);
  if (type && *type == "percentage") {
    std::optional<rate> pct;
    if (body.has("value")) {
      // An integer percent or a decimal string of up to 4 decimals, at most 100.
      if (auto as_text = body.string("value", false, 1, 16)) {
        pct = parse_rate(*as_text);
      } else {
        body.field_errors().pop_back();
        if (auto as_int = body.integer("value", false, 0, 100)) pct = rate{*as_int * 10'000};
      }
    }
    if (!pct) body.fail("value", "a percent 0..100: an integer or a decimal string like \"12.5\"");
    else w.field("value", format_rate(*pct));
  } else if (type) {
    auto amount = body.integer("value", true, 1, max_amount);
    if (amount) w.field("value", *amount);
    if (!currency) body.fail("currency", "a fixed discount needs the currency of its amount");
  }
  if (currency && !std::all_of(currency->begin(), currency->end(), [](char c) { return c >= 'A' && c <= 'Z'; }))
    body.fail("currency", "must be an ISO 4217 code like USD");
  w.key("currency").value_or_null(type && *type == "fixed" ? currency.value_or("") : "");
  bool automatic = body.boolean("automatic", false).value_or(!code.has_value());
  w.field("automatic", automatic);
  w.field("priority", body.integer("priority", false, -1'000'000, 1'000'000).value_or(0));
  w.field("minSubtotal", body.integer("minSubtotal", false, 0, max_amount).value_or(0));
  w.key("productIds").begin_array();
  for (const auto& p : body.string_array("productIds", false, 1000, 64).value_or(std::vector<std::string>{})) w.value(p);
  w.end_array();
  auto starts = body.string("startsAt", false, 1, 40);
  auto ends = body.string("endsAt", false, 1, 40);
  constexpr std::int64_t none = -1;  // absent or not a time
  std::int64_t s_ms = starts ? parse_rfc3339(*starts).value_or(none) : none;
  std::int64_t e_ms = ends ? parse_rfc3339(*ends).value_or(none) : none;
  if (starts && s_ms == none) body.fail("startsAt", "must be an RFC 3339 UTC time");
  if (ends && e_ms == none) body.fail("endsAt", "must be an RFC 3339 UTC time");
  if (s_ms != none && e_ms != none && e_ms <= s_ms) body.fail("endsAt", "must be after startsAt");
  w.key("startsAt").value_or_null(s_ms != none ? format_rfc3339(s_ms) : "");
  w.key("endsAt").value_or_null(e_ms != none ? format_rfc3339(e_ms) : "");
  auto limit = body.integer("usageLimit", false, 1, max_amount);
  w.key("usageLimit");
  if (limit) w.value(*limit); else w.null();
  w.field("active", true);
  w.end_object();
  if (!code && !automatic) body.fail("code", "a discount without a code must be automatic");
  if (auto e = body.validation_error()) return ex->fail(*e);
  pricing_rule rule{"discount", id, code ? lower(*code) : "", w.str()};
  ex->run(auth_mode::admin, [rule](caf::event_based_actor* self, exchange_ptr e, finish_fn finish) {
    call_store<int>(
        self, e->svc.runtime.store_pool(), e->svc.cfg.http.request_timeout, false,
        [rule, book = e->svc.runtime.pricing()](store& s) {
          if (!rule.code.empty()) {
            for (const auto& r : s.list_pricing_rules("discount"))
              if (r.code == rule.code) return 409;
          }
          s.put_pricing_rule(rule);
          if (book) book->refresh();
          return 201;
        },
        [e, finish, body = rule.body](std::optional<int> status) {
          if (!status) return finish(unavailable(e));
          if (*status == 409)
            return finish(error_response(make_error(error_code::conflict, "a discount with this code exists"), e->req));
          finish(json_response(201, body));
        });
  });
}

void list_discounts(const exchange_ptr& ex) {
  if (!ex->authenticate(auth_mode::optional)) return;
  ex->run(auth_mode::optional, [](caf::event_based_actor* self, exchange_ptr e, finish_fn finish) {
    call_store<std::vector<pricing_rule>>(
        self, e->svc.runtime.store_pool(), e->svc.cfg.http.request_timeout, false,
        [](store& s) { return s.list_pricing_rules("discount"); },
        [e, finish](std::optional<std::vector<pricing_rule>> rules) {
          if (!rules) return finish(unavailable(e));
          json_writer w;
          w.begin_object().key("items").begin_array();
          auto now = now_ms();
          for (const auto& r : *rules) {
            auto d = discount_from_rule(r);
            bool current = d && d->automatic && (!d->starts_at_ms || *d->starts_at_ms <= now) &&
                           (!d->ends_at_ms || now < *d->ends_at_ms) &&
                           (!d->usage_limit || d->used < *d->usage_limit);
            if (e->who.admin || current) w.raw_or_null(r.body);  // admins see every discount
          }
          w.end_array().end_object();
          finish(json_response(200, w.str()));
        });
  });
}

void calculate_quote(const exchange_ptr& ex) {
  if (!ex->authenticate(auth_mode::optional)) return;
  body_reader body(ex->req.body);
  if (body.error()) return ex->fail(*body.error());
  // The quote is priced as a cart with the same content: same checks, same engine, same rules.
  cart quoted;
  quoted.id = cart_id{"quote"};
  quoted.currency = body.string("currency", true, 3, 3).value_or("");
  cart_patch patch;
  patch.region = body.string("region", false, 2, 6);
  if (patch.region && !is_region(*patch.region)) body.fail("region", "must look like US or US-CA");
  auto items = body.objects("items", true, 1, 100);
  int n = 0;
  for (auto& it : items) {
    auto p = it->string("productId", true, 1, 64);
    auto v = it->string("variantId", true, 1, 64);
    auto q = it->integer("quantity", true, 1, ex->svc.cfg.cart.max_quantity_per_line);
    for (auto& fe : it->field_errors()) body.field_errors().push_back(fe);
    if (p && v && q) {
      quoted.items.push_back(cart_item{item_id{"line-" + std::to_string(n++)}, product_id{*p},
                                       variant_id{*v}, "", static_cast<std::int32_t>(*q), 0, 0});
    }
  }
  patch.discount_codes = body.string_array("discountCodes", false, 20, 64);
  patch.shipping_method = body.string("shippingMethod", false, 1, 64);
  if (auto e = body.validation_error()) return ex->fail(*e);
  ex->run(auth_mode::optional, [quoted, patch](caf::event_based_actor* self, exchange_ptr e,
                                               finish_fn finish) {
    std::vector<product_id> wanted;
    for (const auto& l : quoted.items) wanted.push_back(l.product);
    call_store<std::map<std::string, product>>(
        self, e->svc.runtime.store_pool(), e->svc.cfg.http.request_timeout, false,
        [wanted](store& s) {
          std::map<std::string, product> found;
          for (const auto& p : wanted)
            if (!found.count(p.value))
              if (auto got = s.get_product(p)) found.emplace(p.value, *got);
          return found;
        },
        [self, e, finish, quoted, patch](std::optional<std::map<std::string, product>> products) mutable {
          if (!products) return finish(unavailable(e));
          auto fail = [&](error_code c, std::string detail) {
            finish(error_response(make_error(c, std::move(detail)), e->req));
          };
          for (auto& l : quoted.items) {
            auto it = products->find(l.product.value);
            auto offer = it == products->end() ? std::nullopt : offer_for(it->second, l.variant);
            if (!offer || !offer->active)
              return fail(error_code::unknown_product, "unknown product " + l.product.value + " variant " + l.variant.value);
            if (offer->currency != quoted.currency)
              return fail(error_code::conflict, "product " + l.product.value + " is priced in " + offer->currency);
            l.unit_price = offer->price;
          }
          // Priced in the pricing bulkhead: a full one answers 503 at once.
          auto rules = rules_of(*e);
          call_pricing<http_response>(
              self, e->svc.runtime.pricing_workers(), e->svc.cfg.http.request_timeout,
              [quoted, patch, rules, req = e->req] {
                auto now = now_ms();
                auto priced = pricing_book::patch(quoted, patch, rules, now);
                if (!priced) return error_response(priced.error(), req);
                json_writer w;
                write_priced_totals(
                    w, price(pricing_book::request_for(*priced, rules ? *rules : pricing_rules{}, now)));
                return json_response(200, w.str());
              },
              [e, finish](std::optional<http_response> r) {
                if (!r) return finish(error_response(make_error(error_code::unavailable, "pricing did not answer"), e->req));
                finish(std::move(*r));
              },
              [e, finish] { finish(error_response(make_error(error_code::unavailable, "pricing is busy"), e->req)); });
        });
  });
}

}  // namespace cartd
