// Quotes: POST /pricing/calculate prices items with the pricing engine against the catalog
// and the stored rules, storing nothing.
#include <caf/all.hpp>

#include <algorithm>
#include <map>

#include "actors/pricing_book.hpp"
#include "actors/bulkhead.hpp"
#include "actors/store_pool.hpp"
#include "actors/system.hpp"
#include "domain/catalog.hpp"
#include "domain/ids.hpp"
#include "domain/money.hpp"
#include "domain/time.hpp"
#include "http/json.hpp"
#include "http/pricing_codec.hpp"
#include "http/route_support.hpp"
#include "http/routes.hpp"
#include "http/service.hpp"

namespace cartd {

namespace {

http_response unavailable(const exchange_ptr& e) {
  return error_response(make_error(error_code::unavailable, "pricing store"), e->req);
}

}  // namespace

void calculate_quote(const exchange_ptr& ex) {
  if (!ex->authenticate(auth_mode::open)) return;
  body_reader body(ex->req.body);
  if (body.error()) return ex->fail(*body.error());
  // The quote is priced as a cart with the same content: same checks, same engine, same rules.
  cart quoted;
  quoted.id = cart_id{"quote"};
  quoted.currency = body.string("currency", true, 3, 3).value_or("");
  if (!quoted.currency.empty() && !is_currency(quoted.currency))
    body.fail("currency", "must be an ISO 4217 code like USD");
  cart_patch patch;
  patch.region = body.string("region", false, 2, 6);
  if (patch.region && !is_region(*patch.region)) body.fail("region", "must look like US or US-CA");
  auto items = body.objects("items", true, 1, 100);
  const auto max_quantity = ex->svc.cfg.cart.max_quantity_per_line;
  for (std::size_t i = 0; i < items.size(); ++i) {
    auto& it = items[i];
    auto p = it->string("productId", true, 1, 64);
    auto v = it->string("variantId", true, 1, 64);
    auto q = it->integer("quantity", true, 1, max_quantity);
    for (auto& fe : it->field_errors()) body.field_errors().push_back(fe);
    if (!p || !v || !q) continue;
    // As a cart does: the same product+variant again adds to its line (one line), within the
    // per-line maximum.
    auto same = std::find_if(quoted.items.begin(), quoted.items.end(), [&](const cart_item& l) {
      return l.product.value == *p && l.variant.value == *v;
    });
    if (same == quoted.items.end()) {
      quoted.items.push_back(cart_item{item_id{"line-" + std::to_string(quoted.items.size())},
                                       product_id{*p}, variant_id{*v}, "",
                                       static_cast<std::int32_t>(*q), 0, 0, {}, {}});
    } else if (same->quantity + *q > max_quantity) {
      body.fail("items[" + std::to_string(i) + "].quantity",
                "the same product and variant add up to more than " + std::to_string(max_quantity));
    } else {
      same->quantity += static_cast<std::int32_t>(*q);
    }
  }
  patch.discount_codes = body.string_array("discountCodes", false, 20, 64);
  patch.shipping_method = body.string("shippingMethod", false, 1, 64);
  if (auto e = body.validation_error()) return ex->fail(*e);
  ex->run(auth_mode::open, [quoted, patch](caf::event_based_actor* self, exchange_ptr e,
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
              return fail(error_code::currency_mismatch, "product " + l.product.value + " is priced in " + offer->currency);
            l.unit_price = offer->price;
          }
          // Priced in the pricing bulkhead: a full one answers 503 at once.
          auto rules = rules_of(*e);
          call_bulkhead<http_response>(
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
