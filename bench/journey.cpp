// Shopper-journey load generator for cartd (issue 9). Standalone: POSIX sockets + epoll, one
// thread, HTTP/1.1 keep-alive, Content-Length responses only (cartd sends it on every answer).
//
// Each of --conns shoppers has its own connection and its own JWT (line i of --token-file, wrapping
// around) and loops, until --seconds have passed:
//   POST /api/v1/cart {}                          -> 201  create_cart
//   POST /api/v1/cart/{id}/items  (3 products)    -> 201  add_item_1..3
//   GET  /api/v1/cart/{id}/totals                 -> 200  totals
//   POST /api/v1/checkout/session                 -> 201  checkout_session
//   POST /api/v1/checkout/process (tok_visa)      -> 201  checkout_process (a completed order)
// --rate R begins R journeys per second in all (open loop: the soak runs at a fixed load).
// A step that is not 2xx is counted (and its first bodies printed) and the shopper starts a new
// journey. --noop instead hammers GET /api/v1/health on the same number of connections.
//
// Output, one record per line (the bench script parses it; humans can read it):
//   step NAME COUNT NON2XX P50_MS P99_MS
//   summary journeys N orders N seconds S orders_per_s X requests_per_s Y
//   noop COUNT NON2XX REQ_PER_S P50_MS P99_MS
//   error STEP STATUS BODY            (at most 3 per step)
//
// Build: g++ -O2 -std=c++17 -o build/journey bench/journey.cpp
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

enum Step { kCreate, kAdd1, kAdd2, kAdd3, kTotals, kSession, kProcess, kSteps, kNoop = kSteps };
const char* const kStepNames[] = {"create_cart", "add_item_1", "add_item_2", "add_item_3",
                                  "totals", "checkout_session", "checkout_process", "noop"};

struct Options {
  int port = 8080;
  int conns = 64;
  double seconds = 10;
  double warmup = 0;
  double rate = 0;  ///< journeys started per second across all shoppers; 0: as fast as answered
  bool noop = false;
  std::string token_file;
  std::vector<std::string> products;
  std::string variant = "v1";
};

struct Stats {
  std::vector<uint32_t> lat_us;  // latency of every answer, 2xx or not
  long non2xx = 0;
  int errors_printed = 0;
};

struct Conn {
  int fd = -1;
  const std::string* token = nullptr;
  int step = kCreate;
  std::string cart_id, session_id;
  std::string out;  // request bytes not yet written
  size_t out_off = 0;
  std::string in;   // response bytes read so far
  Clock::time_point sent;
  bool busy = false;
  bool parked = false;  // --rate: waiting for its turn to begin a journey
  Clock::time_point wake_at;
};

Options opt;
Stats stats[kSteps + 1];
long journeys_done = 0, orders_done = 0, transport_errors = 0;
int epfd = -1;
Clock::time_point measure_from, deadline;
Clock::time_point next_slot;  // --rate: when the next journey may begin

[[noreturn]] void die(const char* what) {
  std::fprintf(stderr, "journey: %s: %s\n", what, std::strerror(errno));
  std::exit(2);
}

double parse_seconds(const char* s) {
  char* end = nullptr;
  double v = std::strtod(s, &end);
  if (end && *end == 'm') v *= 60;
  return v;
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    size_t pos = s.find(sep, start);
    if (pos == std::string::npos) pos = s.size();
    if (pos > start) out.push_back(s.substr(start, pos - start));
    start = pos + 1;
  }
  return out;
}

// The first "id":"..." in a body is the resource's own id (cartd writes "id" first).
std::string first_id(const std::string& body) {
  static const std::string key = "\"id\":\"";
  size_t p = body.find(key);
  if (p == std::string::npos) return {};
  p += key.size();
  size_t e = body.find('"', p);
  return e == std::string::npos ? std::string() : body.substr(p, e - p);
}

std::string request(const char* method, const std::string& path, const std::string* token,
                    const std::string& body) {
  std::string r;
  r.reserve(512 + body.size());
  r += method; r += ' '; r += path;
  r += " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n";
  if (token) { r += "Authorization: Bearer "; r += *token; r += "\r\n"; }
  if (!body.empty() || std::strcmp(method, "POST") == 0) {
    r += "Content-Type: application/json\r\nContent-Length: ";
    r += std::to_string(body.size());
    r += "\r\n";
  }
  r += "\r\n";
  r += body;
  return r;
}

