#include "config/config.hpp"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <optional>
#include <toml++/toml.h>

#include "persistence/redis_client.hpp"

extern char** environ;

namespace cartd {

namespace {

enum class kind { text, integer, boolean, duration };

struct key_spec {
  const char* name;  ///< section.key
  kind type;
  void* field;
  std::int64_t min = 0;
  std::int64_t max = 0;
  std::function<std::string(const std::string&)> check;  ///< "" when valid
};

std::string env_name(const std::string& dotted) {
  std::string out = "CARTD_";
  for (char c : dotted) out.push_back(c == '.' ? '_' : static_cast<char>(std::toupper(c)));
  return out;
}

std::string check_url(const std::string& v) {
  if (v.rfind("sqlite://", 0) == 0 && v.size() > 9) return "";
  if (v.rfind("postgresql://", 0) == 0 || v.rfind("postgres://", 0) == 0) return "";
  return "must be sqlite://PATH or postgresql://…";
}

std::string check_scheduler(const std::string& v) {
  return v == "sharing" || v == "stealing" ? "" : "must be sharing or stealing";
}

bool is_host_port(const std::string& v) {
  std::string host;
  std::uint16_t port = 0;
  return split_host_port(v, host, port) && v.find_first_of(" ,") == std::string::npos;
}

std::string check_readable(const std::string& v) {
  if (v.empty()) return "";
  std::ifstream f(v);
  return f.good() ? "" : "must name a readable file";
}

std::string check_seeds(const std::string& v) {
  std::size_t i = 0;
  while (i <= v.size() && !v.empty()) {
    auto comma = v.find(',', i);
    auto item = v.substr(i, comma == std::string::npos ? std::string::npos : comma - i);
    if (!is_host_port(item)) return "must be a comma-separated list of HOST:PORT";
    if (comma == std::string::npos) break;
    i = comma + 1;
  }
  return "";
}

/// Comma-separated origins: scheme://host[:port], no path, no wildcard.
std::string check_origins(const std::string& v) {
  std::size_t i = 0;
  while (!v.empty() && i <= v.size()) {
    auto comma = v.find(',', i);
    auto o = v.substr(i, comma == std::string::npos ? std::string::npos : comma - i);
    bool scheme = o.rfind("https://", 0) == 0 || o.rfind("http://", 0) == 0;
    auto rest = scheme ? o.substr(o.find("://") + 3) : std::string{};
    if (!scheme || rest.empty() || rest.find_first_of("/ *?#") != std::string::npos)
      return "must be a comma-separated list of origins like https://shop.example";
    if (comma == std::string::npos) break;
    i = comma + 1;
  }
  return "";
}

std::vector<key_spec> specs(config& c) {
  return {
      {"http.address", kind::text, &c.http.address, 0, 0, nullptr},
      {"http.port", kind::integer, &c.http.port, 0, 65535, nullptr},
      {"http.threads", kind::integer, &c.http.threads, 1, 64, nullptr},
      {"http.request_timeout", kind::duration, &c.http.request_timeout, 10, 600000, nullptr},
      {"http.access_log", kind::boolean, &c.http.access_log, 0, 0, nullptr},
      {"http.drain_period", kind::duration, &c.http.drain_period, 0, 600000, nullptr},
      {"http.cors_origins", kind::text, &c.http.cors_origins, 0, 0, check_origins},
      {"http.header_timeout", kind::duration, &c.http.header_timeout, 100, 600000, nullptr},
      {"http.body_timeout", kind::duration, &c.http.body_timeout, 100, 600000, nullptr},
      {"http.max_connections", kind::integer, &c.http.max_connections, 1, 1000000, nullptr},
      {"http.idle_timeout", kind::duration, &c.http.idle_timeout, 100, 3600000, nullptr},
      {"store.url", kind::text, &c.store.url, 0, 0, check_url},
      {"store.group_commit", kind::boolean, &c.store.group_commit, 0, 0, nullptr},
      {"store.batch_max", kind::integer, &c.store.batch_max, 1, 10000, nullptr},
      {"store.workers", kind::integer, &c.store.workers, 1, 64, nullptr},
      {"store.pool_size", kind::integer, &c.store.pool_size, 1, 256, nullptr},
      {"redis.url", kind::text, &c.redis.url, 0, 0,
       [](const std::string& v) {
         std::string host;
         int port = 0;
         return v.empty() || parse_redis_url(v, host, port) ? "" : "must be redis://HOST:PORT";
       }},
      {"redis.cache_ttl", kind::duration, &c.redis.cache_ttl, 100, 86400000, nullptr},
      {"auth.jwt_secret", kind::text, &c.auth.jwt_secret, 0, 0,
       [](const std::string& v) { return v.size() >= 16 ? "" : "must be at least 16 bytes"; }},
      {"auth.issuer", kind::text, &c.auth.issuer, 0, 0, nullptr},
      {"auth.audience", kind::text, &c.auth.audience, 0, 0, nullptr},
      {"auth.operator_token", kind::text, &c.auth.operator_token, 0, 0,
       [](const std::string& v) { return v.empty() || v.size() >= 16 ? "" : "must be at least 16 bytes"; }},
      {"cart.idle_timeout", kind::duration, &c.cart.idle_timeout, 10, 7LL * 86400000, nullptr},
      {"cart.max_quantity_per_line", kind::integer, &c.cart.max_quantity_per_line, 1, 1000000,
       nullptr},
      {"cart.max_active_carts", kind::integer, &c.cart.max_active_carts, 0, 100000, nullptr},
      {"cart.max_lines", kind::integer, &c.cart.max_lines, 1, 10000, nullptr},
      {"cart.abandon_after", kind::duration, &c.cart.abandon_after, 1000, 365LL * 86400000,
       nullptr},
      {"cart.expire_after", kind::duration, &c.cart.expire_after, 1000, 3650LL * 86400000, nullptr},
      {"cart.sweep_interval", kind::duration, &c.cart.sweep_interval, 100, 86400000, nullptr},
      {"pricing.workers", kind::integer, &c.pricing.workers, 1, 64, nullptr},
      {"pricing.queue_max", kind::integer, &c.pricing.queue_max, 0, 100000, nullptr},
      {"catalog.cache_ttl", kind::duration, &c.catalog.cache_ttl, 0, 3600000, nullptr},
      {"session.ttl", kind::duration, &c.session.ttl, 1000, 3650LL * 86400000, nullptr},
      {"idempotency.ttl", kind::duration, &c.idempotency.ttl, 86400000, 3650LL * 86400000, nullptr},
      {"actors.scheduler", kind::text, &c.actors.scheduler, 0, 0, check_scheduler},
      {"actors.threads", kind::integer, &c.actors.threads, 1, 256, nullptr},
      {"node.name", kind::text, &c.node.name, 0, 0, nullptr},
      {"cluster.node", kind::text, &c.cluster.node, 0, 0,
       [](const std::string& v) {
         return v.empty() || is_host_port(v) ? "" : "must be HOST:PORT (an address to bind)";
       }},
      {"cluster.seeds", kind::text, &c.cluster.seeds, 0, 0, check_seeds},
      {"cluster.heartbeat_interval", kind::duration, &c.cluster.heartbeat_interval, 10, 60000,
       nullptr},
      {"cluster.connection_timeout", kind::duration, &c.cluster.connection_timeout, 20, 600000,
       nullptr},
      {"cluster.connect_timeout", kind::duration, &c.cluster.connect_timeout, 10, 60000, nullptr},
      {"cluster.forward_timeout", kind::duration, &c.cluster.forward_timeout, 10, 600000, nullptr},
      {"cluster.gossip_interval", kind::duration, &c.cluster.gossip_interval, 10, 60000, nullptr},
      {"cluster.join_timeout", kind::duration, &c.cluster.join_timeout, 0, 600000, nullptr},
      {"cluster.tls_certificate", kind::text, &c.cluster.tls_certificate, 0, 0, check_readable},
      {"cluster.tls_key", kind::text, &c.cluster.tls_key, 0, 0, check_readable},
      {"cluster.tls_cafile", kind::text, &c.cluster.tls_cafile, 0, 0, check_readable},
      {"rate_limit.enabled", kind::boolean, &c.rate_limit.enabled, 0, 0, nullptr},
      {"rate_limit.rps", kind::integer, &c.rate_limit.rps, 1, 1000000, nullptr},
      {"rate_limit.burst", kind::integer, &c.rate_limit.burst, 1, 1000000, nullptr},
      {"payments.provider", kind::text, &c.payments.provider, 0, 0,
       [](const std::string& v) {
         return v == "simulated" || v == "http" ? "" : "must be simulated or http";
       }},
      {"payments.url", kind::text, &c.payments.url, 0, 0,
       [](const std::string& v) {
         return v.empty() || v.rfind("http://", 0) == 0 || v.rfind("https://", 0) == 0
                    ? ""
                    : "must be an http:// or https:// URL";
       }},
      {"payments.api_key", kind::text, &c.payments.api_key, 0, 0, nullptr},
      {"payments.webhook_secret", kind::text, &c.payments.webhook_secret, 0, 0, nullptr},
      {"payments.timeout", kind::duration, &c.payments.timeout, 1, 600000, nullptr},
      {"payments.workers", kind::integer, &c.payments.workers, 1, 256, nullptr},
      {"payments.queue_max", kind::integer, &c.payments.queue_max, 0, 100000, nullptr},
      {"payments.breaker_failures", kind::integer, &c.payments.breaker_failures, 1, 1000, nullptr},
      {"payments.breaker_cooldown", kind::duration, &c.payments.breaker_cooldown, 10, 86400000,
       nullptr},
      {"checkout.session_ttl", kind::duration, &c.checkout.session_ttl, 1000, 86400000, nullptr},
      {"testing.crash_after_authorize", kind::boolean, &c.testing.crash_after_authorize, 0, 0,
       nullptr},
      {"testing.crash_after_order", kind::boolean, &c.testing.crash_after_order, 0, 0, nullptr},
      {"checkout.reconcile_interval", kind::duration, &c.checkout.reconcile_interval, 100,
       86400000, nullptr},
  };
}

bool parse_bool(const std::string& v, bool& out) {
  if (v == "true" || v == "1" || v == "yes" || v == "on") return out = true, true;
  if (v == "false" || v == "0" || v == "no" || v == "off") return out = false, true;
  return false;
}

bool parse_int(const std::string& v, std::int64_t& out) {
  if (v.empty() || v.size() > 18) return false;
  std::size_t i = v[0] == '-' ? 1 : 0;
  if (i == v.size()) return false;
  for (std::size_t j = i; j < v.size(); ++j)
    if (!std::isdigit(static_cast<unsigned char>(v[j]))) return false;
  out = std::stoll(v);
  return true;
}

/// Applies one textual value; returns an error message or "".
std::string apply_value(const key_spec& k, const std::string& v) {
  switch (k.type) {
    case kind::text: {
      if (k.check) {
        if (auto err = k.check(v); !err.empty()) return err;
      }
      *static_cast<std::string*>(k.field) = v;
      return "";
    }
    case kind::integer: {
      std::int64_t n = 0;
      if (!parse_int(v, n)) return "must be an integer, got '" + v + "'";
      if (n < k.min || n > k.max)
        return "must be in " + std::to_string(k.min) + ".." + std::to_string(k.max);
      *static_cast<int*>(k.field) = static_cast<int>(n);
      return "";
    }
    case kind::boolean: {
      bool b = false;
      if (!parse_bool(v, b)) return "must be true or false, got '" + v + "'";
      *static_cast<bool*>(k.field) = b;
      return "";
    }
    case kind::duration: {
      millis d{};
      if (!parse_duration(v, d)) return "must be a duration like 250ms, 2s, 15m, 24h; got '" + v + "'";
      if (d.count() < k.min || d.count() > k.max)
        return "must be between " + std::to_string(k.min) + "ms and " + std::to_string(k.max) + "ms";
      *static_cast<millis*>(k.field) = d;
      return "";
    }
  }
  return "";
}

std::string toml_text(const toml::node& n) {
  if (auto s = n.as_string()) return s->get();
  if (auto i = n.as_integer()) return std::to_string(i->get());
  if (auto b = n.as_boolean()) return b->get() ? "true" : "false";
  return "\x01";  // not a scalar we accept
}

/// `text`: the file's content; `path` names it in errors.
void load_toml(const std::string& text, const std::string& path, std::vector<key_spec>& keys,
               std::vector<std::string>& errors) {
  // toml++ 3.3.0 (Debian 12) reaches an unreachable branch, undefined behaviour, on non-ASCII
  // characters from U+00A1 to U+0499 (found by fuzz/fuzz_config): a config file is ASCII, and
  // a value that needs more (a secret) comes through the environment.
  for (std::size_t i = 0, line = 1; i < text.size(); ++i) {
    if (text[i] == '\n') ++line;
    if (static_cast<unsigned char>(text[i]) >= 0x80) {
      errors.push_back(path + ":" + std::to_string(line) +
                       ": only ASCII is read in a config file (set other values through the "
                       "environment)");
      return;
    }
  }
  toml::table tbl;
  try {
    tbl = toml::parse(text, path);
  } catch (const toml::parse_error& e) {
    errors.push_back(path + ": " + std::string(e.description()));
    return;
  }
  for (auto& [section, node] : tbl) {
    auto* sub = node.as_table();
    if (!sub) {
      errors.push_back(path + ": '" + std::string(section.str()) + "' must be a table");
      continue;
    }
    for (auto& [key, value] : *sub) {
      std::string dotted = std::string(section.str()) + "." + std::string(key.str());
      auto it = std::find_if(keys.begin(), keys.end(),
                             [&](const key_spec& k) { return dotted == k.name; });
      if (it == keys.end()) {
        errors.push_back(path + ": unknown key " + dotted);
        continue;
      }
      std::string text = toml_text(value);
      std::string err = text == "\x01" ? "must be a string, integer or boolean" : apply_value(*it, text);
      if (!err.empty()) errors.push_back(dotted + " (" + path + "): " + err);
    }
  }
}

}  // namespace

bool split_host_port(const std::string& text, std::string& host, std::uint16_t& port) {
  auto colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == text.size()) return false;
  auto digits = text.substr(colon + 1);
  if (digits.size() > 5 || digits.find_first_not_of("0123456789") != std::string::npos)
    return false;
  auto n = std::stoi(digits);
  if (n < 1 || n > 65535) return false;
  host = text.substr(0, colon);
  port = static_cast<std::uint16_t>(n);
  return true;
}

