#include <caf/all.hpp>

#include <map>

#include "actors/store_pool.hpp"
#include "actors/catalog_cache.hpp"
#include "actors/system.hpp"
#include "domain/catalog.hpp"
#include "domain/time.hpp"
#include "http/json.hpp"
#include "http/render.hpp"
#include "http/route_support.hpp"
#include "http/routes.hpp"
#include "http/service.hpp"

namespace cartd {

namespace {

/// Runs a command against the cart of path parameter 0 once the caller is known.
void run_cart_command(const exchange_ptr& ex, cart_id id, std::optional<std::uint64_t> if_match,
                      cart_command cmd, int ok_status, cart_view view) {
  send_to_cart(ex, cart_request{std::move(id), {}, if_match, std::move(cmd), nullptr, {}},
               ok_status, view);
}

/// The common prefix of cart routes: credentials, the cart id, If-Match.
bool cart_preamble(const exchange_ptr& ex, std::optional<cart_id>& id,
                   std::optional<std::uint64_t>& if_match) {
  if (!ex->authenticate(auth_mode::caller)) return false;
  id = cart_param(ex, 0);
  return id && read_if_match(ex, if_match);
}

}  // namespace

void create_cart_route(const exchange_ptr& ex) {
  if (!ex->authenticate(auth_mode::caller)) return;
  body_reader body(ex->req.body, true);
  if (body.error()) return ex->fail(*body.error());
  auto currency = body.string("currency", false, 3, 3).value_or("USD");
  auto region = body.string("region", false, 2, 6).value_or("");
  if (!is_currency(currency)) body.fail("currency", "must be an ISO 4217 code like USD");
  if (!region.empty() && !is_region(region)) body.fail("region", "must look like US or US-CA");
  if (auto e = body.validation_error()) return ex->fail(*e);
  cart_id id{new_uuid_v7(now_ms())};
  cart_request req{id, {}, std::nullopt, create_cart{currency, region}, nullptr, {}};
  location_rule where{location_rule::cart_path, {}, {}};
  int cap = ex->svc.cfg.cart.max_active_carts;
  if (cap <= 0) return send_to_cart(ex, std::move(req), 201, cart_view::full, where);
  // Abuse limit: at most cart.max_active_carts active carts per user or guest session. Counted
  // before the create: two creates racing past the count can each land (a bound, not a ledger).
  send_to_cart_checked(ex, std::move(req), 201, cart_view::full, where,
                       [cap](store& s, const principal& who) -> std::optional<domain_error> {
                         if (s.count_active_carts(who, cap) < cap) return std::nullopt;
                         return make_error(error_code::cart_limit_exceeded,
                                           "at most " + std::to_string(cap) +
                                               " active carts per user or session");
                       });
}

void list_carts(const exchange_ptr& ex) {
  if (!ex->authenticate(auth_mode::caller)) return;
  int limit = 20;
  std::optional<page_key> after;
  std::vector<field_error> errors;
  read_page(ex, limit, after, errors);
  if (fail_query(ex, std::move(errors))) return;
  ex->run(auth_mode::caller, [limit, after](caf::event_based_actor* self, exchange_ptr e,
                                            finish_fn finish) {
    auto who = e->who;
    auto* catalog = &e->svc.runtime.catalog();
    struct page {
      std::vector<listed_cart> carts;
      std::string next;
    };
    call_store<page>(
        self, e->svc.runtime.store_pool(), e->svc.cfg.http.request_timeout, false,
        [who, limit, after, catalog](store& s) {
          auto carts = s.list_carts(who, limit, after);
          page out;
          if (static_cast<int>(carts.size()) > limit) {
            carts.resize(static_cast<std::size_t>(limit));
            const auto& last = carts.back();
            out.next = encode_cursor(page_key{last.status == cart_status::active ? 0 : 1,
                                              last.created_at_ms, last.id.value});
          }
          // Each line against the catalog, as a single cart answers it.
          std::map<std::string, std::shared_ptr<const product>> products;
          auto now = now_ms();
          product_lookup find = [&](const product_id& id) -> const product* {
            auto it = products.find(id.value);
            if (it == products.end()) {
              auto p = catalog->get(id, now);
              if (!p) {
                if (auto loaded = s.get_product(id)) {
                  catalog->put(*loaded, now);
                  p = std::make_shared<const product>(std::move(*loaded));
                }
              }
              it = products.emplace(id.value, p).first;
            }
            return it->second.get();
          };
          for (auto& c : carts) {
            auto lines = line_states(c, find);
            out.carts.push_back(listed_cart{std::move(c), std::move(lines)});
          }
          return out;
        },
        [e, finish](std::optional<page> p) {
          if (!p) return finish(error_response(make_error(error_code::unavailable, "store"), e->req));
          finish(json_response(200, render_cart_list(p->carts, p->next, rules_of(*e).get())));
        });
  });
}

void get_cart_route(const exchange_ptr& ex) {
  std::optional<cart_id> id;
  std::optional<std::uint64_t> if_match;
  if (!cart_preamble(ex, id, if_match)) return;
  run_cart_command(ex, *id, std::nullopt, get_cart{}, 200, cart_view::full);
}

void cart_totals(const exchange_ptr& ex) {
  std::optional<cart_id> id;
  std::optional<std::uint64_t> if_match;
  if (!cart_preamble(ex, id, if_match)) return;
  run_cart_command(ex, *id, std::nullopt, get_cart{}, 200, cart_view::totals);
}

void patch_cart_route(const exchange_ptr& ex) {
  std::optional<cart_id> id;
  std::optional<std::uint64_t> if_match;
  if (!cart_preamble(ex, id, if_match)) return;
  body_reader body(ex->req.body);
  if (body.error()) return ex->fail(*body.error());
  cart_patch patch;
  if (body.has("region")) {
    patch.region = body.string("region", false, 2, 6);
    if (patch.region && !is_region(*patch.region)) body.fail("region", "must look like US or US-CA");
  }
  patch.discount_codes = body.string_array("discountCodes", false, 20, 64);
  patch.shipping_method = body.string("shippingMethod", false, 1, 64);
  patch.metadata_json = body.object_json("metadata", false, 4096);
  // null clears: no region (no tax), no shipping method (shipping 0), no metadata.
  if (body.is_null("region")) patch.region = "";
  if (body.is_null("shippingMethod")) patch.shipping_method = "";
  if (body.is_null("metadata")) patch.metadata_json = "";
  if (auto e = body.validation_error()) return ex->fail(*e);
  run_cart_command(ex, *id, if_match, patch_cart_cmd{patch}, 200, cart_view::full);
}

void delete_cart_route(const exchange_ptr& ex) {
  std::optional<cart_id> id;
  std::optional<std::uint64_t> if_match;
  if (!cart_preamble(ex, id, if_match)) return;
  run_cart_command(ex, *id, if_match, delete_cart_cmd{}, 204, cart_view::none);
}

void add_item_route(const exchange_ptr& ex) {
  std::optional<cart_id> id;
  std::optional<std::uint64_t> if_match;
  if (!cart_preamble(ex, id, if_match)) return;
  body_reader body(ex->req.body);
  if (body.error()) return ex->fail(*body.error());
  auto product = body.string("productId", true, 1, 64);
  auto variant = body.string("variantId", true, 1, 64);
  auto qty = body.integer("quantity", true, 1, ex->svc.cfg.cart.max_quantity_per_line);
  if (auto e = body.validation_error()) return ex->fail(*e);
  product_id p{*product};
  variant_id v{*variant};
  location_rule where{location_rule::item_path, p.value, v.value};
  send_to_cart(ex,
               cart_request{*id, {}, if_match,
                            add_item_cmd{p, v, static_cast<std::int32_t>(*qty)}, nullptr, {}},
               201, cart_view::full, where);
}

void patch_item_route(const exchange_ptr& ex) {
  std::optional<cart_id> id;
  std::optional<std::uint64_t> if_match;
  if (!cart_preamble(ex, id, if_match)) return;
  body_reader body(ex->req.body);
  if (body.error()) return ex->fail(*body.error());
  auto qty = body.integer("quantity", true, 0, ex->svc.cfg.cart.max_quantity_per_line);
  if (auto e = body.validation_error()) return ex->fail(*e);
  run_cart_command(ex, *id, if_match,
                   set_item_quantity_cmd{item_id{ex->param(1)}, static_cast<std::int32_t>(*qty)},
                   200, cart_view::full);
}

void delete_item_route(const exchange_ptr& ex) {
  std::optional<cart_id> id;
  std::optional<std::uint64_t> if_match;
  if (!cart_preamble(ex, id, if_match)) return;
  run_cart_command(ex, *id, if_match, remove_item_cmd{item_id{ex->param(1)}}, 204,
                   cart_view::none);
}

void merge_cart_route(const exchange_ptr& ex) {
  std::optional<cart_id> id;
  std::optional<std::uint64_t> if_match;
  if (!cart_preamble(ex, id, if_match)) return;
  body_reader body(ex->req.body);
  if (body.error()) return ex->fail(*body.error());
  auto source = body.string("sourceCartId", true, 36, 36);
  if (source && !is_uuid(*source)) body.fail("sourceCartId", "must be a cart id (UUID)");
  auto strategy_text = body.string("strategy", false, 1, 16).value_or("sum");
  auto strategy = merge_strategy_from(strategy_text);
  if (!strategy) body.fail("strategy", "must be sum, max or replace");
  // Answered at once: a cart asking itself to lend its state would wait on itself.
  if (source && *source == id->value)
    body.fail("sourceCartId", "must differ from the target cart");
  if (auto e = body.validation_error()) return ex->fail(*e);
  run_cart_command(ex, *id, if_match, merge_cart{cart_id{*source}, *strategy}, 200,
                   cart_view::full);
}

}  // namespace cartd
