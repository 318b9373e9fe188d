#include "http/exchange.hpp"

#include <caf/all.hpp>
#include <pistache/http.h>
#include <pistache/peer.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <algorithm>
#include <random>

#include "actors/cart_protocol.hpp"
#include "actors/store_pool.hpp"
#include "actors/system.hpp"
#include "domain/time.hpp"
#include "http/json.hpp"
#include "http/problem.hpp"
#include "http/server_internal.hpp"
#include "http/service.hpp"

namespace cartd {

namespace {

/// A claim older than this is one whose process died mid-request; it may be taken over.
constexpr std::int64_t k_stale_claim_ms = 60'000;

void trace_fields(json_writer& w, const http_request& req) {
  w.field("requestId", req.request_id).field("traceId", req.trace_id).field("spanId", req.span_id);
  if (!req.parent_span_id.empty()) w.field("parentSpanId", req.parent_span_id);
}

void access_log(const http_request& req, int status, double ms) {
  json_writer w;
  w.begin_object().field("ts", format_rfc3339(now_ms())).field("msg", "access");
  trace_fields(w, req);
  w.field("method", req.method)
      .field("route", req.route)
      .field("path", req.path)
      .field("status", status)
      .key("latencyUs")
      .value(static_cast<std::int64_t>(ms * 1000))
      .end_object();
  spdlog::info(w.str());
}

bool is_write(const std::string& method) {
  return method != "GET" && method != "HEAD" && method != "OPTIONS";
}

/// One line per admin write, answered or refused: who, what, and the resource's version before
/// and after where it has one (orders; carts). Products, discounts, tax rates and shipping
/// methods carry no version: null. `before` is the If-Match the caller sent, else the version
/// the change replaced (after - 1) for a change that did not create the resource.
void audit_log(const exchange& ex, const http_response& r) {
  const auto& req = ex.req;
  json_writer w;
  w.begin_object().field("ts", format_rfc3339(now_ms())).field("msg", "audit");
  trace_fields(w, req);
  w.field("who", ex.who.user)
      .field("admin", ex.who.admin)
      .field("method", req.method)
      .field("route", req.route)
      .field("path", req.path)
      .field("status", r.status);
  std::int64_t after = r.status < 300 ? top_level_version(r.body) : -1;
  std::int64_t before = -1;
  if (!req.if_match.empty()) {
    auto digits = req.if_match;
    digits.erase(std::remove_if(digits.begin(), digits.end(),
                                [](char c) { return c < '0' || c > '9'; }),
                 digits.end());
    if (!digits.empty() && digits.size() < 19) before = std::stoll(digits);
  } else if (after > 1 && r.status != 201) {
    before = after - 1;
  }
  w.key("before");
  if (before >= 0) w.value(before); else w.null();
  w.key("after");
  if (after >= 0) w.value(after); else w.null();
  w.end_object();
  spdlog::info(w.str());
}

/// Resolves X-Session-Token through the cache, else the store.
void resolve_session(caf::event_based_actor* self, const exchange_ptr& ex,
                     std::function<void()> next) {
  if (ex->req.session_token.empty()) return next();
  auto& svc = ex->svc;
  auto hash = ex->session_token_hash;
  if (auto s = svc.sessions.get(hash, now_ms())) {
    ex->who.session = s->id;
    ex->who.bound_user = s->user_id;
    return next();
  }
  call_store<std::optional<session>>(
      self, svc.runtime.store_pool(), svc.cfg.http.request_timeout, false,
      [hash](store& st) { return st.find_session_by_token(hash); },
      [ex, next](std::optional<std::optional<session>> found) {
        if (!found) return ex->fail(make_error(error_code::unavailable, "session store"));
        if (!*found || (*found)->expired(now_ms())) {
          if (ex->public_route) return next();  // public routes: answered as anonymous
          return ex->fail(make_error(error_code::unauthorized, "invalid or expired session token"));
        }
        ex->svc.sessions.put(**found, now_ms());
        ex->who.session = (*found)->id;
        ex->who.bound_user = (*found)->user_id;
        next();
      });
}

std::string idempotency_scope(const exchange& ex) {
  return ex.who.anonymous() ? "a:" + ex.req.client : ex.who.scope();
}

void with_idempotency(caf::event_based_actor* self, const exchange_ptr& ex, action_fn action) {
  auto& svc = ex->svc;
  finish_fn plain = [ex](http_response r) { ex->respond(std::move(r)); };
  if (ex->req.method != "POST" || !ex->req.has_idempotency_key) return action(self, ex, plain);
  auto scope = idempotency_scope(*ex);
  auto key = ex->req.idempotency_key;
  // The body's JSON value, not its bytes: whitespace and key order make no other request.
  auto fingerprint =
      sha256_hex(ex->req.method + " " + ex->req.path + "\n" + canonical_json(ex->req.body));
  idempotency_request claim_req{scope,           key,        fingerprint,
                                svc.cfg.node.name, svc.boot_id, 0,
                                svc.cfg.idempotency.ttl.count(), k_stale_claim_ms};
  auto timeout = svc.cfg.http.request_timeout;
  auto pool = svc.runtime.store_pool();
  call_store<idempotency_claim>(
      self, pool, timeout, false,
      [claim_req](store& st) {
        auto r = claim_req;
        r.now_ms = now_ms();
        return st.claim_idempotency_key(r);
      },
      [=](std::optional<idempotency_claim> claim) {
        if (!claim) return ex->fail(make_error(error_code::unavailable, "idempotency store"));
        using st = idempotency_claim::state;
        switch (claim->outcome) {
          case st::in_progress:
            return ex->fail(make_error(error_code::idempotency_key_in_use,
                                       "a request with this Idempotency-Key is still running"));
          case st::reused:
            return ex->fail(make_error(error_code::idempotency_key_reused,
                                       "this Idempotency-Key was used for a different request"));
          case st::replay: {
            http_response r;
            r.status = claim->response.status;
            r.content_type = claim->response.content_type;
            r.etag = claim->response.etag;
            r.body = claim->response.body;
            if (!claim->response.location.empty())
              r.headers.emplace_back("Location", claim->response.location);
            r.headers.emplace_back("Idempotent-Replayed", "true");
            return ex->respond(std::move(r));
          }
          case st::claimed: break;
        }
        // Run the action; keep its answer (2xx/4xx) before the client sees it, or forget the
        // claim on a 5xx so that the client may retry with the same key. A cart change stored
        // its answer in its own transaction already (ticket recorded).
        auto ticket = std::make_shared<idempotency_ticket>();
        ticket->scope = scope;
        ticket->key = key;
        ex->idempotency = ticket;
        finish_fn record = [self, ex, scope, key, pool, timeout, ticket](http_response r) {
          if (ticket->recorded) return ex->respond(std::move(r));
          // A 202 (payment pending) is not kept: a repeat answers the session's state then.
          bool keep = r.status < 500 && r.status != 202;
          stored_response stored{r.status, r.content_type, r.etag, r.body, location_of(r)};
          auto shared = std::make_shared<http_response>(std::move(r));
          call_store<bool>(
              self, pool, timeout, false,
              [=](store& s) {
                if (keep) s.complete_idempotency_key(scope, key, stored);
                else s.release_idempotency_key(scope, key);
                return true;
              },
              [ex, shared](std::optional<bool>) { ex->respond(std::move(*shared)); });
        };
        action(self, ex, record);
      });
}

}  // namespace

exchange::exchange(service& s, http_request r, std::shared_ptr<writer_box> out)
    : svc(s), req(std::move(r)), out_(std::move(out)) {
  svc.in_flight++;
}

exchange::~exchange() {
  if (!done_) {
    // Nobody answered: the message carrying this request died with a failed actor, or a path
    // forgot to answer. Never leave the client hanging; a retry may well succeed.
    respond(error_response(make_error(error_code::unavailable, "no answer"), req));
  }
  svc.in_flight--;
}

void exchange::respond(http_response r) {
  if (done_.exchange(true)) return;
  try {
    write(std::move(r));
  } catch (const std::exception& e) {
    // Called from actor threads: a failed write must never take an actor down with it.
    json_writer line;
    line.begin_object().field("ts", format_rfc3339(now_ms())).field("msg", "response not written");
    trace_fields(line, req);
    line.field("error", std::string_view(e.what())).end_object();
    spdlog::error(line.str());
  }
}

void exchange::write(http_response r) {
  auto& w = out_->writer;
  auto& headers = w.headers();
  headers.add(std::make_shared<text_header>("X-Request-Id", req.request_id));
  if (!r.etag.empty()) headers.add(std::make_shared<text_header>("ETag", r.etag));
  for (auto& [k, v] : r.headers) headers.add(std::make_shared<text_header>(k, v));
  // On every answer (API.md is JSON only; nothing here is a page to frame or sniff). Made
  // once and shared: a header is only read (written out) once made.
  static const auto nosniff = std::make_shared<text_header>("X-Content-Type-Options", "nosniff");
  static const auto no_frames = std::make_shared<text_header>("X-Frame-Options", "DENY");
  static const auto no_referrer = std::make_shared<text_header>("Referrer-Policy", "no-referrer");
  headers.add(nosniff);
  headers.add(no_frames);
  headers.add(no_referrer);
  if (!req.origin.empty() && cors_allowed(svc.cfg, req.origin)) {
    headers.add(std::make_shared<text_header>("Access-Control-Allow-Origin", req.origin));
    headers.add(std::make_shared<text_header>(
        "Access-Control-Expose-Headers",
        "ETag, Location, Retry-After, X-Request-Id, Idempotent-Replayed"));
  }
  // The answer differs by Origin when CORS is on: caches must keep them apart.
  if (!svc.cfg.http.cors_origins.empty())
    headers.add(std::make_shared<text_header>("Vary", "Origin"));
  if (svc.draining) req.close_connection = true;  // the client reconnects elsewhere
  add_connection_header(w, req);
  // Counted before it is sent: a client that reads /metrics right after its answer must find
  // its request there.
  std::chrono::duration<double> took = std::chrono::steady_clock::now() - req.start;
  svc.stats.observe_http(req.route, req.method.c_str(), r.status, took.count());
  if (svc.cfg.http.access_log) access_log(req, r.status, took.count() * 1000);
  if (admin_route && is_write(req.method)) audit_log(*this, r);
  auto code = static_cast<Pistache::Http::Code>(r.status);
  std::weak_ptr<Pistache::Tcp::Peer> closing;
  if (req.close_connection) {
    try {
      closing = w.peer();
    } catch (const std::exception&) {  // the client is gone already
    }
  }
  auto sent = r.content_type.empty()
                  ? w.send(code, r.body)  // 204: no body, no Content-Type
                  : w.send(code, r.body,
                           Pistache::Http::Mime::MediaType::fromString(r.content_type));
  if (req.close_connection && on_transport_thread()) {
    // Pistache writes "Connection: Close" but keeps the socket open: end it once the answer is
    // written (FIN after the data; the client's close or the idle timeout then frees it). Only
    // on the connection's transport thread, where its descriptor is closed too, so that it is
    // still this connection's. Never from an actor thread: the promise send() returns is a
    // chained one, which Pistache 0.0.5 resolves on the transport thread without its lock, so a
    // continuation attached from another thread races with that resolution (ThreadSanitizer
    // found it: scripts/test-tsan). An answer written from an actor thread is ended by its
    // Connection: close header and, should the client not close, by the idle timeout.
    sent.then(
        [closing](ssize_t) {
          if (auto peer = closing.lock()) ::shutdown(peer->fd(), SHUT_WR);
        },
        Pistache::Async::IgnoreException);
  }
}

namespace {

bool lower_hex(std::string_view s, std::size_t n) {
  if (s.size() != n) return false;
  bool nonzero = false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
    nonzero |= c != '0';
  }
  return nonzero;
}

std::string random_hex(std::size_t n) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  static constexpr char digits[] = "0123456789abcdef";
  std::string out(n, '0');
  for (std::size_t i = 0; i < n; i += 16) {
    auto bits = rng();
    for (std::size_t j = i; j < n && j < i + 16; ++j, bits >>= 4) out[j] = digits[bits & 15];
  }
  if (out.find_first_not_of('0') == std::string::npos) out[n - 1] = '1';  // all-zero is invalid
  return out;
}

}  // namespace

