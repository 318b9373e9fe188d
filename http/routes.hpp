#pragma once
// Route handlers: each checks credentials, parses typed path params and body, then hands a
// command to the actors and renders the reply. Same shape everywhere.
#include "http/exchange.hpp"

namespace cartd {
class json_writer;
class metrics;
struct service;
/// The /health/detailed object (routes_health.cpp), for the dashboard's data too.
void write_health_detailed(json_writer& w, service& svc, bool store_ok, double store_ms);
/// Every metric family of `stats` as a JSON object keyed by family name.
void write_metric_families(json_writer& w, const metrics& stats);
}  // namespace cartd

namespace cartd {

struct checkout_forward;
struct checkout_reply;
struct forward_answer;
/// The owner's side of a forwarded checkout request: its reply as the HTTP answer.
forward_answer render_checkout_forwarded(const checkout_forward& cf, const checkout_reply& r);

void health(const exchange_ptr& ex);
void health_ready(const exchange_ptr& ex);
void health_detailed(const exchange_ptr& ex);
void health_metrics(const exchange_ptr& ex);
void openapi_json(const exchange_ptr& ex);

// The operator dashboard (http/routes_dashboard.cpp): admin JWT or auth.operator_token.
void dashboard_page(const exchange_ptr& ex);
void dashboard_script(const exchange_ptr& ex);
void dashboard_styles(const exchange_ptr& ex);
void dashboard_chart_script(const exchange_ptr& ex);
void dashboard_chart_styles(const exchange_ptr& ex);
void dashboard_data_route(const exchange_ptr& ex);
/// This node's figures for the dashboard: /health/detailed and every metric family as JSON.
/// The caller has checked the credentials.
void dashboard_data(const exchange_ptr& ex);
/// Content-Security-Policy (same origin only) and the other headers of every dashboard answer.
void add_dashboard_headers(http_response& r);

void put_product(const exchange_ptr& ex);
void get_product(const exchange_ptr& ex);
void list_products(const exchange_ptr& ex);

void create_cart_route(const exchange_ptr& ex);
void list_carts(const exchange_ptr& ex);
void get_cart_route(const exchange_ptr& ex);
void patch_cart_route(const exchange_ptr& ex);
void delete_cart_route(const exchange_ptr& ex);
void add_item_route(const exchange_ptr& ex);
void patch_item_route(const exchange_ptr& ex);
void delete_item_route(const exchange_ptr& ex);
void cart_totals(const exchange_ptr& ex);
void merge_cart_route(const exchange_ptr& ex);

void create_discount(const exchange_ptr& ex);
void patch_discount(const exchange_ptr& ex);
void get_discount(const exchange_ptr& ex);
void delete_discount(const exchange_ptr& ex);
void list_discounts(const exchange_ptr& ex);
void calculate_quote(const exchange_ptr& ex);
void put_tax_rate(const exchange_ptr& ex);
void delete_tax_rate(const exchange_ptr& ex);
void list_tax_rates(const exchange_ptr& ex);
void put_shipping_method(const exchange_ptr& ex);
void delete_shipping_method(const exchange_ptr& ex);
void list_shipping_methods(const exchange_ptr& ex);

void create_checkout_route(const exchange_ptr& ex);
void get_checkout_route(const exchange_ptr& ex);
void process_checkout_route(const exchange_ptr& ex);
void payment_webhook_route(const exchange_ptr& ex);
void list_orders_route(const exchange_ptr& ex);
void get_order_route(const exchange_ptr& ex);
void patch_order_route(const exchange_ptr& ex);
void cancel_order_route(const exchange_ptr& ex);

void create_session_route(const exchange_ptr& ex);
void get_session_route(const exchange_ptr& ex);
void patch_session_route(const exchange_ptr& ex);
void delete_session_route(const exchange_ptr& ex);

}  // namespace cartd
