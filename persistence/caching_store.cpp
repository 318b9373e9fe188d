#include "persistence/caching_store.hpp"

#include <atomic>
#include <mutex>
#include <vector>

#include "persistence/redis_client.hpp"
#include "persistence/snapshot_codec.hpp"

namespace cartd {

namespace {

constexpr const char* k_epoch = "cartd:cache:epoch";

/// SET KEYS[1] ARGV[1] PX ARGV[2] only if the generation KEYS[2] is still ARGV[3] and the
/// epoch KEYS[3] is still ARGV[4] (the values read before the store was asked).
constexpr const char* k_set_if_current = R"lua(
if (redis.call('GET', KEYS[2]) or '0') == ARGV[3] and (redis.call('GET', KEYS[3]) or '0') == ARGV[4] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
)lua";

/// Redis connections of the cache: one per thread that reads or writes the store at once.
constexpr int k_max_redis_connections = 16;

class caching_store final : public store {
 public:
  caching_store(std::unique_ptr<store> inner, std::string url, std::chrono::milliseconds ttl)
      : inner_(std::move(inner)),
        ttl_(ttl),
        redis_("redis", k_max_redis_connections, std::chrono::milliseconds(100),
               [url = std::move(url)] {
                 return std::make_unique<redis_connection>(url, std::chrono::milliseconds(100));
               }) {}

  std::vector<pool_figures> pools() const override {
    auto out = inner_->pools();
    out.push_back(redis_.figures());
    return out;
  }

  std::string kind() const override { return inner_->kind(); }

  // Checkout and orders are never cached: every call reads the store.
  void remember_give_back(const payment_give_back& g) override { inner_->remember_give_back(g); }
  std::vector<payment_give_back> give_backs_due(std::int64_t before_ms, int limit) override {
    return inner_->give_backs_due(before_ms, limit);
  }
  void forget_give_back(const std::string& id) override { inner_->forget_give_back(id); }
  bool remember_event(const std::string& id, std::int64_t now_ms) override {
    return inner_->remember_event(id, now_ms);
  }
  // Reservations and stock commits change a product's `available`: retire its cached copy.
  open_checkout_result open_checkout(const checkout_session& s) override {
    auto r = inner_->open_checkout(s);
    retire_products(s.lines);  // replaced sessions released theirs too: same cart, same lines
    return r;
  }
  std::optional<checkout_session> load_checkout(const std::string& id) override { return inner_->load_checkout(id); }
  std::optional<checkout_session> active_checkout_of(const cart_id& cart) override { return inner_->active_checkout_of(cart); }
  bool update_checkout(const checkout_session& s) override { return inner_->update_checkout(s); }
  bool expire_checkout(const std::string& id, std::int64_t now_ms, bool force) override {
    bool expired = inner_->expire_checkout(id, now_ms, force);
    if (expired) {
      if (auto s = inner_->load_checkout(id)) retire_products(s->lines);
    }
    return expired;
  }
  std::vector<std::string> due_checkouts(std::int64_t now_ms, int limit) override { return inner_->due_checkouts(now_ms, limit); }
  std::vector<checkout_session> processing_checkouts(int limit) override { return inner_->processing_checkouts(limit); }
  place_order_result place_order(const place_order_request& r) override {
    auto out = inner_->place_order(r);
    if (out.result == place_order_result::outcome::placed) {
      retire_products(r.order.items);
      if (!r.discounts.empty()) invalidate("cartd:pricing:discount");  // use counts moved
    }
    return out;
  }
  std::optional<order_record> load_order(const std::string& id) override { return inner_->load_order(id); }
  std::vector<order_record> list_orders(const order_query& q) override { return inner_->list_orders(q); }
  bool update_order(const order_record& o, bool restock,
                    const std::vector<outbox_event>& events) override {
    bool written = inner_->update_order(o, restock, events);
    if (written && restock) retire_products(o.items);
    if (written && restock) invalidate("cartd:pricing:discount");  // uses given back
    return written;
  }
  std::vector<order_record> orders_to_settle(int limit) override { return inner_->orders_to_settle(limit); }
  std::vector<order_record> orders_to_capture(std::int64_t placed_before_ms, int limit) override {
    return inner_->orders_to_capture(placed_before_ms, limit);
  }
  std::optional<ledger_payment> ledger_by_key(const std::string& idempotency_key) override { return inner_->ledger_by_key(idempotency_key); }
  ledger_payment ledger_insert(const ledger_payment& p) override { return inner_->ledger_insert(p); }
  std::optional<ledger_payment> ledger_get(const std::string& id) override { return inner_->ledger_get(id); }
  bool ledger_move(const std::string& id, const std::string& from, const std::string& to) override { return inner_->ledger_move(id, from, to); }
  std::vector<ledger_payment> ledger_by_reference(const std::string& reference) override { return inner_->ledger_by_reference(reference); }
  int migrate() override { return inner_->migrate(); }
  void ping() override { inner_->ping(); }
  std::optional<cart> load_cart(const cart_id& id) override { return inner_->load_cart(id); }
  std::vector<write_status> commit(const std::vector<write_unit>& units) override {
    return inner_->commit(units);
  }
  std::vector<cart> list_carts(const principal& owner, int limit,
                               const std::optional<page_key>& after) override {
    return inner_->list_carts(owner, limit, after);
  }
  int count_active_carts(const principal& owner, int cap) override {
    return inner_->count_active_carts(owner, cap);
  }
  std::vector<product> list_products(const product_query& q) override {
    return inner_->list_products(q);
  }