bool parse_duration(const std::string& text, millis& out) {
  std::size_t i = 0;
  while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) ++i;
  if (i == 0 || i > 12) return false;
  std::int64_t n = std::stoll(text.substr(0, i));
  std::string unit = text.substr(i);
  std::int64_t factor = 0;
  if (unit == "ms") factor = 1;
  else if (unit == "s") factor = 1000;
  else if (unit == "m") factor = 60'000;
  else if (unit == "h") factor = 3'600'000;
  else if (unit == "d") factor = 86'400'000;
  else return false;
  out = millis{n * factor};
  return true;
}

std::string config::data_dir() const {
  const std::string prefix = "sqlite://";
  if (store.url.rfind(prefix, 0) == 0) {
    auto parent = std::filesystem::path(store.url.substr(prefix.size())).parent_path();
    return parent.empty() ? "." : parent.string();
  }
  return "./data";
}

bool load_config(const std::string& toml_path, const std::map<std::string, std::string>& env,
                 config& out, std::vector<std::string>& errors) {
  std::optional<std::string> text;
  if (!toml_path.empty()) {
    std::ifstream in(toml_path, std::ios::binary);
    if (!in) {
      errors.push_back(toml_path + ": cannot be read");
      text = "";
    } else {
      text = std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    }
  }
  return load_config_text(text, toml_path, env, out, errors);
}

