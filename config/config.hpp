#pragma once
// One config struct: defaults, then the TOML file, then CARTD_<SECTION>_<KEY> environment,
// validated once with every error listed. Nothing else reads the environment.
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace cartd {

using millis = std::chrono::milliseconds;

struct config {
  struct http_section {
    std::string address = "127.0.0.1";
    int port = 8080;
    int threads = 2;
    millis request_timeout{5000};
    bool access_log = true;
    std::int64_t max_body = 64 * 1024;
    /// After SIGTERM: /health/ready answers 503 while the node keeps serving this long, then it
    /// stops accepting. 0 (the default, and what API.md's SIGTERM says) stops at once; a
    /// deployment behind a balancer sets it (deploy/k8s: 10s).
    millis drain_period{0};
    /// Browser storefronts allowed to call the API cross-origin: comma-separated origins
    /// (`https://shop.example`); none by default.
    std::string cors_origins;
    /// Slow clients (slowloris): a request's headers must arrive within header_timeout of its
    /// first byte, its body within body_timeout; else 408 and the connection is closed.
    millis header_timeout{10000};
    millis body_timeout{30000};
    /// Open client connections at most; beyond it a new connection's first request is answered
    /// 503 and the connection closed. Capped below the process's file-descriptor limit.
    int max_connections = 10000;
    /// A keep-alive connection with no request in flight is closed after this long.
    millis idle_timeout{75000};
  } http;
  struct store_section {
    std::string url = "sqlite://./data/cartd.db";
    bool group_commit = true;
    int batch_max = 256;
    int workers = 2;
    int pool_size = 8;  ///< PostgreSQL connections (store workers + committers need one each)
  } store;
  struct redis_section {
    std::string url;
    millis cache_ttl{60000};  ///< catalog and session entries in Redis
  } redis;
  struct auth_section {
    std::string jwt_secret;
    std::string issuer;
    std::string audience;
    /// A bearer token (at least 16 bytes) that opens /dashboard to an operator without an admin
    /// JWT; unset: only admin JWTs do.
    std::string operator_token;
  } auth;
  struct cart_section {
    millis idle_timeout{5 * 60 * 1000};
    int max_quantity_per_line = 999;
    int max_lines = 100;
    /// Active carts one user or one guest session may hold (POST /cart beyond: 409
    /// cart_limit_exceeded); 0: no limit.
    int max_active_carts = 50;
    millis abandon_after{24LL * 3600 * 1000};
    millis expire_after{30LL * 24 * 3600 * 1000};
    millis sweep_interval{60 * 1000};  ///< how often the lifecycle sweeper looks
  } cart;
  struct pricing_section {
    int workers = 2;       ///< pricing actors (detached: a thread each), the bulkhead's size
    int queue_max = 256;   ///< jobs waiting beyond the workers; more are refused with 503
  } pricing;
  struct catalog_section {
    millis cache_ttl{2000};  ///< 0 disables the in-process product cache
  } catalog;
  struct session_section {
    millis ttl{30LL * 24 * 3600 * 1000};
  } session;
  struct idempotency_section {
    millis ttl{24LL * 3600 * 1000};
  } idempotency;
  struct actors_section {
    std::string scheduler = "sharing";
    int threads = 2;
  } actors;
  struct node_section {
    std::string name;
  } node;
  /// Off unless `node` is set; needs a PostgreSQL store (README, "Running a cluster").
  struct cluster_section {
    std::string node;   ///< host:port to publish on, bound to that address only
    std::string seeds;  ///< comma-separated host:port of peers (may include this node)
    millis heartbeat_interval{250};  ///< CAF middleman heartbeats, the same on every node
    millis connection_timeout{1000};  ///< a peer silent this long is down (SIGSTOP, partition)
    millis connect_timeout{1000};     ///< one connect-and-greet attempt to a peer
    millis forward_timeout{2000};     ///< a request forwarded to its cart's owner
    millis gossip_interval{500};      ///< membership exchange with each live member
    millis join_timeout{5000};        ///< ready alone after this when no seed answers
    // Mutual TLS between nodes (CAF's OpenSSL module): all three or none. A peer must show a
    // certificate signed by the cluster CA; no host name is checked.
    std::string tls_certificate;  ///< this node's certificate (PEM)
    std::string tls_key;          ///< its private key (PEM)
    std::string tls_cafile;       ///< the cluster CA (PEM)
  } cluster;
  struct rate_limit_section {
    bool enabled = true;
    int rps = 200;
    int burst = 400;
  } rate_limit;
  struct payments_section {
    std::string provider = "simulated";  ///< simulated | http
    std::string url;                     ///< the http provider's base URL
    std::string api_key;
    std::string webhook_secret;  ///< required with http
    millis timeout{10000};       ///< each provider call
    int workers = 4;             ///< the payments bulkhead's size (detached actors)
    int queue_max = 64;          ///< calls waiting beyond the workers; more are refused with 503
    int breaker_failures = 5;    ///< consecutive provider failures that open the breaker
    millis breaker_cooldown{30000};
  } payments;
  struct checkout_section {
    millis session_ttl{15 * 60 * 1000};
    millis reconcile_interval{30000};
  } checkout;
  /// Fault points for tests only (never set in production): the process dies at that point.
  struct testing_section {
    bool crash_after_authorize = false;  ///< after the provider authorized, before the order
    bool crash_after_order = false;      ///< after the order committed, before the capture
  } testing;

  /// The data directory (where the SQLite file and a generated JWT secret live).
  std::string data_dir() const;
};

/// "host:port" split (port 1..65535); false when malformed.
bool split_host_port(const std::string& text, std::string& host, std::uint16_t& port);

/// Parses `250ms`, `2s`, `15m`, `24h`; false when malformed.
bool parse_duration(const std::string& text, millis& out);

/// Loads defaults ← TOML file (empty path: none) ← environment. On any invalid value returns
/// false and fills `errors` with every problem found.
bool load_config(const std::string& toml_path, const std::map<std::string, std::string>& env,
                 config& out, std::vector<std::string>& errors);
/// load_config with the TOML file's content given (none: no file); `name` names it in errors.
bool load_config_text(const std::optional<std::string>& toml_text, const std::string& name,
                      const std::map<std::string, std::string>& env, config& out,
                      std::vector<std::string>& errors);

/// One configuration key as `cartd config --print` shows it.
struct config_entry {
  std::string key;    ///< section.key
  std::string env;    ///< CARTD_SECTION_KEY
  std::string type;   ///< text | integer | boolean | duration
  std::string value;  ///< the effective value as text; secrets masked
  bool secret = false;
};

/// Every key the loader knows, in table order, with its effective value in `c`. Secrets (the
/// JWT secret, tokens, payment keys) show as "********" when set; a password inside a store or
/// Redis URL is masked the same way.
std::vector<config_entry> describe_config(const config& c);

/// The process environment's CARTD_* variables.
std::map<std::string, std::string> cartd_environment();

}  // namespace cartd