std::string build_request(Conn& c) {
  if (opt.noop) return request("GET", "/api/v1/health", nullptr, "");
  switch (c.step) {
    case kCreate: return request("POST", "/api/v1/cart", c.token, "{}");
    case kAdd1: case kAdd2: case kAdd3:
      return request("POST", "/api/v1/cart/" + c.cart_id + "/items", c.token,
                     "{\"productId\":\"" + opt.products[c.step - kAdd1] + "\",\"variantId\":\"" +
                         opt.variant + "\",\"quantity\":1}");
    case kTotals: return request("GET", "/api/v1/cart/" + c.cart_id + "/totals", c.token, "");
    case kSession:
      return request("POST", "/api/v1/checkout/session", c.token,
                     "{\"cartId\":\"" + c.cart_id +
                         "\",\"shippingAddress\":{\"name\":\"A\",\"line1\":\"1 Main\",\"city\":\"X\","
                         "\"postalCode\":\"1\",\"country\":\"US\"}}");
    case kProcess:
      return request("POST", "/api/v1/checkout/process", c.token,
                     "{\"sessionId\":\"" + c.session_id +
                         "\",\"payment\":{\"method\":\"card\",\"token\":\"tok_visa\"}}");
  }
  return {};
}

void close_conn(Conn& c) {
  if (c.fd >= 0) { epoll_ctl(epfd, EPOLL_CTL_DEL, c.fd, nullptr); close(c.fd); }
  c.fd = -1;
}

