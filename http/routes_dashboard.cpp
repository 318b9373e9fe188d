// The built-in operator dashboard: a static page, its script and styles and the vendored
// chart library (uPlot, http/static/vendor/uplot), compiled into the binary; the page polls
// /dashboard/data, this node's own figures. No CDN: everything is served from here.
//
// Who may look: an admin JWT, or the configured operator token (auth.operator_token), as a
// Bearer token or as the password of HTTP Basic (any user name), so that an operator's
// browser gets a login prompt from the 401's `WWW-Authenticate: Basic` and sends the same
// credentials with the page's own requests.
#include <algorithm>
#include <string>
#include <string_view>

#include "http/auth.hpp"
#include "http/json.hpp"
#include "http/routes.hpp"
#include "http/service.hpp"

namespace cartd {

std::string_view dashboard_asset(std::string_view name);

namespace {

/// Standard base64 (RFC 4648 §4, as Basic credentials use it), through the base64url decoder.
std::string decode_base64(std::string_view in) {
  std::string url(in.substr(0, in.find('=')));
  for (auto& c : url) c = c == '+' ? '-' : c == '/' ? '_' : c == '-' || c == '_' ? '!' : c;
  std::string out;
  return b64url_decode(url, out) ? out : std::string{};
}

bool same_secret(std::string_view a, std::string_view b) {
  // Constant time in the content; the length of the configured token is not a secret worth it.
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (std::size_t i = 0; i < a.size(); ++i)
    diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

bool starts_with_scheme(std::string_view header, std::string_view scheme) {
  if (header.size() <= scheme.size()) return false;
  for (std::size_t i = 0; i < scheme.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(header[i])) != scheme[i]) return false;
  return true;
}

void challenge(const exchange_ptr& ex, const char* detail) {
  auto r = error_response(make_error(error_code::unauthorized, detail), ex->req);
  r.headers.clear();
  r.headers.emplace_back("WWW-Authenticate", R"(Basic realm="cartd dashboard", charset="UTF-8")");
  add_dashboard_headers(r);
  ex->respond(std::move(r));
}

/// True when the caller may see the dashboard; otherwise the answer (401/403) is written.
bool dashboard_gate(const exchange_ptr& ex) {
  const auto& header = ex->req.authorization;
  if (header.empty()) {
    challenge(ex, "the dashboard needs an admin token or the operator token");
    return false;
  }
  std::string token;
  if (starts_with_scheme(header, "bearer ")) {
    token = header.substr(7);
  } else if (starts_with_scheme(header, "basic ")) {
    auto pair = decode_base64(std::string_view(header).substr(6));
    auto colon = pair.find(':');
    if (colon == std::string::npos) {
      challenge(ex, "malformed Basic credentials");
      return false;
    }
    token = pair.substr(colon + 1);
  } else {
    challenge(ex, "send a Bearer token or Basic credentials");
    return false;
  }
  const auto& op = ex->svc.cfg.auth.operator_token;
  if (!op.empty() && same_secret(token, op)) return true;
  // Otherwise it must be an admin JWT: authenticate answers 401 or 403 itself.
  ex->req.authorization = "Bearer " + token;
  return ex->authenticate(auth_mode::admin);
}

void serve_asset(const exchange_ptr& ex, std::string_view name, const char* content_type) {
  if (!dashboard_gate(ex)) return;
  http_response r;
  r.body = std::string(dashboard_asset(name));
  r.content_type = content_type;
  add_dashboard_headers(r);
  ex->respond(std::move(r));
}

void write_labels(json_writer& w, const prometheus::ClientMetric& m) {
  w.key("labels").begin_object();
  for (const auto& l : m.label) w.field(l.name, l.value);
  w.end_object();
}

}  // namespace

void add_dashboard_headers(http_response& r) {
  r.headers.emplace_back("Content-Security-Policy",
                         "default-src 'self'; style-src 'self'; script-src 'self'; "
                         "img-src 'self' data:; frame-ancestors 'none'");
  r.headers.emplace_back("Cache-Control", "no-store");
}

void write_metric_families(json_writer& w, const metrics& stats) {
  w.begin_object();
  for (const auto& f : stats.registry()->Collect()) {
    using prometheus::MetricType;
    const char* type = f.type == MetricType::Counter     ? "counter"
                       : f.type == MetricType::Gauge     ? "gauge"
                       : f.type == MetricType::Histogram ? "histogram"
                                                         : nullptr;
    if (!type) continue;  // cartd has no summaries or untyped families
    // The exposition names counters with _total; the families here are named the same.
    w.key(f.name).begin_object().field("type", type).key("samples").begin_array();
    for (const auto& m : f.metric) {
      w.begin_object();
      write_labels(w, m);
      if (f.type == MetricType::Counter) {
        w.key("value").number(m.counter.value);
      } else if (f.type == MetricType::Gauge) {
        w.key("value").number(m.gauge.value);
      } else {
        w.field("count", static_cast<std::uint64_t>(m.histogram.sample_count));
        w.key("sum").number(m.histogram.sample_sum);
        w.key("buckets").begin_array();
        for (const auto& b : m.histogram.bucket) {
          if (b.upper_bound == std::numeric_limits<double>::infinity()) continue;
          w.begin_object().key("le").number(b.upper_bound);
          w.field("count", static_cast<std::uint64_t>(b.cumulative_count)).end_object();
        }
        w.end_array();
      }
      w.end_object();
    }
    w.end_array().end_object();
  }
  w.end_object();
}

void dashboard_page(const exchange_ptr& ex) {
  serve_asset(ex, "dashboard.html", "text/html; charset=utf-8");
}
void dashboard_script(const exchange_ptr& ex) {
  serve_asset(ex, "app.js", "text/javascript; charset=utf-8");
}
void dashboard_styles(const exchange_ptr& ex) { serve_asset(ex, "app.css", "text/css; charset=utf-8"); }
void dashboard_chart_script(const exchange_ptr& ex) {
  serve_asset(ex, "uplot.js", "text/javascript; charset=utf-8");
}
void dashboard_chart_styles(const exchange_ptr& ex) {
  serve_asset(ex, "uplot.css", "text/css; charset=utf-8");
}
void dashboard_data_route(const exchange_ptr& ex) {
  if (!dashboard_gate(ex)) return;
  dashboard_data(ex);
}

}  // namespace cartd
