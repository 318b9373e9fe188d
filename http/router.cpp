#include "http/router.hpp"

#include "http/routes.hpp"

namespace cartd {

const std::vector<route>& route_table() {
  static const std::vector<route> table = {
      {"GET", "/api/v1/health", health},
      {"GET", "/api/v1/health/ready", health_ready},
      {"GET", "/api/v1/health/detailed", health_detailed},
      {"GET", "/api/v1/health/metrics", health_metrics},
      {"GET", "/metrics", health_metrics},
      {"GET", "/api/v1/openapi.json", openapi_json},
      {"GET", "/dashboard", dashboard_page},
      {"GET", "/dashboard/app.js", dashboard_script},
      {"GET", "/dashboard/app.css", dashboard_styles},
      {"GET", "/dashboard/uplot.js", dashboard_chart_script},
      {"GET", "/dashboard/uplot.css", dashboard_chart_styles},
      {"GET", "/dashboard/data", dashboard_data_route},
      {"PUT", "/api/v1/admin/products/{productId}", put_product},
      {"GET", "/api/v1/products", list_products},
      {"GET", "/api/v1/products/{productId}", get_product},
      {"POST", "/api/v1/cart", create_cart_route},
      {"GET", "/api/v1/cart", list_carts},
      {"GET", "/api/v1/cart/{cartId}", get_cart_route},
      {"PATCH", "/api/v1/cart/{cartId}", patch_cart_route},
      {"DELETE", "/api/v1/cart/{cartId}", delete_cart_route},
      {"POST", "/api/v1/cart/{cartId}/items", add_item_route},
      {"PATCH", "/api/v1/cart/{cartId}/items/{itemId}", patch_item_route},
      {"DELETE", "/api/v1/cart/{cartId}/items/{itemId}", delete_item_route},
      {"GET", "/api/v1/cart/{cartId}/totals", cart_totals},
      {"POST", "/api/v1/cart/{cartId}/merge", merge_cart_route},
      {"POST", "/api/v1/admin/discounts", create_discount},
      {"GET", "/api/v1/admin/discounts/{discountId}", get_discount},
      {"PATCH", "/api/v1/admin/discounts/{discountId}", patch_discount},
      {"DELETE", "/api/v1/admin/discounts/{discountId}", delete_discount},
      {"GET", "/api/v1/pricing/discounts", list_discounts},
      {"POST", "/api/v1/pricing/calculate", calculate_quote},
      {"PUT", "/api/v1/admin/tax-rates/{region}", put_tax_rate},
      {"DELETE", "/api/v1/admin/tax-rates/{region}", delete_tax_rate},
      {"GET", "/api/v1/pricing/tax-rates", list_tax_rates},
      {"PUT", "/api/v1/admin/shipping-methods/{shippingMethodId}", put_shipping_method},
      {"DELETE", "/api/v1/admin/shipping-methods/{shippingMethodId}", delete_shipping_method},
      {"GET", "/api/v1/checkout/shipping-methods", list_shipping_methods},
      {"POST", "/api/v1/checkout/session", create_checkout_route},
      {"GET", "/api/v1/checkout/session/{sessionId}", get_checkout_route},
      {"POST", "/api/v1/checkout/process", process_checkout_route},
      {"POST", "/api/v1/payments/webhook", payment_webhook_route},
      {"GET", "/api/v1/orders", list_orders_route},
      {"GET", "/api/v1/orders/{orderId}", get_order_route},
      {"PATCH", "/api/v1/orders/{orderId}", patch_order_route},
      {"DELETE", "/api/v1/orders/{orderId}", cancel_order_route},
      {"POST", "/api/v1/session", create_session_route},
      {"GET", "/api/v1/session/{sessionId}", get_session_route},
      {"PATCH", "/api/v1/session/{sessionId}", patch_session_route},
      {"DELETE", "/api/v1/session/{sessionId}", delete_session_route},
  };
  return table;
}

namespace {

std::vector<std::string_view> segments(std::string_view path) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < path.size()) {
    if (path[i] == '/') {
      ++i;
      continue;
    }
    auto j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    out.push_back(path.substr(i, j - i));
    i = j;
  }
  return out;
}

bool matches(std::string_view pattern, const std::vector<std::string_view>& path,
             std::vector<std::string>& params) {
  auto pat = segments(pattern);
  if (pat.size() != path.size()) return false;
  params.clear();
  for (std::size_t i = 0; i < pat.size(); ++i) {
    if (pat[i].front() == '{') {
      params.emplace_back(path[i]);
    } else if (pat[i] != path[i]) {
      return false;
    }
  }
  return true;
}

}  // namespace

route_match match_route(std::string_view method, std::string_view path) {
  route_match out;
  auto q = path.find('?');
  auto segs = segments(path.substr(0, q));
  std::vector<std::string> params;
  for (const auto& r : route_table()) {
    if (!matches(r.pattern, segs, params)) continue;
    if (method == r.method) {
      out.found = &r;
      out.params = params;
      out.allowed.clear();
      return out;
    }
    if (!out.allowed.empty()) out.allowed += ", ";
    out.allowed += r.method;
  }
  return out;
}

}  // namespace cartd