void trace_request(http_request& req, const std::string& tp) {
  // version "-" trace-id(32) "-" parent-id(16) "-" flags(2); version ff is invalid, and a
  // version 00 header has exactly this length.
  std::string_view v(tp);
  bool ok = v.size() == 55 && v[2] == '-' && v[35] == '-' && v[52] == '-' &&
            v.substr(0, 2) == "00" && lower_hex(v.substr(3, 32), 32) &&
            lower_hex(v.substr(36, 16), 16) &&
            std::string_view("0123456789abcdef").find(v[53]) != std::string_view::npos &&
            std::string_view("0123456789abcdef").find(v[54]) != std::string_view::npos;
  if (ok) {
    req.trace_id = std::string(v.substr(3, 32));
    req.parent_span_id = std::string(v.substr(36, 16));
  } else {
    req.trace_id = random_hex(32);
    req.parent_span_id.clear();
  }
  req.span_id = random_hex(16);
}

bool cors_allowed(const config& cfg, const std::string& origin) {
  const auto& list = cfg.http.cors_origins;
  if (origin.empty() || list.empty()) return false;
  std::size_t i = 0;
  while (i <= list.size()) {
    auto comma = list.find(',', i);
    auto end = comma == std::string::npos ? list.size() : comma;
    if (list.compare(i, end - i, origin) == 0) return true;
    if (comma == std::string::npos) break;
    i = comma + 1;
  }
  return false;
}