  bool upsert_product(const product& p) override {
    bool created = inner_->upsert_product(p);
    invalidate("cartd:product:" + p.id.value);
    return created;
  }

  std::optional<product> get_product(const product_id& id) override {
    auto key = "cartd:product:" + id.value;
    std::string gen_seen, epoch_seen;
    if (auto hit = lookup(key, gen_seen, epoch_seen)) {
      if (auto p = decode_product(*hit)) return p;
    }
    auto p = inner_->get_product(id);
    if (p) remember(key, encode_product(*p), gen_seen, epoch_seen);
    return p;
  }

  void create_session(const session& s, const idempotency_completion* completes) override {
    inner_->create_session(s, completes);
  }
  std::optional<session> find_session(const std::string& id) override {
    return inner_->find_session(id);
  }

  std::optional<session> find_session_by_token(const std::string& token_hash) override {
    auto key = "cartd:session:" + token_hash;
    std::string gen_seen, epoch_seen;
    if (auto hit = lookup(key, gen_seen, epoch_seen)) {
      if (auto s = decode_session(*hit)) return s;
    }
    auto s = inner_->find_session_by_token(token_hash);
    if (s) remember(key, encode_session(*s), gen_seen, epoch_seen);
    return s;
  }

  void update_session(const session& s) override {
    inner_->update_session(s);
    invalidate("cartd:session:" + s.token_hash);
  }

  bool delete_session(const std::string& id) override {
    auto s = inner_->find_session(id);
    bool deleted = inner_->delete_session(id);
    if (s) invalidate("cartd:session:" + s->token_hash);
    return deleted;
  }

