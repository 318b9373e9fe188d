#include "http/server.hpp"

#include <netinet/in.h>
#include <pistache/endpoint.h>
#include <pistache/http.h>
#include <pistache/peer.h>

#include <spdlog/spdlog.h>
#include <sys/resource.h>
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

/// The most of one request (line, headers, body) a connection buffers; a body that runs past
/// it without a Content-Length over http.max_body (chunked) is answered 413 and the
/// connection closed.
constexpr std::size_t k_transport_max = 1024 * 1024;
/// The request line and headers together, at most (Node.js and nginx use 8–16 KiB).
constexpr std::size_t k_max_header_bytes = 16 * 1024;

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

/// A declared body over the limit, seen before Pistache reads (or reserves) any of it.
struct body_too_large {
  std::uint64_t declared;  ///< Content-Length
  std::uint64_t buffered;  ///< bytes after the headers already read
};
/// A chunked request body: refused (411), see guarded_body.
struct chunked_refused {};

/// Pistache transport threads mark themselves (onConnection, onInput): a write completion
/// that runs here runs where the connection's descriptor is closed, so it is still its own.
thread_local bool t_transport_thread = false;

/// Pistache's body step behind a check of the declared length: Pistache reserves the whole
/// Content-Length up front, so a header saying 4 GB would otherwise cost 4 GB.
class guarded_body final : public Http::Private::BodyStep {
 public:
  guarded_body(Http::Message* m, std::uint64_t limit) : BodyStep(m), msg_(m), limit_(limit) {}
  Http::Private::State apply(StreamCursor& cursor) override {
    const auto& h = msg_->headers();
    auto cl = h.tryGet<Http::Header::ContentLength>();
    // With Transfer-Encoding too, Pistache's own step refuses the framing (400, closed): an
    // early 413 that keeps the connection would let a smuggled request through.
    bool chunked = h.tryGet<Http::Header::TransferEncoding>() != nullptr;
    if (cl && !chunked && cl->value() > limit_)
      throw body_too_large{cl->value(), cursor.remaining()};
    // Pistache 0.0.5 spins forever on a chunked body of small chunks split across reads (a
    // transport thread at 100 % CPU, found by tests/api/test_abuse_api.py): request bodies
    // must carry Content-Length; chunked ones are answered 411 (RFC 9110 allows it).
    if (chunked && !cl) throw chunked_refused{};
    return BodyStep::apply(cursor);
  }

 private:
  Http::Message* msg_;
  std::uint64_t limit_;
};

/// What one connection carries between reads, besides Pistache's parser state.
struct conn_state {
  explicit conn_state(service* s) : svc(s), open(++s->connections) {
    svc->stats.http_connections.Increment();
  }
  ~conn_state() {
    --svc->connections;
    svc->stats.http_connections.Decrement();
  }
  conn_state(const conn_state&) = delete;
  conn_state& operator=(const conn_state&) = delete;
  service* svc;
  int open;              ///< connections open when this one came, itself included
  bool refused = false;  ///< over http.max_connections: its first request gets 503
  bool closing = false;  ///< answered a request it could not read: drop the rest
  std::uint64_t discard = 0;  ///< body bytes of a refused request still to drop
  std::size_t fed = 0;        ///< bytes of the current request read so far
};

/// Pistache's request parser with the guarded body step, and the connection's own state (one
/// peer-data entry, one lookup per read). Pistache's reset() leaves the body
/// step's counters as they were, which is right only after a complete request: after one
/// refused half-way, fresh() gives it a new body step.
class request_parser final : public Http::RequestParser {
 public:
  request_parser(std::size_t max_request, std::uint64_t max_body, service* svc)
      : Http::RequestParser(max_request), conn(svc), max_body_(max_body) {
    renew_body_step();
  }
  void renew_body_step() { allSteps[2] = std::make_unique<guarded_body>(&request, max_body_); }
  conn_state conn;

 private:
  std::uint64_t max_body_;
};

/// Resets a parser after a request it could not finish.
void fresh(Http::RequestParser& p) {
  p.reset();
  static_cast<request_parser&>(p).renew_body_step();
}

class handler final : public Http::Handler {
 public:
  HTTP_PROTOTYPE(handler)
  explicit handler(service* svc) : svc_(svc) {}

  /// What cartd reads of a request (its body too, as far as it has arrived).
  static http_request read_request(const Http::Request& r) {
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
    return req;
  }