bool open_conn(Conn& c) {
  c.fd = socket(AF_INET, SOCK_STREAM, 0);
  if (c.fd < 0) die("socket");
  int one = 1;
  setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(opt.port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(c.fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {  // blocking: loopback
    close(c.fd); c.fd = -1; return false;
  }
  fcntl(c.fd, F_SETFL, fcntl(c.fd, F_GETFL) | O_NONBLOCK);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.ptr = &c;
  if (epoll_ctl(epfd, EPOLL_CTL_ADD, c.fd, &ev) != 0) die("epoll_ctl");
  return true;
}

void want_write(Conn& c, bool on) {
  epoll_event ev{};
  ev.events = EPOLLIN | (on ? static_cast<uint32_t>(EPOLLOUT) : 0u);
  ev.data.ptr = &c;
  epoll_ctl(epfd, EPOLL_CTL_MOD, c.fd, &ev);
}

// Writes what it can; false when the connection broke.
bool flush(Conn& c) {
  while (c.out_off < c.out.size()) {
    ssize_t n = send(c.fd, c.out.data() + c.out_off, c.out.size() - c.out_off, MSG_NOSIGNAL);
    if (n > 0) { c.out_off += static_cast<size_t>(n); continue; }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) { want_write(c, true); return true; }
    return false;
  }
  return true;
}

void start_request(Conn& c);

void reconnect(Conn& c) {
  ++transport_errors;
  close_conn(c);
  c.busy = false;
  c.step = kCreate;  // a broken journey starts over
  c.in.clear();
  if (Clock::now() >= deadline) return;
  if (!open_conn(c)) { std::fprintf(stderr, "journey: connect to port %d failed\n", opt.port); std::exit(2); }
  start_request(c);
}

void start_request(Conn& c) {
  if (Clock::now() >= deadline) { c.busy = false; return; }
  if (opt.rate > 0 && !opt.noop && c.step == kCreate && !c.parked) {
    // Open loop: journeys begin on a fixed schedule, whatever the answers take.
    Clock::time_point now = Clock::now();
    Clock::time_point slot = std::max(next_slot, now);
    next_slot = slot + std::chrono::microseconds(static_cast<long>(1e6 / opt.rate));
    if (slot > now) {
      c.parked = true;
      c.wake_at = slot;
      c.busy = false;
      return;
    }
  }
  c.parked = false;
  c.out = build_request(c);
  c.out_off = 0;
  c.in.clear();
  c.busy = true;
  c.sent = Clock::now();
  if (!flush(c)) reconnect(c);
}

std::vector<std::string> error_lines;

void on_response(Conn& c, int status, const std::string& body) {
  Clock::time_point done = Clock::now();
  bool measured = c.sent >= measure_from && done <= deadline;
  int step = opt.noop ? static_cast<int>(kNoop) : c.step;
  bool ok = status >= 200 && status < 300;
  if (measured) {
    Stats& s = stats[step];
    s.lat_us.push_back(static_cast<uint32_t>(
        std::chrono::duration_cast<std::chrono::microseconds>(done - c.sent).count()));
    if (!ok) ++s.non2xx;
  }
  if (!ok && stats[step].errors_printed < 3) {
    ++stats[step].errors_printed;
    std::string b = body.substr(0, 400);
    std::replace(b.begin(), b.end(), '\n', ' ');
    error_lines.push_back("error " + std::string(kStepNames[step]) + " " + std::to_string(status) + " " + b);
  }
  if (opt.noop) return;
  if (!ok) { c.step = kCreate; return; }  // this journey is lost; begin another
  if (c.step == kCreate || c.step == kSession) {
    std::string id = first_id(body);
    if (id.empty()) {
      if (stats[c.step].errors_printed < 3) {
        ++stats[c.step].errors_printed;
        error_lines.push_back("error " + std::string(kStepNames[c.step]) + " no-id " + body.substr(0, 400));
      }
      c.step = kCreate;
      return;
    }
    (c.step == kCreate ? c.cart_id : c.session_id) = id;
  }
  if (c.step == kProcess) {
    if (measured) { ++journeys_done; if (status == 201) ++orders_done; }
    c.step = kCreate;
  } else {
    ++c.step;
  }
}

// Parses one complete response out of c.in. 1: done (status/body set), 0: need more, -1: bad.
int parse_response(Conn& c, int& status, std::string& body, bool& server_closes) {
  size_t hend = c.in.find("\r\n\r\n");
  if (hend == std::string::npos) return 0;
  if (c.in.compare(0, 5, "HTTP/") != 0) return -1;
  size_t sp = c.in.find(' ');
  if (sp == std::string::npos || sp > hend) return -1;
  status = std::atoi(c.in.c_str() + sp + 1);
  long length = 0;
  server_closes = false;
  size_t line = c.in.find("\r\n") + 2;
  while (line < hend) {
    size_t eol = c.in.find("\r\n", line);
    std::string h = c.in.substr(line, eol - line);
    size_t colon = h.find(':');
    if (colon != std::string::npos) {
      std::string name = h.substr(0, colon);
      for (char& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      std::string value = h.substr(colon + 1);
      value.erase(0, value.find_first_not_of(' '));
      if (name == "content-length") length = std::atol(value.c_str());
      else if (name == "transfer-encoding") return -1;  // not expected from cartd
      else if (name == "connection") {
        for (char& ch : value) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
        server_closes = value.find("close") != std::string::npos;
      }
    }
    line = eol + 2;
  }
  size_t total = hend + 4 + static_cast<size_t>(length);
  if (c.in.size() < total) return 0;
  body = c.in.substr(hend + 4, static_cast<size_t>(length));
  c.in.erase(0, total);
  return 1;
}

void on_readable(Conn& c) {
  char buf[16384];
  for (;;) {
    ssize_t n = recv(c.fd, buf, sizeof buf, 0);
    if (n > 0) { c.in.append(buf, static_cast<size_t>(n)); continue; }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    reconnect(c);  // closed or failed
    return;
  }
  int status = 0;
  std::string body;
  bool server_closes = false;
  int r = parse_response(c, status, body, server_closes);
  if (r == 0) return;
  if (r < 0) { std::fprintf(stderr, "journey: unparsable response\n"); reconnect(c); return; }
  c.busy = false;
  on_response(c, status, body);
  if (server_closes) {
    close_conn(c);
    if (Clock::now() < deadline && !open_conn(c)) { std::fprintf(stderr, "journey: reconnect failed\n"); std::exit(2); }
    if (c.fd < 0) return;
  }
  start_request(c);
}

double percentile_ms(std::vector<uint32_t>& v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t rank = static_cast<size_t>(p * static_cast<double>(v.size()) + 0.999999);  // nearest rank
  if (rank < 1) rank = 1;
  if (rank > v.size()) rank = v.size();
  return v[rank - 1] / 1000.0;
}

void usage() {
  std::fprintf(stderr,
               "usage: journey [--noop] --port P [--conns 64] [--seconds 10] [--warmup 0] [--rate R]\n"
               "               --token-file FILE (one JWT per line) --products p1,p2,p3 [--variant v1]\n");
  std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> const char* { if (i + 1 >= argc) usage(); return argv[++i]; };
    if (a == "--noop") opt.noop = true;
    else if (a == "--port") opt.port = std::atoi(next());
    else if (a == "--conns") opt.conns = std::atoi(next());
    else if (a == "--seconds") opt.seconds = parse_seconds(next());
    else if (a == "--warmup") opt.warmup = parse_seconds(next());
    else if (a == "--rate") opt.rate = std::atof(next());
    else if (a == "--token-file") opt.token_file = next();
    else if (a == "--products") opt.products = split(next(), ',');
    else if (a == "--variant") opt.variant = next();
    else usage();
  }
  std::vector<std::string> tokens;
  if (!opt.noop) {
    if (opt.token_file.empty() || opt.products.size() != 3) usage();
    std::ifstream in(opt.token_file);
    for (std::string line; std::getline(in, line);) {
      while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
      if (!line.empty()) tokens.push_back(line);
    }
    if (tokens.empty()) { std::fprintf(stderr, "journey: no tokens in %s\n", opt.token_file.c_str()); return 2; }
  }
  if (opt.conns < 1) usage();

  epfd = epoll_create1(0);
  if (epfd < 0) die("epoll_create1");
  std::vector<Conn> conns(static_cast<size_t>(opt.conns));
  for (size_t i = 0; i < conns.size(); ++i) {
    if (!tokens.empty()) conns[i].token = &tokens[i % tokens.size()];
    if (!open_conn(conns[i])) { std::fprintf(stderr, "journey: connect to port %d failed\n", opt.port); return 2; }
  }
  Clock::time_point start = Clock::now();
  measure_from = start + std::chrono::microseconds(static_cast<long>(opt.warmup * 1e6));
  deadline = measure_from + std::chrono::microseconds(static_cast<long>(opt.seconds * 1e6));
  for (Conn& c : conns) start_request(c);

  std::vector<epoll_event> events(256);
  while (Clock::now() < deadline) {
    int n = epoll_wait(epfd, events.data(), static_cast<int>(events.size()), opt.rate > 0 ? 1 : 5);
    if (n < 0) { if (errno == EINTR) continue; die("epoll_wait"); }
    if (opt.rate > 0) {
      Clock::time_point now = Clock::now();
      for (Conn& c : conns)
        if (c.parked && c.wake_at <= now) start_request(c);
    }
    for (int i = 0; i < n; ++i) {
      Conn& c = *static_cast<Conn*>(events[static_cast<size_t>(i)].data.ptr);
      if (c.fd < 0) continue;
      uint32_t ev = events[static_cast<size_t>(i)].events;
      if ((ev & EPOLLOUT) && c.out_off < c.out.size()) {
        if (!flush(c)) { reconnect(c); continue; }
        if (c.out_off >= c.out.size()) want_write(c, false);
      }
      if (ev & (EPOLLIN | EPOLLERR | EPOLLHUP)) on_readable(c);
    }
  }
  double elapsed = std::chrono::duration<double>(deadline - measure_from).count();
  for (Conn& c : conns) close_conn(c);

  if (opt.noop) {
    Stats& s = stats[kNoop];
    size_t count = s.lat_us.size();
    double p50 = percentile_ms(s.lat_us, 0.50), p99 = percentile_ms(s.lat_us, 0.99);
    std::printf("noop %zu %ld %.0f %.2f %.2f\n", count, s.non2xx, count / elapsed, p50, p99);
  } else {
    size_t requests = 0;
    for (int st = 0; st < kSteps; ++st) {
      Stats& s = stats[st];
      size_t count = s.lat_us.size();
      requests += count;
      double p50 = percentile_ms(s.lat_us, 0.50), p99 = percentile_ms(s.lat_us, 0.99);
      std::printf("step %s %zu %ld %.2f %.2f\n", kStepNames[st], count, s.non2xx, p50, p99);
    }
    std::printf("summary journeys %ld orders %ld seconds %.2f orders_per_s %.1f requests_per_s %.0f\n",
                journeys_done, orders_done, elapsed, orders_done / elapsed, requests / elapsed);
  }
  if (transport_errors) std::printf("transport_errors %ld\n", transport_errors);
  for (const std::string& e : error_lines) std::printf("%s\n", e.c_str());
  return 0;
}