std::int64_t top_level_version(const std::string& body) {
  int depth = 0;
  bool in_string = false;
  for (std::size_t i = 0; i < body.size(); ++i) {
    char c = body[i];
    if (in_string) {
      if (c == '\\') ++i;
      else if (c == '"') in_string = false;
      continue;
    }
    if (c == '{' || c == '[') ++depth;
    else if (c == '}' || c == ']') --depth;
    else if (c == '"') {
      static constexpr std::string_view key = "\"version\":";
      if (depth == 1 && body.compare(i, key.size(), key) == 0) {
        std::size_t j = i + key.size();
        while (j < body.size() && body[j] == ' ') ++j;
        std::int64_t n = 0;
        std::size_t start = j;
        while (j < body.size() && body[j] >= '0' && body[j] <= '9' && j - start < 18)
          n = n * 10 + (body[j++] - '0');
        return j > start ? n : -1;
      }
      in_string = true;
    }
  }
  return -1;
}

http_response error_response(const domain_error& e, const http_request& req) {
  http_response r;
  r.status = http_status(e.code);
  r.content_type = "application/problem+json";
  r.body = problem_body(e, req.path, req.request_id);
  if (e.code == error_code::unavailable || e.code == error_code::rate_limited)
    r.headers.emplace_back("Retry-After", "1");
  if (e.code == error_code::unauthorized)
    r.headers.emplace_back("WWW-Authenticate", "Bearer");
  return r;
}