bool load_config_text(const std::optional<std::string>& toml_text, const std::string& name,
                      const std::map<std::string, std::string>& env, config& out,
                      std::vector<std::string>& errors) {
  auto keys = specs(out);
  if (toml_text) load_toml(*toml_text, name, keys, errors);
  for (const auto& k : keys) {
    auto it = env.find(env_name(k.name));
    if (it == env.end()) continue;
    if (auto err = apply_value(k, it->second); !err.empty())
      errors.push_back(env_name(k.name) + ": " + err);
  }
  if (out.rate_limit.burst < out.rate_limit.rps)
    errors.push_back("rate_limit.burst must be at least rate_limit.rps");
  // A cart purged before it could count as abandoned would never be reported.
  if (out.cart.expire_after <= out.cart.abandon_after)
    errors.push_back(
        "cart.expire_after (CARTD_CART_EXPIRE_AFTER) must be longer than cart.abandon_after");
  if (out.payments.provider == "http") {
    if (out.payments.url.empty())
      errors.push_back("payments.url (CARTD_PAYMENTS_URL) is required with payments.provider=http");
    if (out.payments.webhook_secret.empty())
      errors.push_back(
          "payments.webhook_secret (CARTD_PAYMENTS_WEBHOOK_SECRET) is required with "
          "payments.provider=http");
  }
  if (out.cluster.node.empty() && (!out.cluster.tls_certificate.empty() ||
                                  !out.cluster.tls_key.empty() || !out.cluster.tls_cafile.empty()))
    errors.push_back("cluster.tls_* needs cluster.node (CARTD_CLUSTER_NODE)");
  if (!out.cluster.seeds.empty() && out.cluster.node.empty())
    errors.push_back("cluster.seeds (CARTD_CLUSTER_SEEDS) needs cluster.node (CARTD_CLUSTER_NODE)");
  if (!out.cluster.node.empty()) {
    // Nodes share carts through the store: SQLite is one process's file.
    if (out.store.url.rfind("postgresql://", 0) != 0 && out.store.url.rfind("postgres://", 0) != 0)
      errors.push_back(
          "cluster.node (CARTD_CLUSTER_NODE) needs a PostgreSQL store.url: nodes of a cluster "
          "share one store, and SQLite cannot be shared");
    if (out.cluster.forward_timeout >= out.http.request_timeout)
      errors.push_back("cluster.forward_timeout must be shorter than http.request_timeout");
    int tls = !out.cluster.tls_certificate.empty() + !out.cluster.tls_key.empty() +
              !out.cluster.tls_cafile.empty();
    // CAF's OpenSSL module falls back to an anonymous cipher without certificates: refuse a
    // half configuration rather than run unauthenticated.
    if (tls != 0 && tls != 3)
      errors.push_back(
          "cluster.tls_certificate, cluster.tls_key and cluster.tls_cafile go together: set all "
          "three or none");
    if (out.cluster.connection_timeout <= out.cluster.heartbeat_interval)
      errors.push_back("cluster.connection_timeout must be longer than cluster.heartbeat_interval");
  }
  if (out.node.name.empty() && !out.cluster.node.empty()) out.node.name = out.cluster.node;
  if (out.node.name.empty()) {
    char host[256] = {};
    gethostname(host, sizeof host - 1);
    out.node.name = host;
  }
  return errors.empty();
}

