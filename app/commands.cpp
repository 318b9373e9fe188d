#include "app/commands.hpp"

#include <errno.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "actors/cart_lifecycle.hpp"
#include "actors/checkout_reconciler.hpp"
#include "actors/event_relay.hpp"
#include "actors/pricing_book.hpp"
#include "actors/system.hpp"
#include "actors/wire.hpp"
#include "http/route_support.hpp"
#include "http/routes.hpp"
#include "config/config.hpp"
#include "domain/ids.hpp"
#include "domain/time.hpp"
#include "http/auth.hpp"
#include "http/json.hpp"
#include "http/pricing_codec.hpp"
#include "http/router.hpp"
#include "http/server.hpp"
#include "http/service.hpp"
#include "persistence/caching_store.hpp"
#include "persistence/pricing_codec.hpp"
#include "persistence/store.hpp"

namespace cartd {

namespace {

bool load(const std::string& path, config& cfg) {
  std::vector<std::string> errors;
  if (load_config(path, cartd_environment(), cfg, errors)) return true;
  std::cerr << "cartd: invalid configuration:\n";
  for (const auto& e : errors) std::cerr << "  - " << e << "\n";
  return false;
}

// GCC 12 reports a false -Warray-bounds inside std::string's copy here (GCC PR 105651).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Warray-bounds"
#pragma GCC diagnostic ignored "-Wstringop-overread"
/// CARTD_AUTH_JWT_SECRET, else a secret made on first start and kept in the data directory.
/// With `make` false (cartd token) a missing kept secret is an empty answer: a token signed
/// with a secret the server does not have would be refused.
std::string jwt_secret(const config& cfg, bool make = true) {
  if (!cfg.auth.jwt_secret.empty()) return cfg.auth.jwt_secret;
  auto dir = std::filesystem::path(cfg.data_dir());
  auto file = dir / "jwt_secret";
  if (!make && !std::filesystem::exists(file)) return "";
  std::filesystem::create_directories(dir);
  std::ostringstream kept;
  if (std::ifstream in(file); in) kept << in.rdbuf();
  std::string existing = kept.str();
  while (!existing.empty() && (existing.back() == '\n' || existing.back() == '\r')) existing.pop_back();
  if (existing.size() >= 16) return existing;
  std::string fresh = random_token(48);
  {
    std::ofstream out(file, std::ios::trunc);
    out << fresh << "\n";
  }
  ::chmod(file.c_str(), 0600);
  return fresh;
}
#pragma GCC diagnostic pop

store_options store_opts(const config& cfg) {
  return store_options{cfg.store.pool_size, cfg.http.request_timeout / 2};
}

jwt_settings jwt_of(const config& cfg) {
  return jwt_settings{jwt_secret(cfg), cfg.auth.issuer, cfg.auth.audience, 60};
}

}  // namespace

int run_migrate(const std::string& config_path) {
  config cfg;
  if (!load(config_path, cfg)) return 2;
  try {
    auto db = open_store(cfg.store.url, store_opts(cfg));
    int applied = db->migrate();
    std::cout << "cartd: " << applied << " migration(s) applied to " << db->kind() << "\n";
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "cartd: migrate failed: " << e.what() << "\n";
    return 1;
  }
}

int run_token(const std::string& config_path, const token_options& opts) {
  config cfg;
  if (!load(config_path, cfg)) return 2;
  millis ttl{};
  if (!parse_duration(opts.ttl, ttl) || ttl.count() < 1000) {
    std::cerr << "cartd: --ttl must be a duration like 15m or 1h\n";
    return 2;
  }
  auto secret = jwt_secret(cfg, false);
  if (secret.empty()) {
    std::error_code ec;
    auto where = std::filesystem::absolute(std::filesystem::path(cfg.data_dir()) / "jwt_secret", ec);
    std::cerr << "cartd token: no JWT secret to sign with: auth.jwt_secret (CARTD_AUTH_JWT_SECRET)"
                 " is not set and no secret is kept at "
              << where.string()
              << " (the data directory of store.url). Set the secret, or run this where the "
                 "server keeps its data (the same store.url or --config).\n";
    return 1;
  }
  jwt_settings jwt{secret, cfg.auth.issuer, cfg.auth.audience, 60};
  std::cout << mint_jwt(jwt, opts.sub, opts.roles, ttl.count() / 1000, now_ms() / 1000) << "\n";
  return 0;
}

int run_routes() {
  for (const auto& r : route_table()) std::cout << r.method << " " << r.pattern << "\n";
  return 0;
}

int run_config(const std::string& config_path, const config_options& opts) {
  if (!opts.check_path.empty()) {
    // The file alone: what it says must be valid whatever the environment adds.
    config cfg;
    std::vector<std::string> errors;
    if (!std::filesystem::is_regular_file(opts.check_path)) {
      std::cerr << "cartd config: " << opts.check_path << ": no such file\n";
      return 2;
    }
    if (!load_config(opts.check_path, {}, cfg, errors)) {
      std::cerr << "cartd config: " << opts.check_path << " is not valid:\n";
      for (const auto& e : errors) std::cerr << "  - " << e << "\n";
      return 2;
    }
    std::cout << "cartd config: " << opts.check_path << " is valid\n";
    if (!opts.print) return 0;
  }
  if (!opts.print) {
    std::cerr << "cartd config: say --print [--json] or --check FILE\n";
    return 2;
  }
  config cfg;
  if (!load(config_path, cfg)) return 2;
  auto entries = describe_config(cfg);
  if (opts.json) {
    json_writer w;
    w.begin_object().key("keys").begin_array();
    for (const auto& e : entries) {
      w.begin_object()
          .field("key", e.key)
          .field("env", e.env)
          .field("type", e.type)
          .field("value", e.value)
          .field("secret", e.secret)
          .end_object();
    }
    w.end_array().end_object();
    std::cout << w.str() << "\n";
    return 0;
  }
  // TOML that `--config` reads back (masked secrets aside), each key with its variable; the
  // keys of one section together, sections in the order the table first names them.
  std::vector<std::string> sections;
  for (const auto& e : entries) {
    auto sec = e.key.substr(0, e.key.find('.'));
    if (std::find(sections.begin(), sections.end(), sec) == sections.end()) sections.push_back(sec);
  }
  for (const auto& sec : sections) {
    std::cout << (sec == sections.front() ? "" : "\n") << "[" << sec << "]\n";
    for (const auto& e : entries) {
      auto dot = e.key.find('.');
      if (e.key.compare(0, dot, sec) != 0 || dot != sec.size()) continue;
      std::string quoted = "\"";
      for (char c : e.value) {
        if (c == '"' || c == '\\') quoted.push_back('\\');
        quoted.push_back(c);
      }
      quoted.push_back('"');
      std::string value = e.type == "integer" || e.type == "boolean" ? e.value : quoted;
      std::cout << e.key.substr(dot + 1) << " = " << value << "  # " << e.env
                << (e.secret ? " (secret)" : "") << "\n";
    }
  }
  return 0;
}

int run_serve(const std::string& config_path) {
  config cfg;
  if (!load(config_path, cfg)) return 2;
  spdlog::set_pattern("%v");
  // Block the stop signals in every thread; this one waits for them below.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  std::unique_ptr<store> db;
  try {
    db = open_store(cfg.store.url, store_opts(cfg));
    db->migrate();
    if (!cfg.redis.url.empty()) db = make_caching_store(std::move(db), cfg.redis.url, cfg.redis.cache_ttl);
  } catch (const std::exception& e) {
    std::cerr << "cartd: cannot open the store: " << e.what() << "\n";
    return 1;
  }
  metrics stats;
  store* rules_store = db.get();
  pricing_book pricing([rules_store] { return load_pricing_rules(*rules_store); });
  node_runtime runtime(cfg, *db, stats, &pricing);
  runtime.start_checkout([](const priced_totals& p) {
    json_writer w;
    write_priced_totals(w, p);
    return w.str();
  });
  service svc{runtime, cfg, stats, jwt_of(cfg), {}, now_ms(), new_uuid_v7(now_ms()), {}, {}, nullptr};
  svc.limiter = std::make_unique<rate_limiter>(cfg, stats);
  std::unique_ptr<event_relay> relay;
  if (!cfg.redis.url.empty()) {
    relay = std::make_unique<event_relay>(*db, cfg.redis.url, stats);
    svc.relay = relay.get();
  }
  // Abandoned-cart events only when events flow (Redis configured), like every other event.
  cart_lifecycle lifecycle(*db, stats,
                           lifecycle_settings{cfg.cart.abandon_after, cfg.cart.expire_after,
                                              cfg.cart.sweep_interval, !cfg.redis.url.empty()});
  svc.lifecycle = &lifecycle;
  auto reconciler = std::make_unique<checkout_reconciler>(
      *db, stats, *runtime.payments(), *runtime.checkout_figures(), runtime.checkouts(),
      &runtime.catalog(), cfg.checkout.reconcile_interval, cfg.payments.timeout);
  svc.reconciler = reconciler.get();
  runtime.set_renderer(
      [&svc](const render_spec& spec, const cart_reply& r) { return render_forwarded(svc, spec, r); });
  try {
    runtime.start_cluster(
        [](const checkout_forward& cf, const checkout_reply& r) {
          return render_checkout_forwarded(cf, r);
        });
  } catch (const std::exception& e) {
    std::cerr << "cartd: " << e.what() << "\n";
    return 1;
  }
  http_server server(svc);
  int port = 0;
  try {
    port = server.start();
  } catch (const std::exception& e) {
    std::cerr << "cartd: cannot listen on " << cfg.http.address << ":" << cfg.http.port << ": "
              << e.what() << "\n";
    return 1;
  }
  std::cout << "cartd " << CARTD_VERSION << " listening on http://" << cfg.http.address << ":"
            << port << "/api/v1 (store " << db->kind() << ")" << std::endl;

  int sig = 0;
  sigwait(&stop_signals, &sig);
  if (cfg.http.drain_period.count() > 0) {
    // Not ready first, still serving: the balancer (nginx, a Kubernetes Service) stops sending
    // new requests here. A second signal ends the drain early.
    svc.draining = true;
    runtime.leave_cluster();
    spdlog::info(R"({{"msg":"draining","signal":{},"drainMillis":{}}})", sig,
                 cfg.http.drain_period.count());
    auto ms = cfg.http.drain_period.count();
    timespec wait{static_cast<time_t>(ms / 1000), static_cast<long>((ms % 1000) * 1'000'000)};
    while (sigtimedwait(&stop_signals, nullptr, &wait) < 0 && errno == EINTR) {
    }
  }
  spdlog::info(R"({{"msg":"stopping","signal":{}}})", sig);
  server.stop();      // stop accepting, answer what is in flight
  svc.reconciler = nullptr;
  reconciler.reset();  // its handle to the checkout registry goes before the actors
  runtime.shutdown(); // then the actors; every acknowledged write is already committed
  relay.reset();      // then publish what the outbox still holds, if Redis answers
  spdlog::info(R"({"msg":"stopped"})");
  spdlog::default_logger()->flush();
  return 0;
}

}  // namespace cartd