std::string location_of(const http_response& r) {
  for (const auto& [k, v] : r.headers)
    if (k == "Location") return v;
  return "";
}

void exchange::fail(const domain_error& e) { respond(error_response(e, req)); }

bool exchange::authenticate(auth_mode mode) {
  // Public routes answer as anonymous when the credentials are bad (API.md v1.1): a shop
  // page must not break because a shopper's token expired.
  public_route = mode == auth_mode::none || mode == auth_mode::open;
  admin_route = mode == auth_mode::admin;
  if (!req.authorization.empty()) {
    const std::string bearer = "bearer ";  // the scheme is case-insensitive (RFC 7235)
    std::string scheme = req.authorization.substr(0, bearer.size());
    for (auto& ch : scheme) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    jwt_claims claims;
    if (scheme != bearer) {
      claims.reason = "Authorization must be a Bearer token";
    } else {
      claims = verify_jwt_cached(std::string_view(req.authorization).substr(bearer.size()),
                                 svc.jwt, now_ms() / 1000);
      if (!claims.ok) claims.reason = "invalid token: " + claims.reason;
    }
    if (claims.ok) {
      who.user = claims.sub;
      who.admin = claims.admin;
    } else if (!public_route) {
      fail(make_error(error_code::unauthorized, claims.reason));
      return false;
    }
  }
  if (!req.session_token.empty()) session_token_hash = sha256_hex(req.session_token);
  bool has_credentials = !req.authorization.empty() || !req.session_token.empty();
  if ((mode == auth_mode::caller || mode == auth_mode::admin) && !has_credentials) {
    fail(make_error(error_code::unauthorized, "credentials required"));
    return false;
  }
  if (mode == auth_mode::admin && !who.admin) {
    fail(make_error(error_code::forbidden, "this route needs the admin role"));
    return false;
  }
  return true;
}

