#include "http/server.hpp"

#include <netinet/in.h>
#include <pistache/endpoint.h>
#include <pistache/http.h>

#include <sys/socket.h>

#include <chrono>
#include <filesystem>
#include <sstream>
#include <thread>

#include "domain/ids.hpp"
#include "domain/time.hpp"
#include "http/router.hpp"
#include "http/server_internal.hpp"
#include "http/service.hpp"

namespace cartd {

namespace {

using namespace Pistache;

/// Bodies above this are cut off by Pistache itself before we see them (see README).
constexpr std::size_t k_transport_max = 1024 * 1024;

std::string header_value(const Http::Request& r, const std::string& name) {
  if (auto raw = r.headers().tryGetRaw(name)) return raw->value();
  if (auto h = r.headers().tryGet(name)) {
    std::ostringstream os;
    h->write(os);
    return os.str();
  }
  return {};
}

bool valid_request_id(const std::string& id) {
  if (id.empty() || id.size() > 128) return false;
  for (char c : id)
    if (c < 0x21 || c > 0x7e) return false;
  return true;
}

bool is_json_type(std::string ct) {
  for (auto& c : ct) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  auto semi = ct.find(';');
  std::string base = ct.substr(0, semi);
  while (!base.empty() && base.back() == ' ') base.pop_back();
  if (base == "application/json") return true;
  return base.rfind("application/", 0) == 0 && base.size() > 5 &&
         base.compare(base.size() - 5, 5, "+json") == 0;
}

class handler final : public Http::Handler {
 public:
  HTTP_PROTOTYPE(handler)
  explicit handler(service* svc) : svc_(svc) {}

  void onRequest(const Http::Request& r, Http::ResponseWriter w) override {
    http_request req;
    req.start = std::chrono::steady_clock::now();
    req.method = Http::methodString(r.method());
    req.path = r.resource();
    req.request_id = header_value(r, "X-Request-Id");
    if (!valid_request_id(req.request_id)) req.request_id = new_uuid_v7(now_ms());
    trace_request(req, header_value(r, "traceparent"));
    auto idem = r.headers().tryGetRaw("Idempotency-Key");
    req.has_idempotency_key = idem.has_value();
    if (idem) req.idempotency_key = idem->value();
    req.if_match = header_value(r, "If-Match");
    req.if_none_match = header_value(r, "If-None-Match");
    req.authorization = header_value(r, "Authorization");
    req.session_token = header_value(r, "X-Session-Token");
    req.signature = header_value(r, "Cartd-Signature");
    for (const char* name : {"status", "limit", "cursor", "userId", "q"}) {
      if (auto v = r.query().get(name)) req.query.emplace_back(name, *v);
    }
    req.content_type = header_value(r, "Content-Type");
    req.origin = header_value(r, "Origin");
    req.client = r.address().host();
    // HTTP/1.1 keeps the connection unless the client says close; HTTP/1.0 only on request.
    auto conn = header_value(r, "Connection");
    for (auto& c : conn) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    bool http10 = r.version() == Http::Version::Http10;
    req.close_connection = conn == "close" || (http10 && conn != "keep-alive");
    req.body = r.body();

    auto box = std::make_shared<exchange::writer_box>(exchange::writer_box{std::move(w)});
    auto preflight_method = header_value(r, "Access-Control-Request-Method");
    if (req.method == "OPTIONS" && !req.origin.empty() && !preflight_method.empty())
      return preflight(std::move(req), std::move(box), preflight_method);
    auto m = match_route(req.method, req.path);
    req.route = m.found ? m.found->pattern : (m.allowed.empty() ? "unmatched" : req.path);
    if (m.found) req.params = std::move(m.params);
    auto ex = std::make_shared<exchange>(*svc_, std::move(req), std::move(box));
    if (!m.found) {
      if (m.allowed.empty())
        return ex->fail(make_error(error_code::not_found, "no such route"));
      auto r405 = error_response(
          make_error(error_code::method_not_allowed, "allowed: " + m.allowed), ex->req);
      r405.headers.emplace_back("Allow", m.allowed);
      ex->req.route = m.allowed.empty() ? "unmatched" : "method_not_allowed";
      return ex->respond(std::move(r405));
    }
    if (ex->req.body.size() > static_cast<std::size_t>(svc_->cfg.http.max_body)) {
      return ex->fail(make_error(error_code::payload_too_large,
                                 "request bodies are limited to " +
                                     std::to_string(svc_->cfg.http.max_body) + " bytes"));
    }
    bool has_body = !ex->req.body.empty();
    if (has_body && !is_json_type(ex->req.content_type)) {
      return ex->fail(make_error(error_code::unsupported_media_type,
                                 "send the body as application/json"));
    }
    if (ex->req.has_idempotency_key &&
        (ex->req.idempotency_key.empty() || ex->req.idempotency_key.size() > 255)) {
      auto e = make_error(error_code::validation_failed, "invalid Idempotency-Key");
      e.errors.push_back({"Idempotency-Key", "must be 1..255 characters"});
      return ex->fail(e);
    }
    m.found->handler(ex);
  }