namespace {

bool is_secret_key(const std::string& key) {
  return key == "auth.jwt_secret" || key == "auth.operator_token" || key == "payments.api_key" ||
         key == "payments.webhook_secret" || key == "store.url" || key == "redis.url";
}

constexpr const char* k_mask = "********";

/// scheme://user:password@host/… → scheme://user:********@host/…; and a password=… parameter.
std::string mask_url(std::string url) {
  auto scheme = url.find("://");
  if (scheme != std::string::npos) {
    auto at = url.find('@', scheme + 3);
    auto slash = url.find('/', scheme + 3);
    if (at != std::string::npos && (slash == std::string::npos || at < slash)) {
      auto colon = url.find(':', scheme + 3);
      if (colon != std::string::npos && colon < at) url.replace(colon + 1, at - colon - 1, k_mask);
    }
  }
  for (auto p = url.find("password="); p != std::string::npos; p = url.find("password=", p + 1)) {
    auto end = url.find('&', p);
    url.replace(p + 9, (end == std::string::npos ? url.size() : end) - p - 9, k_mask);
  }
  return url;
}

std::string duration_text(millis d) {
  auto n = d.count();
  if (n != 0 && n % 86'400'000 == 0) return std::to_string(n / 86'400'000) + "d";
  if (n != 0 && n % 3'600'000 == 0) return std::to_string(n / 3'600'000) + "h";
  if (n != 0 && n % 60'000 == 0) return std::to_string(n / 60'000) + "m";
  if (n != 0 && n % 1000 == 0) return std::to_string(n / 1000) + "s";
  return std::to_string(n) + "ms";
}

}  // namespace

