#include "actors/system.hpp"

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include <cstdlib>
#include <future>
#include <thread>

#include "actors/bulkhead.hpp"
#include "actors/checkout_actor.hpp"
#include "actors/orders_actor.hpp"
#include "actors/payment_gateway.hpp"
#include "actors/snapshot_writer.hpp"
#include "actors/store_pool.hpp"

namespace cartd {

node_runtime::node_runtime(const config& cfg, store& s, metrics& m, pricing_book* pricing)
    : cfg_(cfg), store_(s), metrics_(m), catalog_(cfg.catalog.cache_ttl), pricing_(pricing) {
  // Work stealing sleeps between polls, which costs ~150 µs per hop on this kind of VM: the
  // sharing scheduler is the default (see ../shared/NOTES.md), stealing stays selectable.
  caf_cfg_.set("scheduler.policy", cfg.actors.scheduler == "sharing" ? caf::atom("sharing")
                                                                      : caf::atom("stealing"));
  caf_cfg_.set("scheduler.max-threads", static_cast<size_t>(cfg.actors.threads));
  caf_cfg_.set("work-stealing.moderate-poll-attempts", static_cast<size_t>(0));
  caf_cfg_.set("logger.verbosity", caf::atom("quiet"));
  system_ = std::make_unique<caf::actor_system>(caf_cfg_);

  store_pool_ = spawn_store_pool(*system_, s, m, cfg.store.workers);
  pricing_pool_ = std::make_unique<bulkhead>(*system_, m, "pricing", cfg.pricing.workers,
                                             cfg.pricing.queue_max);
  payment_pool_ = std::make_unique<bulkhead>(*system_, m, "payments", cfg.payments.workers,
                                             cfg.payments.queue_max);
  writer_options wo;
  wo.batch_max = cfg.store.group_commit ? cfg.store.batch_max : 1;
  // SQLite has one writer; PostgreSQL takes two transactions at once (one commits while the
  // next batch fills).
  wo.max_in_flight = s.kind() == "sqlite" ? 1 : 2;
  writer_ = spawn_snapshot_writer(*system_, s, m, wo);

  cart_deps deps;
  deps.store_pool = store_pool_;
  deps.writer = writer_;
  deps.stats = &m;
  deps.catalog = &catalog_;
  deps.pricing = pricing;
  deps.limits = cart_limits{cfg.cart.max_quantity_per_line, cfg.cart.max_lines};
  deps.idle_timeout = cfg.cart.idle_timeout;
  deps.io_timeout = cfg.http.request_timeout * 4 / 5;
  deps.publish_events = !cfg.redis.url.empty();
  registry_ = spawn_cart_registry(*system_, deps,
                                  std::make_shared<local_placement>(cfg.node.name), stats_);
}

void node_runtime::start_checkout(std::function<std::string(const priced_totals&)> render_totals) {
  payments_ = std::make_unique<payment_gateway>(
      make_payment_provider(cfg_, store_), *payment_pool_, metrics_.checkout(),
      breaker_settings{cfg_.payments.breaker_failures, cfg_.payments.breaker_cooldown.count()},
      cfg_.payments.timeout);
  checkout_stats_ = std::make_unique<checkout_stats>();
  checkout_deps d;
  d.store_pool = store_pool_;
  d.carts = registry_;
  d.stats = &metrics_;
  d.figures = checkout_stats_.get();
  d.pricing = pricing_;
  d.catalog = &catalog_;
  d.payments = payments_.get();
  d.render_totals = std::move(render_totals);
  d.session_ttl = cfg_.checkout.session_ttl;
  d.io_timeout = cfg_.http.request_timeout * 4 / 5;
  d.idle_timeout = cfg_.cart.idle_timeout;
  d.publish_events = !cfg_.redis.url.empty();
  d.crash_after_authorize = cfg_.testing.crash_after_authorize;
  d.crash_after_order = cfg_.testing.crash_after_order;
  checkouts_ = spawn_checkout_registry(*system_, std::move(d));
  orders_ = spawn_orders_actor(*system_, orders_deps{store_pool_, &metrics_, payments_.get(),
                                                     &catalog_, cfg_.http.request_timeout * 4 / 5,
                                                     !cfg_.redis.url.empty()});
}

node_runtime::~node_runtime() { shutdown(); }  // before the bulkheads go: their actors use them

void node_runtime::shutdown() {
  if (!system_) return;
  // The registry goes first: its carts are linked to nothing, so stop them through it, then
  // the writer (its queue is empty once no cart is waiting), then the store workers.
  if (payments_) payments_->stop();  // wakes calls stalled on purpose (tok_timeout)
  for (auto* a : {&orders_, &checkouts_, &registry_, &writer_, &store_pool_}) {
    if (*a) caf::anon_send_exit(*a, caf::exit_reason::user_shutdown);
  }
  if (pricing_pool_) pricing_pool_->stop();
  if (payment_pool_) payment_pool_->stop();
  orders_ = nullptr;
  checkouts_ = nullptr;
  registry_ = nullptr;
  writer_ = nullptr;
  store_pool_ = nullptr;
  // ~actor_system waits for every actor and detached thread; CAF 0.17.6 was seen to wait
  // forever under load after all of them were gone. Bound the wait: once it runs out, every
  // acknowledged write is committed already (an answer follows its commit), so the process
  // may end; it ends with 1 if the writer still had writes queued.
  auto done = std::make_shared<std::promise<void>>();
  std::thread([finished = done->get_future(), m = &metrics_]() {
    if (finished.wait_for(std::chrono::seconds(10)) == std::future_status::ready) return;
    bool queued = m->snapshot_queue_depth.Value() > 0;
    spdlog::error(R"({{"msg":"actor system did not stop in time; exiting","writesQueued":{}}})",
                  queued);
    spdlog::default_logger()->flush();
    std::_Exit(queued ? 1 : 0);
  }).detach();
  system_.reset();
  done->set_value();
}

}  // namespace cartd