  void onRequest(const Http::Request& r, Http::ResponseWriter w) override {
    http_request req = read_request(r);
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

  /// A connection opens. Pistache's own handler only gives it a request parser; we also count
  /// it, and mark it refused when http.max_connections are open already (its first request
  /// is then answered 503 and the connection closed: the client reads why, not a reset).
  void onConnection(const std::shared_ptr<Tcp::Peer>& peer) override {
    t_transport_thread = true;
    auto parser = std::make_shared<request_parser>(
        getMaxRequestSize(), static_cast<std::uint64_t>(svc_->cfg.http.max_body), svc_);
    if (parser->conn.open > svc_->max_connections) {
      parser->conn.refused = true;
      ++svc_->connections_refused;
      svc_->stats.http_connections_refused.Increment();
    }
    peer->putData(ParserData, std::shared_ptr<Http::RequestParser>(std::move(parser)));
  }

  /// Bytes arrive on a connection. Pistache's own handler (private in Http::Handler, so it is
  /// redone here with the same parser steps) answers oversized and malformed requests in
  /// plain text; this one answers them as problem+json through the exchange like any other
  /// answer: request line and headers over k_max_header_bytes 431, a declared body over
  /// http.max_body 413 as soon as its headers are read (the body is then read and dropped, the
  /// connection kept), a body past the transport limit 413, unreadable HTTP 400; the
  /// connection closes after an answer to a request it could not read to its end.
  void onInput(const char* buffer, size_t len, const std::shared_ptr<Tcp::Peer>& peer) override {
    t_transport_thread = true;
    auto parser = getParser(peer);
    auto* st = &static_cast<request_parser&>(*parser).conn;
    if (st->closing) return;  // answered and closing: whatever else arrives is dropped
    if (st->discard > 0) {
      auto n = static_cast<size_t>(std::min<std::uint64_t>(st->discard, len));
      st->discard -= n;
      buffer += n;
      len -= n;
      if (len == 0) return;
    }
    auto& request = parser->request;
    if (st->refused) {
      return reject(peer, http_request{}, make_error(error_code::unavailable,
                                                     "too many open connections; retry"));
    }
    st->fed += len;
    bool dispatching = false;  // past parsing: an exception now is ours, not the client's
    try {
      if (!parser->feed(buffer, len)) {
        bool in_head = in_headers(*parser);
        auto req = partial_request(*parser, in_head);
        fresh(*parser);
        if (in_head) return reject(peer, std::move(req), headers_too_large());
        return reject(peer, std::move(req), too_large());
      }
      auto state = parser->parse();
      if (state == Http::Private::State::Done) {
        // Header bytes: what was read less the body (chunk framing would count as header for
        // a chunked body, whose headers the in-headers check below has already bounded).
        bool chunked = request.headers().tryGet<Http::Header::TransferEncoding>() != nullptr;
        if (!chunked && st->fed - std::min(st->fed, request.body().size()) > k_max_header_bytes) {
          auto req = partial_request(*parser, false);
          fresh(*parser);
          return reject(peer, std::move(req), headers_too_large());
        }
        st->fed = 0;
        Http::ResponseWriter response(request.version(), transport(), this, peer);
        request.copyAddress(peer->address());
        peer->setIdle(false);
        // An answer that closes the connection: whatever arrives after this request is dropped
        // (its answer could not be written after the close).
        if (closes_connection(request) || svc_->draining) st->closing = true;
        dispatching = true;
        onRequest(request, std::move(response));
        parser->reset();  // a finished request leaves Pistache's steps clean
        return;
      }
      if (in_headers(*parser)) {
        if (st->fed > k_max_header_bytes) {
          auto req = partial_request(*parser, true);
          fresh(*parser);
          return reject(peer, std::move(req), headers_too_large());
        }
        return;
      }
    } catch (const body_too_large& big) {
      // The headers are in and announce a body over http.max_body: answer now, keep-alive.
      // The rest of the announced body is read and dropped as it comes, then the connection
      // serves the next request (a client may close it instead).
      request.copyAddress(peer->address());
      auto req = read_request(request);
      req.body.clear();
      bool expects = request.headers().tryGetRaw("Expect").has_value();
      fresh(*parser);
      // A client waiting for 100 Continue may never send the body: the connection closes
      // rather than read its next request as body (nginx does the same).
      if (expects) return reject(peer, std::move(req), too_large());
      st->discard = big.declared - std::min(big.declared, big.buffered);
      return reject(peer, std::move(req), too_large(), true);
    } catch (const chunked_refused&) {
      auto req = partial_request(*parser, false);
      fresh(*parser);
      return reject(peer, std::move(req),
                    make_error(error_code::length_required,
                               "send the body with Content-Length (chunked bodies are refused)"));
    } catch (const Http::HttpError& err) {
      auto req = partial_request(*parser, in_headers(*parser));
      fresh(*parser);
      reject(peer, std::move(req),
             make_error(error_code::bad_request, "not a well-formed HTTP/1.1 request"));
    } catch (const std::exception&) {  // Pistache's parser throws these too ("Invalid chunk size")
      fresh(*parser);
      // From our own handler: the exchange it made has answered (or will, when it is
      // dropped); a second answer here would follow it on the wire.
      if (dispatching) return;
      auto req = partial_request(*parser, in_headers(*parser));
      reject(peer, std::move(req),
             make_error(error_code::bad_request, "not a well-formed HTTP/1.1 request"));
    }

  }

 private:

  static bool closes_connection(const Http::Request& r) {
    auto conn = r.headers().tryGet<Http::Header::Connection>();
    if (r.version() == Http::Version::Http10)
      return !conn || conn->control() != Http::ConnectionControl::KeepAlive;
    return conn && conn->control() == Http::ConnectionControl::Close;
  }

  static bool in_headers(Http::RequestParser& p) {
    auto id = p.step()->id();
    return id == Http::Private::RequestLineStep::Id || id == Http::Private::HeadersStep::Id;
  }

  domain_error headers_too_large() const {
    return make_error(error_code::headers_too_large,
                      "the request line and headers are limited to " +
                          std::to_string(k_max_header_bytes) + " bytes");
  }
  domain_error too_large() const {
    return make_error(error_code::payload_too_large,
                      "request bodies are limited to " +
                          std::to_string(svc_->cfg.http.max_body) + " bytes");
  }

  /// As much of the request as was read before it had to be refused: the request line once
  /// it is past, the headers once they are complete.
  static http_request partial_request(Http::RequestParser& p, bool in_head) {
    if (!in_head) {
      auto req = read_request(p.request);
      req.body.clear();
      return req;
    }
    http_request req;
    req.start = std::chrono::steady_clock::now();
    if (p.step()->id() != Http::Private::RequestLineStep::Id) {
      req.method = Http::methodString(p.request.method());
      req.path = p.request.resource().substr(0, 256);  // it may be what was too long
    }
    return req;
  }

  /// Answers a request the transport refused, through the exchange (metrics, access log,
  /// request id, security headers); closes the connection unless `keep` is set.
  void reject(const std::shared_ptr<Tcp::Peer>& peer, http_request req, const domain_error& e,
              bool keep = false) {
    auto* st = &static_cast<request_parser&>(*getParser(peer)).conn;
    if (req.request_id.empty()) req.request_id = new_uuid_v7(now_ms());
    if (req.trace_id.empty()) trace_request(req, {});
    if (req.start == std::chrono::steady_clock::time_point{})
      req.start = std::chrono::steady_clock::now();
    req.client = peer->address().host();  // the parsed request may not have it yet
    req.route = "transport";
    if (req.path.size() > 256) req.path.resize(256);  // it may be what was too long
    if (!keep) {
      req.close_connection = true;
      st->closing = true;
    }
    st->fed = 0;
    Http::ResponseWriter response(Http::Version::Http11, transport(), this, peer);
    peer->setIdle(false);
    auto box = std::make_shared<exchange::writer_box>(exchange::writer_box{std::move(response)});
    auto ex = std::make_shared<exchange>(*svc_, std::move(req), std::move(box));
    ex->fail(e);
  }

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

bool on_transport_thread() { return t_transport_thread; }

void add_connection_header(Http::ResponseWriter& w, const http_request& req) {
  // Pistache put "Connection: Close" on the response of any request without a Connection
  // header, and closes the socket after it: replace it.
  w.headers().remove<Http::Header::Connection>();
  w.headers().add<Http::Header::Connection>(req.close_connection
                                                ? Http::ConnectionControl::Close
                                                : Http::ConnectionControl::KeepAlive);
}

namespace {

/// File descriptors kept for everything that is not a client connection: store and Redis
/// connections, the cluster port, logs, SQLite's files.
constexpr rlim_t k_fd_reserve = 256;

/// http.max_connections, after raising the soft file-descriptor limit to the hard one; capped
/// so that a full house of connections cannot exhaust descriptors (accept would then fail
/// and the rest of the process with it).
int connection_limit(int wanted) {
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) != 0) return wanted;
  if (lim.rlim_cur < lim.rlim_max) {
    rlimit raised = lim;
    raised.rlim_cur = lim.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) lim = raised;
  }
  if (lim.rlim_cur == RLIM_INFINITY) return wanted;
  rlim_t room = lim.rlim_cur > k_fd_reserve * 2 ? lim.rlim_cur - k_fd_reserve : lim.rlim_cur / 2;
  if (static_cast<rlim_t>(wanted) <= room) return wanted;
  spdlog::warn(R"({{"msg":"http.max_connections capped by the file-descriptor limit","wanted":{},"limit":{}}})",
               wanted, static_cast<std::uint64_t>(room));
  return static_cast<int>(room);
}

}  // namespace

struct http_server::impl {
  service& svc;
  std::unique_ptr<Http::Endpoint> endpoint;
  int port = 0;
};

http_server::http_server(service& svc) : impl_(std::make_unique<impl>(impl{svc, nullptr, 0})) {}

http_server::~http_server() { stop(); }

int http_server::start() {
  const auto& cfg = impl_->svc.cfg.http;
  impl_->svc.max_connections = connection_limit(cfg.max_connections);
  Address addr(cfg.address, Port(static_cast<std::uint16_t>(cfg.port)));
  impl_->endpoint = std::make_unique<Http::Endpoint>(addr);
  auto opts = Http::Endpoint::options()
                  .threads(cfg.threads)
                  .flags(Tcp::Options::ReuseAddr)
                  .maxRequestSize(k_transport_max)
                  .headerTimeout(cfg.header_timeout)
                  .bodyTimeout(cfg.body_timeout)
                  .keepaliveTimeout(cfg.idle_timeout)
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