std::vector<config_entry> describe_config(const config& c) {
  config copy = c;  // specs() wants fields to point at; it reads them only
  std::vector<config_entry> out;
  for (const auto& k : specs(copy)) {
    config_entry e;
    e.key = k.name;
    e.env = env_name(k.name);
    e.secret = is_secret_key(e.key);
    switch (k.type) {
      case kind::text: {
        const auto& v = *static_cast<const std::string*>(k.field);
        e.type = "text";
        e.value = !e.secret || v.empty() ? v
                  : e.key == "store.url" || e.key == "redis.url" ? mask_url(v)
                                                                 : k_mask;
        break;
      }
      case kind::integer:
        e.type = "integer";
        e.value = std::to_string(*static_cast<const int*>(k.field));
        break;
      case kind::boolean:
        e.type = "boolean";
        e.value = *static_cast<const bool*>(k.field) ? "true" : "false";
        break;
      case kind::duration:
        e.type = "duration";
        e.value = duration_text(*static_cast<const millis*>(k.field));
        break;
    }
    out.push_back(std::move(e));
  }
  return out;
}

std::map<std::string, std::string> cartd_environment() {
  std::map<std::string, std::string> out;
  for (char** e = environ; e && *e; ++e) {
    std::string kv = *e;
    if (kv.rfind("CARTD_", 0) != 0) continue;
    auto eq = kv.find('=');
    if (eq != std::string::npos) out.emplace(kv.substr(0, eq), kv.substr(eq + 1));
  }
  return out;
}

}  // namespace cartd