 private:
  /// A browser asks whether a cross-origin request may be sent (CORS preflight): yes, with
  /// the headers a storefront needs, when its origin is in http.cors_origins and the route
  /// takes that method; else 403 and no CORS header (the browser then refuses to send it).
  void preflight(http_request req, std::shared_ptr<exchange::writer_box> box,
                 const std::string& method) {
    auto m = match_route(method, req.path);
    req.route = "preflight";
    auto ex = std::make_shared<exchange>(*svc_, std::move(req), std::move(box));
    if (!cors_allowed(svc_->cfg, ex->req.origin))
      return ex->fail(make_error(error_code::forbidden, "this origin may not call the API"));
    if (!m.found)
      return ex->fail(make_error(m.allowed.empty() ? error_code::not_found
                                                    : error_code::method_not_allowed,
                                 "no such route for " + method));
    http_response r;
    r.status = 204;
    r.content_type.clear();
    r.headers.emplace_back("Access-Control-Allow-Methods", method);
    r.headers.emplace_back("Access-Control-Allow-Headers",
                           "Authorization, Content-Type, Idempotency-Key, If-Match, "
                           "If-None-Match, X-Session-Token, X-Request-Id, traceparent");
    r.headers.emplace_back("Access-Control-Max-Age", "600");
    ex->respond(std::move(r));
  }

  service* svc_;
};

}  // namespace

void add_connection_header(Http::ResponseWriter& w, const http_request& req) {
  // Pistache put "Connection: Close" on the response of any request without a Connection
  // header, and closes the socket after it: replace it.
  w.headers().remove<Http::Header::Connection>();
  w.headers().add<Http::Header::Connection>(req.close_connection
                                                ? Http::ConnectionControl::Close
                                                : Http::ConnectionControl::KeepAlive);
}

struct http_server::impl {
  service& svc;
  std::unique_ptr<Http::Endpoint> endpoint;
  int port = 0;
};

http_server::http_server(service& svc) : impl_(std::make_unique<impl>(impl{svc, nullptr, 0})) {}

http_server::~http_server() { stop(); }

int http_server::start() {
  const auto& cfg = impl_->svc.cfg.http;
  Address addr(cfg.address, Port(static_cast<std::uint16_t>(cfg.port)));
  impl_->endpoint = std::make_unique<Http::Endpoint>(addr);
  auto opts = Http::Endpoint::options()
                  .threads(cfg.threads)
                  .flags(Tcp::Options::ReuseAddr)
                  .maxRequestSize(k_transport_max)
                  .headerTimeout(cfg.header_timeout)
                  .bodyTimeout(cfg.body_timeout)
                  .maxResponseSize(8 * 1024 * 1024);
  impl_->endpoint->init(opts);
  impl_->endpoint->setHandler(Http::make_handler<handler>(&impl_->svc));
  impl_->endpoint->serveThreaded();
  impl_->port = static_cast<int>(static_cast<std::uint16_t>(impl_->endpoint->getPort()));
  return impl_->port;
}

void http_server::stop_accepting() {
  if (!impl_->endpoint || impl_->port <= 0) return;
  // Pistache 0.0.5 has no call that closes only its listener (Listener::shutdown stops the
  // reactor that serves every connection too). Find the listening socket among our fds and
  // shut it down: the kernel refuses new connections from here on; Pistache's accept on it
  // then fails, which it logs and ignores until the endpoint shuts down.
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd", ec)) {
    int fd = -1;
    try {
      fd = std::stoi(entry.path().filename().string());
    } catch (const std::exception&) {
      continue;
    }
    int listening = 0;
    socklen_t len = sizeof listening;
    if (::getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) != 0 || !listening) continue;
    sockaddr_storage addr{};
    socklen_t alen = sizeof addr;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &alen) != 0) continue;
    int port = addr.ss_family == AF_INET
                   ? ntohs(reinterpret_cast<sockaddr_in*>(&addr)->sin_port)
                   : addr.ss_family == AF_INET6 ? ntohs(reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port)
                                                : -1;
    if (port == impl_->port) ::shutdown(fd, SHUT_RDWR);
  }
}

void http_server::stop() {
  if (!impl_->endpoint) return;
  stop_accepting();
  // Answers still owed are written by actors through the transport: let them drain first.
  auto deadline = std::chrono::steady_clock::now() + impl_->svc.cfg.http.request_timeout;
  while (impl_->svc.in_flight > 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  impl_->endpoint->shutdown();
  impl_->endpoint.reset();
}

}  // namespace cartd
