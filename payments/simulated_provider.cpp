// The built-in provider: tok_visa authorizes, tok_declined is declined, tok_timeout never
// answers (the call gives up after payments.timeout). Its ledger lives in the store, as a real
// provider's would live at the provider, so captures, voids, refunds and reconciliation's
// look-ups by reference work exactly as they do against `http`.
#include <condition_variable>
#include <mutex>

#include "config/config.hpp"
#include "domain/ids.hpp"
#include "domain/time.hpp"
#include "payments/payment_provider.hpp"
#include "persistence/store.hpp"

namespace cartd {

namespace {

std::string hex_of(const std::string& uuid) {
  std::string out;
  for (char c : uuid)
    if (c != '-') out.push_back(c);
  return out;
}

provider_payment to_provider(const ledger_payment& p) {
  return provider_payment{p.id, p.status, p.amount, p.currency, p.reference};
}

class simulated_provider final : public payment_provider {
 public:
  simulated_provider(store& s, std::chrono::milliseconds timeout) : store_(s), timeout_(timeout) {}

  std::string name() const override { return "simulated"; }

  provider_result authorize(const authorize_request& r) override {
    if (r.token == "tok_timeout") return stall();
    // A replay of the same key answers what the first call did.
    if (auto seen = store_.ledger_by_key(r.idempotency_key)) return answer(*seen);
    ledger_payment p;
    p.id = "pay_" + hex_of(new_uuid_v7(now_ms()));
    p.idempotency_key = r.idempotency_key;
    p.reference = r.reference;
    p.amount = r.amount;
    p.currency = r.currency;
    p.status = r.token == "tok_visa" ? "authorized" : "declined";
    p.created_at_ms = now_ms();
    return answer(store_.ledger_insert(p));
  }

  provider_result capture(const std::string& id, std::int64_t, const std::string&) override {
    return move(id, "authorized", "captured");
  }

  provider_result void_payment(const std::string& id, const std::string&) override {
    return move(id, "authorized", "voided");
  }

  provider_result refund(const std::string& id, std::int64_t, const std::string&) override {
    return move(id, "captured", "refunded");
  }

  std::optional<std::vector<provider_payment>> find_by_reference(
      const std::string& reference) override {
    std::vector<provider_payment> out;
    for (const auto& p : store_.ledger_by_reference(reference)) out.push_back(to_provider(p));
    return out;
  }

  void stop() override {
    std::lock_guard<std::mutex> guard(mtx_);
    stopped_ = true;
    cv_.notify_all();
  }

 private:
  static provider_result answer(const ledger_payment& p) {
    auto outcome = p.status == "declined" ? provider_outcome::declined : provider_outcome::ok;
    return provider_result{outcome, to_provider(p), ""};
  }

  /// Moves a payment from `from` to `to`; repeating a move that is done already answers the
  /// payment as it is (the provider's idempotency), anything else is refused as a failure.
  provider_result move(const std::string& id, const char* from, const char* to) {
    store_.ledger_move(id, from, to);  // a move done before leaves it as it is
    auto p = store_.ledger_get(id);
    if (!p) return provider_result{provider_outcome::declined, {}, "no such payment"};
    if (p->status == to) return provider_result{provider_outcome::ok, to_provider(*p), ""};
    return provider_result{provider_outcome::declined, to_provider(*p), "payment is " + p->status};
  }

  provider_result stall() {
    std::unique_lock<std::mutex> lock(mtx_);
    cv_.wait_for(lock, timeout_, [this] { return stopped_; });
    return provider_result{provider_outcome::timeout, {}, "tok_timeout never answers"};
  }

  store& store_;
  std::chrono::milliseconds timeout_;
  std::mutex mtx_;
  std::condition_variable cv_;
  bool stopped_ = false;
};

}  // namespace

std::unique_ptr<payment_provider> make_http_provider(const config& cfg);

std::unique_ptr<payment_provider> make_payment_provider(const config& cfg, store& s) {
  if (cfg.payments.provider == "http") return make_http_provider(cfg);
  return std::make_unique<simulated_provider>(s, cfg.payments.timeout);
}

}  // namespace cartd