void exchange::admit(std::function<void()> next) {
  std::string principal = !who.user.empty() ? "u:" + who.user
                          : !session_token_hash.empty() ? "t:" + session_token_hash.substr(0, 32)
                                                        : "a:" + req.client;
  auto self_ptr = shared_from_this();
  svc.limiter->admit(principal, [self_ptr, next = std::move(next)](bool allowed, int retry_after) {
    if (allowed) return next();
    auto r = error_response(make_error(error_code::rate_limited, "too many requests; slow down"),
                            self_ptr->req);
    for (auto& [k, v] : r.headers)
      if (k == "Retry-After") v = std::to_string(retry_after);
    self_ptr->respond(std::move(r));
  });
}

bool exchange::ready_for_fast_path() {
  if (req.method == "POST" && req.has_idempotency_key) return false;
  if (req.session_token.empty()) return true;
  auto s = svc.sessions.get(session_token_hash, now_ms());
  if (!s) return false;
  who.session = s->id;
  who.bound_user = s->user_id;
  return true;
}

void exchange::run(auth_mode mode, action_fn action) {
  if (mode == auth_mode::none || mode == auth_mode::open) public_route = true;
  auto self_ptr = shared_from_this();
  auto go = [self_ptr, mode, action = std::move(action)]() {
    self_ptr->svc.runtime.system().spawn([self_ptr, mode, action](caf::event_based_actor* self) {
      resolve_session(self, self_ptr, [self, self_ptr, mode, action]() {
        if (mode == auth_mode::caller && self_ptr->who.anonymous())
          return self_ptr->fail(make_error(error_code::unauthorized, "credentials required"));
        with_idempotency(self, self_ptr, action);
      });
    });
  };
  // Health and readiness probes are never rate limited.
  if (mode == auth_mode::none) return go();
  admit(std::move(go));
}

std::optional<std::uint64_t> exchange::if_match(bool& bad) const {
  bad = false;
  std::string v = req.if_match;
  if (v.empty() || v == "*") return std::nullopt;
  if (v.rfind("W/", 0) == 0) v = v.substr(2);
  if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
  if (v.empty() || v.size() > 18 || v.find_first_not_of("0123456789") != std::string::npos) {
    bad = true;
    return std::nullopt;
  }
  return std::stoull(v);
}

}  // namespace cartd