  idempotency_claim claim_idempotency_key(const idempotency_request& r) override {
    return inner_->claim_idempotency_key(r);
  }
  void complete_idempotency_key(const std::string& scope, const std::string& key,
                                const stored_response& r) override {
    inner_->complete_idempotency_key(scope, key, r);
  }
  void release_idempotency_key(const std::string& scope, const std::string& key) override {
    inner_->release_idempotency_key(scope, key);
  }
  std::vector<outbox_row> fetch_outbox(int limit) override { return inner_->fetch_outbox(limit); }
  bool hold_relay_lease() override { return inner_->hold_relay_lease(); }
  // Pricing rules: one cached list per kind, read by every node's pricing book each second, so
  // the rules reach the store only after an admin write (which retires the list at once).
  bool put_pricing_rule(const pricing_rule& r, const idempotency_completion* completes) override {
    bool created = inner_->put_pricing_rule(r, completes);
    invalidate("cartd:pricing:" + r.kind);
    return created;
  }
  std::vector<pricing_rule> list_pricing_rules(const std::string& kind) override {
    auto key = "cartd:pricing:" + kind;
    std::string gen_seen, epoch_seen;
    if (auto hit = lookup(key, gen_seen, epoch_seen)) {
      if (auto rules = decode_rules(*hit)) return *rules;
    }
    auto rules = inner_->list_pricing_rules(kind);
    remember(key, encode_rules(rules), gen_seen, epoch_seen);
    return rules;
  }
  bool replace_pricing_rule(const pricing_rule& r, const std::string& expected_body) override {
    bool replaced = inner_->replace_pricing_rule(r, expected_body);
    if (replaced) invalidate("cartd:pricing:" + r.kind);
    return replaced;
  }
  bool delete_pricing_rule(const std::string& kind, const std::string& id) override {
    bool deleted = inner_->delete_pricing_rule(kind, id);
    invalidate("cartd:pricing:" + kind);
    return deleted;
  }
  // A use changes `used`, which the cached list carries: retired like an admin write.
  bool count_discount_use(const std::string& id, std::optional<std::int64_t> limit) override {
    bool counted = inner_->count_discount_use(id, limit);
    if (counted) invalidate("cartd:pricing:discount");
    return counted;
  }
  bool release_discount_use(const std::string& id) override {
    bool released = inner_->release_discount_use(id);
    if (released) invalidate("cartd:pricing:discount");
    return released;
  }
  lifecycle_step sweep_carts(const std::string& after_id, int limit, std::int64_t idle_before_ms,
                             std::int64_t expire_before_ms, bool with_events,
                             std::int64_t now_ms) override {
    // Carts are never cached in Redis: nothing to retire.
    return inner_->sweep_carts(after_id, limit, idle_before_ms, expire_before_ms, with_events,
                               now_ms);
  }
  void delete_outbox(const std::vector<std::int64_t>& ids) override {
    inner_->delete_outbox(ids);
  }

 private:
  using lease = bounded_pool<redis_connection>::lease;

  template <class Lines>
  void retire_products(const Lines& lines) {
    for (const auto& l : lines) invalidate("cartd:product:" + l.product.value);
  }

  /// After writes that could not reach Redis, the first contact retires every cached value.
  bool settle_missed(lease& r) {
    if (!missed_) return true;
    auto bumped = r->command({"INCR", k_epoch});
    if (!bumped || bumped->type == redis_value::kind::error) return false;
    missed_ = false;
    return true;
  }

  std::optional<std::string> lookup(const std::string& key, std::string& gen, std::string& epoch) {
    auto leased = redis_.try_acquire();
    if (!leased) return std::nullopt;  // every connection busy: read the store instead
    auto& r = *leased;
    if (!settle_missed(r)) return std::nullopt;
    auto replies = r->pipeline({{"GET", key}, {"GET", key + ":gen"}, {"GET", k_epoch}});
    if (!replies) return std::nullopt;
    gen = (*replies)[1].type == redis_value::kind::text ? (*replies)[1].text : "0";
    epoch = (*replies)[2].type == redis_value::kind::text ? (*replies)[2].text : "0";
    const auto& v = (*replies)[0];
    if (v.type != redis_value::kind::text) return std::nullopt;
    // value = "<epoch>:<gen>:<payload>"
    auto a = v.text.find(':');
    auto b = a == std::string::npos ? a : v.text.find(':', a + 1);
    if (b == std::string::npos) return std::nullopt;
    if (v.text.compare(0, a, epoch) != 0 || v.text.compare(a + 1, b - a - 1, gen) != 0)
      return std::nullopt;  // written before the latest invalidation: stale
    return v.text.substr(b + 1);
  }

  void remember(const std::string& key, const std::string& payload, const std::string& gen,
                const std::string& epoch) {
    if (gen.empty()) return;  // Redis was not reachable on the way in
    auto r = redis_.try_acquire();
    if (!r) return;
    auto& c = *r;
    c->command({"EVAL", k_set_if_current, "3", key, key + ":gen", k_epoch,
                epoch + ":" + gen + ":" + payload, std::to_string(ttl_.count()), gen, epoch});
  }

  void invalidate(const std::string& key) {
    auto leased = redis_.try_acquire();
    if (!leased) {
      missed_ = true;  // retired at the next contact, with every other cached value
      return;
    }
    auto bumped = (*leased)->command({"INCR", key + ":gen"});
    if (!bumped || bumped->type == redis_value::kind::error) missed_ = true;
  }

