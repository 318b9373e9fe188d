#include <caf/all.hpp>

#include "actors/store_pool.hpp"
#include "actors/system.hpp"
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
  send_to_cart(ex, cart_request{std::move(id), {}, if_match, std::move(cmd), nullptr, nullptr},
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
  run_cart_command(ex, id, std::nullopt, create_cart{currency, region}, 201, cart_view::full);
}

void list_carts(const exchange_ptr& ex) {
  if (!ex->authenticate(auth_mode::caller)) return;
  ex->run(auth_mode::caller, [](caf::event_based_actor* self, exchange_ptr e, finish_fn finish) {
    auto who = e->who;
    call_store<std::vector<cart>>(
        self, e->svc.runtime.store_pool(), e->svc.cfg.http.request_timeout, false,
        [who](store& s) { return s.list_carts(who); },
        [e, finish](std::optional<std::vector<cart>> carts) {
          if (!carts) return finish(error_response(make_error(error_code::unavailable, "store"), e->req));
          finish(json_response(200, render_cart_list(*carts, rules_of(*e).get())));
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
  run_cart_command(ex, *id, if_match,
                   add_item_cmd{product_id{*product}, variant_id{*variant},
                            static_cast<std::int32_t>(*qty)},
                   201, cart_view::full);
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
  if (auto e = body.validation_error()) return ex->fail(*e);
  run_cart_command(ex, *id, if_match, merge_cart{cart_id{*source}, *strategy}, 200,
                   cart_view::full);
}

}  // namespace cartd
