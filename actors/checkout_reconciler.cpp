#include "actors/checkout_reconciler.hpp"

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include "actors/catalog_cache.hpp"
#include "actors/checkout_actor.hpp"
#include "actors/checkout_protocol.hpp"
#include "actors/log_text.hpp"
#include "actors/metrics.hpp"
#include "actors/payment_gateway.hpp"
#include "domain/time.hpp"
#include "persistence/store.hpp"

namespace cartd {

namespace {
constexpr int k_batch = 200;

bool holds_money(const provider_payment& p) {
  return p.status == "authorized" || p.status == "captured";
}
}  // namespace

checkout_reconciler::checkout_reconciler(store& s, metrics& m, payment_gateway& payments,
                                         checkout_stats& figures, caf::actor checkouts,
                                         catalog_cache* catalog,
                                         std::chrono::milliseconds interval,
                                         std::chrono::milliseconds payment_timeout)
    : store_(s),
      stats_(m),
      payments_(payments),
      checkout_figures_(figures),
      checkouts_(std::move(checkouts)),
      catalog_(catalog),
      interval_(interval),
      payment_timeout_(payment_timeout),
      thread_([this] { run(); }) {}

checkout_reconciler::~checkout_reconciler() {
  {
    std::lock_guard<std::mutex> guard(mtx_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  checkouts_ = nullptr;  // before the actor system goes
}

void checkout_reconciler::run() {
  std::unique_lock<std::mutex> lock(mtx_);
  while (!stop_) {
    lock.unlock();
    round();  // the first round right at start-up: what a crash left behind
    lock.lock();
    cv_.wait_for(lock, interval_, [this] { return stop_; });
  }
}

void checkout_reconciler::round() {
  std::lock_guard<std::mutex> guard(round_mtx_);
  try {
    auto now = now_ms();
    expire_due(now);
    confirm_processing(now);
    settle_cancelled();
    capture_authorized(now);
    give_back_left(now);
    last_round_ms_ = now_ms();
  } catch (const std::exception& e) {
    failures_++;
    spdlog::warn(R"({{"msg":"reconciliation failed","error":{}}})", json_quoted(e.what()));
  }
  rounds_++;
}

void checkout_reconciler::expire_due(std::int64_t now) {
  for (const auto& id : store_.due_checkouts(now, k_batch)) {
    auto before = store_.load_checkout(id);
    if (!store_.expire_checkout(id, now, false)) continue;  // someone else did
    if (before && catalog_)
      for (const auto& l : before->lines) catalog_->invalidate(l.product);
    expired_++;
    checkout_figures_.expired++;
    stats_.checkout().expired.Increment();
    if (!before || before->status != checkout_status::processing) continue;
    // A payment the expired session still holds makes no order: give it back.
    auto found = payments_.lookup_here(id);
    for (const auto& p : found.value_or(std::vector<provider_payment>{})) {
      if (!holds_money(p)) continue;
      payment_give_back g{p.id, p.status, p.amount, now};
      store_.remember_give_back(g);
      give_back_now(g);
    }
  }
}

bool checkout_reconciler::give_back_now(const payment_give_back& g) {
  bool captured = g.status == "captured";
  auto r = payments_.call_here(give_back_operation(captured), [&](payment_provider& p) {
    return give_back(p, g.payment_id, captured, g.amount);
  });
  if (r.how != gateway_result::kind::answered || r.r.outcome != provider_outcome::ok) return false;
  store_.forget_give_back(g.payment_id);
  settled_++;
  stats_.checkout().reconciled.Increment();
  return true;
}

void checkout_reconciler::give_back_left(std::int64_t now) {
  // Remembered a while ago and not confirmed: the call failed, or the process died in it
  // (the key is the same one, so a call that did land is not repeated by the provider).
  for (const auto& g : store_.give_backs_due(now - 2 * payment_timeout_.count(), k_batch))
    give_back_now(g);
}

void checkout_reconciler::confirm_processing(std::int64_t now) {
  for (const auto& s : store_.processing_checkouts(k_batch)) {
    auto found = payments_.lookup_here(s.id);
    if (!found) continue;  // the provider cannot be asked now: next round
    const provider_payment* paid = nullptr;
    bool pending = false;
    for (const auto& p : *found) {
      if (holds_money(p)) paid = &p;
      if (p.status == "pending") pending = true;
    }
    if (paid) {
      // The session's actor places the order exactly as process would.
      caf::anon_send(checkouts_, checkout_confirm{s.id, *paid});
      completed_++;
      stats_.checkout().reconciled.Increment();
      continue;
    }
    // No payment holds money and none is pending: an attempt that died (a crash, a lost
    // answer) long enough ago goes back to open, so the shopper may pay again.
    if (!pending && now - s.updated_at_ms > 3 * payment_timeout_.count()) {
      auto next = s;
      next.status = checkout_status::open;
      next.version += 1;
      next.updated_at_ms = now;
      if (store_.update_checkout(next)) reopened_++;
    }
  }
}

void checkout_reconciler::settle_cancelled() {
  for (auto o : store_.orders_to_settle(k_batch)) {
    bool refund = o.payment.status == payment_status::captured;
    auto id = o.payment.id;
    auto amount = o.payment.amount;
    auto g = payments_.call_here(give_back_operation(refund), [&](payment_provider& p) {
      return give_back(p, id, refund, amount);
    });
    if (g.how != gateway_result::kind::answered || g.r.outcome != provider_outcome::ok) continue;
    o.payment.status = refund ? payment_status::refunded : payment_status::voided;
    o.version += 1;
    o.updated_at_ms = now_ms();
    if (store_.update_order(o, false, {})) {
      settled_++;
      stats_.checkout().reconciled.Increment();
    }
  }
}

void checkout_reconciler::capture_authorized(std::int64_t now) {
  // Placed a while ago and still only authorized: the capture after the order failed (or the
  // process died in between). The capture carries the key of the one it repeats.
  auto before = now - 2 * payment_timeout_.count();
  for (auto o : store_.orders_to_capture(before, k_batch)) {
    auto id = o.payment.id;
    auto amount = o.payment.amount;
    auto g = payments_.call_here("capture", [&](payment_provider& p) {
      return p.capture(id, amount, "cartd-capture-" + id);
    });
    if (g.how != gateway_result::kind::answered || g.r.outcome != provider_outcome::ok) continue;
    o.payment.status = payment_status::captured;
    o.version += 1;
    o.updated_at_ms = now_ms();
    if (store_.update_order(o, false, {})) {
      settled_++;
      stats_.checkout().reconciled.Increment();
    }
  }
}

reconcile_figures checkout_reconciler::figures() const {
  return reconcile_figures{rounds_.load(),   expired_.load(),  completed_.load(), reopened_.load(),
                           settled_.load(),  failures_.load(), last_round_ms_.load()};
}

}  // namespace cartd