  static std::string encode_product(const product& p) {
    // Reuse the snapshot codec's JSON style: one line, fields by name.
    std::string out = p.id.value + "\x1f" + p.name + "\x1f" + p.currency + "\x1f" +
                      (p.active ? "1" : "0") + "\x1f" + std::to_string(p.created_at_ms) + "\x1f" +
                      std::to_string(p.updated_at_ms);
    for (const auto& v : p.variants) {
      out += "\x1e" + v.id.value + "\x1f" + v.sku + "\x1f" + std::to_string(v.price) + "\x1f" +
             std::to_string(v.stock) + "\x1f" + std::to_string(v.reserved) + "\x1f" + v.name +
             "\x1f" + encode_options(v.options);
    }
    return out;
  }

  static std::vector<std::string> split(const std::string& s, char sep) {
    std::vector<std::string> out;
    std::size_t start = 0;
    while (true) {
      auto pos = s.find(sep, start);
      out.push_back(s.substr(start, pos == std::string::npos ? std::string::npos : pos - start));
      if (pos == std::string::npos) return out;
      start = pos + 1;
    }
  }

  static std::optional<product> decode_product(const std::string& s) {
    auto records = split(s, '\x1e');
    auto head = split(records[0], '\x1f');
    if (head.size() != 6) return std::nullopt;
    try {
      product p{product_id{head[0]}, head[1], head[2], head[3] == "1", {}, std::stoll(head[4]),
                std::stoll(head[5])};
      for (std::size_t i = 1; i < records.size(); ++i) {
        auto f = split(records[i], '\x1f');
        if (f.size() != 7) return std::nullopt;  // (an older node's entry: read the store)
        p.variants.push_back(variant{variant_id{f[0]}, f[1], std::stoll(f[2]), std::stoll(f[3]),
                                     std::stoll(f[4]), f[5], decode_options(f[6])});
      }
      return p;
    } catch (const std::exception&) {
      return std::nullopt;
    }
  }

  // A rule's body is JSON, which never holds the separators (control characters are escaped).
  static std::string encode_rules(const std::vector<pricing_rule>& rules) {
    std::string out = "v1";
    for (const auto& r : rules) {
      out += "\x1e" + r.kind + "\x1f" + r.id + "\x1f" + r.code + "\x1f" + std::to_string(r.seq) +
             "\x1f" + std::to_string(r.used) + "\x1f" + r.body;
    }
    return out;
  }

  static std::optional<std::vector<pricing_rule>> decode_rules(const std::string& s) {
    auto records = split(s, '\x1e');
    if (records[0] != "v1") return std::nullopt;
    std::vector<pricing_rule> out;
    try {
      for (std::size_t i = 1; i < records.size(); ++i) {
        auto f = split(records[i], '\x1f');
        if (f.size() != 6) return std::nullopt;
        out.push_back(pricing_rule{f[0], f[1], f[2], f[5], std::stoll(f[3]), std::stoll(f[4])});
      }
    } catch (const std::exception&) {
      return std::nullopt;
    }
    return out;
  }

  static std::string encode_session(const session& s) {
    return s.id + "\x1f" + s.token_hash + "\x1f" + s.user_id + "\x1f" + s.device_json + "\x1f" +
           std::to_string(s.expires_at_ms) + "\x1f" + std::to_string(s.created_at_ms);
  }

  static std::optional<session> decode_session(const std::string& text) {
    auto f = split(text, '\x1f');
    if (f.size() != 6) return std::nullopt;
    try {
      return session{f[0], f[1], f[2], f[3], std::stoll(f[4]), std::stoll(f[5])};
    } catch (const std::exception&) {
      return std::nullopt;
    }
  }

  std::unique_ptr<store> inner_;
  std::chrono::milliseconds ttl_;
  bounded_pool<redis_connection> redis_;
  std::atomic<bool> missed_{false};
};

}  // namespace

std::unique_ptr<store> make_caching_store(std::unique_ptr<store> inner, const std::string& redis_url,
                                          std::chrono::milliseconds ttl) {
  return std::make_unique<caching_store>(std::move(inner), redis_url, ttl);
}

}  // namespace cartd
