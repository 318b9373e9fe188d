#include "actors/system.hpp"

#include <caf/all.hpp>
#include <caf/io/middleman.hpp>
#include <caf/openssl/manager.hpp>
#include <caf/openssl/publish.hpp>
#include <spdlog/spdlog.h>

#include <cstdlib>
#include <future>
#include <thread>

#include "actors/bulkhead.hpp"
#include "actors/cluster.hpp"
#include "actors/wire.hpp"
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
  if (!cfg.cluster.node.empty()) {
    // Remoting (NOTES.md, CAF 0.17.6 remoting): the wire types on every node, heartbeats and
    // the connection timeout set identically everywhere (a frozen peer is dropped only by
    // them), and an app identifier that makes nodes of another wire version refuse us.
    caf_cfg_.load<caf::io::middleman>();
    caf_cfg_.add_message_types<caf::id_block::cartd>();
    caf_cfg_.set("middleman.heartbeat-interval",
                 caf::timespan{std::chrono::milliseconds(cfg.cluster.heartbeat_interval)});
    caf_cfg_.set("middleman.connection-timeout",
                 caf::timespan{std::chrono::milliseconds(cfg.cluster.connection_timeout)});
    caf_cfg_.set("middleman.app-identifiers", std::vector<std::string>{k_wire_version});
    if (!cfg.cluster.tls_certificate.empty()) {
      // Mutual TLS: the config check made sure all three are set (CAF would otherwise fall
      // back to an anonymous cipher and authenticate nobody).
      caf_cfg_.load<caf::openssl::manager>();
      caf_cfg_.openssl_certificate = cfg.cluster.tls_certificate;
      caf_cfg_.openssl_key = cfg.cluster.tls_key;
      caf_cfg_.openssl_cafile = cfg.cluster.tls_cafile;
    }
    cluster_ = std::make_shared<cluster_view>(cfg.cluster.node, m);
  }
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
  deps.render = &render_;
  std::shared_ptr<const placement> where;
  if (cluster_) where = cluster_;
  else where = std::make_shared<local_placement>(cfg.node.name);
  registry_ = spawn_cart_registry(*system_, deps, std::move(where), stats_);
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

void node_runtime::set_renderer(
    std::function<forward_answer(const render_spec&, const cart_reply&)> render) {
  render_ = std::move(render);
}

void node_runtime::start_cluster(
    std::function<forward_answer(const checkout_forward&, const checkout_reply&)> render_checkout) {
  if (!cluster_) return;
  cluster_settings cs;
  cs.node = cfg_.cluster.node;
  std::string list = cfg_.cluster.seeds;
  for (std::size_t i = 0; i < list.size();) {
    auto comma = list.find(',', i);
    auto item = list.substr(i, comma == std::string::npos ? std::string::npos : comma - i);
    if (!item.empty()) cs.seeds.push_back(item);
    if (comma == std::string::npos) break;
    i = comma + 1;
  }
  cs.incarnation = static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(
          std::chrono::system_clock::now().time_since_epoch())
          .count());
  cs.connect_timeout = cfg_.cluster.connect_timeout;
  cs.forward_timeout = cfg_.cluster.forward_timeout;
  cs.gossip_interval = cfg_.cluster.gossip_interval;
  cs.join_timeout = cfg_.cluster.join_timeout;
  cs.tls = !cfg_.cluster.tls_certificate.empty();
  std::string host;
  std::uint16_t port = 0;
  if (!split_host_port(cs.node, host, port))
    throw std::runtime_error("cluster.node must be HOST:PORT");
  face_ = spawn_cluster_face(*system_, std::move(cs), cluster_, registry_, &render_,
                             checkouts_, std::move(render_checkout), metrics_);
  // Bound to the configured address only (an empty host would bind every interface); reuse so
  // that a restarted node takes its port back at once.
  bool tls = !cfg_.cluster.tls_certificate.empty();
  auto bound = tls ? caf::openssl::publish(face_, port, host.c_str(), true)
                   : system_->middleman().publish(face_, port, host.c_str(), true);
  if (!bound)
    throw std::runtime_error("cannot publish on cluster.node " + cfg_.cluster.node + ": " +
                             system_->render(bound.error()));
}

node_runtime::~node_runtime() { shutdown(); }  // before the bulkheads go: their actors use them

void node_runtime::leave_cluster() {
  if (face_) caf::anon_send(face_, leave_atom::value);
}

void node_runtime::shutdown() {
  if (!system_) return;
  // The registry goes first: its carts are linked to nothing, so stop them through it, then
  // the writer (its queue is empty once no cart is waiting), then the store workers.
  if (payments_) payments_->stop();  // wakes calls stalled on purpose (tok_timeout)
  if (face_) caf::anon_send_exit(face_, caf::exit_reason::user_shutdown);
  if (orders_) caf::anon_send_exit(orders_, caf::exit_reason::user_shutdown);
  if (checkouts_) caf::anon_send_exit(checkouts_, caf::exit_reason::user_shutdown);
  if (registry_) caf::anon_send_exit(registry_, caf::exit_reason::user_shutdown);
  if (writer_) caf::anon_send_exit(writer_, caf::exit_reason::user_shutdown);
  if (store_pool_) caf::anon_send_exit(store_pool_, caf::exit_reason::user_shutdown);
  if (pricing_pool_) pricing_pool_->stop();
  if (payment_pool_) payment_pool_->stop();
  face_ = nullptr;
  if (cluster_) cluster_->publish({});  // its snapshot holds handles of remote faces
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
