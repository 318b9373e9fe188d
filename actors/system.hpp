#pragma once
// The actor side of a node: the CAF system and the long-lived actors every request reaches.
#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>

#include <functional>
#include <memory>
#include <string>

#include "actors/cart_registry.hpp"
#include "actors/catalog_cache.hpp"
#include "actors/metrics.hpp"
#include "config/config.hpp"
#include "persistence/store.hpp"

namespace cartd {

class bulkhead;
class cluster_view;
struct cart_reply;
struct forward_answer;
struct render_spec;
struct checkout_forward;
struct checkout_reply;
class payment_gateway;
struct checkout_stats;
struct priced_totals;

class node_runtime {
 public:
  /// `pricing` may be null (no pricing rules: tests of carts alone).
  node_runtime(const config& cfg, store& s, metrics& m, pricing_book* pricing = nullptr);
  ~node_runtime();
  node_runtime(const node_runtime&) = delete;
  node_runtime& operator=(const node_runtime&) = delete;

  caf::actor_system& system() { return *system_; }
  const cart_registry_actor& registry() const { return registry_; }
  const caf::actor& store_pool() const { return store_pool_; }
  const caf::actor& writer() const { return writer_; }
  const registry_stats& carts() const { return *stats_; }
  metrics& stats() { return metrics_; }
  catalog_cache& catalog() { return catalog_; }
  pricing_book* pricing() { return pricing_; }
  /// The pricing bulkhead (quotes, GET /cart/{id}/totals).
  bulkhead& pricing_workers() { return *pricing_pool_; }
  /// The payments bulkhead (every call to the payment provider).
  bulkhead& payment_workers() { return *payment_pool_; }
  store& db() { return store_; }
  const config& settings() const { return cfg_; }

  /// Starts checkout: the payment provider behind its gateway and the checkout registry.
  /// `render_totals` writes locked totals as API.md's JSON (the HTTP side's writer).
  void start_checkout(std::function<std::string(const priced_totals&)> render_totals);
  /// Null until start_checkout.
  const caf::actor& checkouts() const { return checkouts_; }
  const caf::actor& orders() const { return orders_; }
  payment_gateway* payments() { return payments_.get(); }
  checkout_stats* checkout_figures() { return checkout_stats_.get(); }

  /// The HTTP side's renderer of cart replies: a cart stores an Idempotency-Key answer it
  /// renders with the change, and a forwarded request's owner answers with it. Set it once,
  /// before the first request (before HTTP and the cluster start); without it the front end
  /// stores Idempotency-Key answers itself after the reply.
  void set_renderer(std::function<forward_answer(const render_spec&, const cart_reply&)> render);

  /// Clustered nodes only (cluster.node set): spawns this node's cluster face, publishes it on
  /// cluster.node (blocking: call from main before HTTP starts) and starts joining the seeds.
  /// `render_checkout` turns a checkout reply into the HTTP answer a forwarded request asks
  /// for. Throws std::runtime_error when the cluster port cannot be bound.
  void start_cluster(
      std::function<forward_answer(const checkout_forward&, const checkout_reply&)> render_checkout);
  /// Null on a single node.
  cluster_view* cluster() { return cluster_.get(); }
  const caf::actor& cluster_face() const { return face_; }

  /// Stops the long-lived actors (after the HTTP side stopped); pending writes finish first.
  /// Drain: this node leaves its cluster's placement (its carts re-home to the others, which
  /// it forwards to until it stops). Nothing without a cluster.
  void leave_cluster();
  void shutdown();

 private:
  const config& cfg_;
  store& store_;
  metrics& metrics_;
  caf::actor_system_config caf_cfg_;
  std::unique_ptr<caf::actor_system> system_;
  catalog_cache catalog_;
  pricing_book* pricing_;
  std::shared_ptr<registry_stats> stats_ = std::make_shared<registry_stats>();
  /// Read by cart actors and the cluster face through a pointer (cart_deps::render).
  std::function<forward_answer(const render_spec&, const cart_reply&)> render_;
  caf::actor store_pool_;
  std::unique_ptr<bulkhead> pricing_pool_;
  std::unique_ptr<bulkhead> payment_pool_;
  caf::actor writer_;
  cart_registry_actor registry_;
  std::unique_ptr<payment_gateway> payments_;
  std::unique_ptr<checkout_stats> checkout_stats_;
  caf::actor checkouts_;
  caf::actor orders_;
  std::shared_ptr<cluster_view> cluster_;
  caf::actor face_;
};

}  // namespace cartd
