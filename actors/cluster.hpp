#pragma once
// The cluster side of a node (DESIGN.md, Cluster): who the live members are, which of them owns
// a cart (rendezvous hashing over the live members), and the face each node publishes on its
// cluster port. The face takes forwarded cart requests and membership gossip; it is the one
// actor a peer holds a handle to, and the one whose down_msg tells that a peer is gone.
//
// Membership may disagree for a moment (a partition, a frozen node): correctness comes from the
// store's version condition, never from here. A stale owner's write is refused and it reloads.
#include <caf/actor.hpp>
#include <caf/fwd.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "actors/cart_actor.hpp"
#include "actors/placement.hpp"

namespace prometheus {
class Counter;
class Gauge;
class Histogram;
}  // namespace prometheus

namespace cartd {

struct cart_reply;
struct forward_answer;
struct render_spec;
class metrics;

struct cluster_settings {
  std::string node;                ///< host:port this node publishes on (bound to host only)
  std::vector<std::string> seeds;  ///< host:port of peers to join through
  std::uint64_t incarnation = 0;   ///< distinct per start of this node (its boot time, ms)
  std::chrono::milliseconds connect_timeout{1000};
  std::chrono::milliseconds forward_timeout{2000};
  std::chrono::milliseconds gossip_interval{500};
  std::chrono::milliseconds join_timeout{5000};
  bool tls = false;  ///< connect through CAF's OpenSSL manager (mutual TLS)
};

/// The live members as this node sees them, read by every request (lock-free snapshot).
class cluster_view final : public placement {
 public:
  struct member {
    std::string address;
    std::uint64_t incarnation = 0;
    bool up = false;
    caf::actor face;  ///< null while down
    std::int64_t since_ms = 0;  ///< when it last changed state
  };
  struct figures {
    std::atomic<std::int64_t> forwarded{0};
    std::atomic<std::int64_t> forward_failures{0};
    std::atomic<std::int64_t> served_for_others{0};
    std::atomic<std::int64_t> rehomed{0};  ///< carts this node let go of (no longer its own)
    std::atomic<std::int64_t> member_changes{0};
  };

  cluster_view(std::string self, metrics& m);

  std::string owner_of(const cart_id& id) const override;
  std::string local_node() const override { return self_; }
  void forget_elsewhere(const cart_id& id) const override;

  /// The face of a live member; null for this node or one not live.
  caf::actor face_of(const std::string& address) const;
  /// Every member known, this node included (up or down).
  std::vector<member> members() const;
  /// Replaces the membership (this node is live unless it is leaving); only the membership
  /// actor calls it.
  void publish(std::vector<member> others);
  /// This node is draining: it owns nothing while another member is live (its carts go to
  /// their next owners, which it forwards to). Set by the membership actor before it tells
  /// the others.
  void set_leaving() { leaving_ = true; }
  bool leaving() const { return leaving_; }
  bool joined() const { return joined_; }
  void set_joined() { joined_ = true; }
  /// One forwarded request answered (`ok`) or not within the forward timeout.
  void observe_forward(std::chrono::steady_clock::duration took, bool ok);
  figures& stats() { return stats_; }
  const figures& stats() const { return stats_; }

 private:
  struct snapshot {
    std::vector<std::string> live;  ///< sorted, this node included unless it is leaving
    std::vector<member> all;        ///< others
  };
  std::shared_ptr<const snapshot> current() const;

  std::string self_;
  mutable std::mutex mu_;  ///< guards swaps of snap_ (readers copy the shared_ptr under it)
  std::shared_ptr<const snapshot> snap_;
  std::atomic<bool> joined_{false};
  std::atomic<bool> leaving_{false};
  figures stats_;
  prometheus::Counter* forwarded_ok_ = nullptr;
  prometheus::Counter* forwarded_failed_ = nullptr;
  prometheus::Histogram* forward_seconds_ = nullptr;
};

/// Rendezvous (highest random weight) choice among `live`: stable while membership is.
std::string rendezvous_owner(const std::vector<std::string>& live, const std::string& key);

struct checkout_forward;
struct checkout_reply;
/// Renders a checkout reply as the HTTP answer (the HTTP side provides it).
using checkout_renderer =
    std::function<forward_answer(const checkout_forward&, const checkout_reply&)>;

/// Spawns the face and starts joining: connects to each seed through the middleman actor (with
/// timeouts), gossips addresses, monitors members, reconnects with backoff. The caller
/// publishes the returned handle on the cluster port.
caf::actor spawn_cluster_face(caf::actor_system& sys, cluster_settings settings,
                              std::shared_ptr<cluster_view> view, cart_registry_actor registry,
                              const forward_renderer* render, caf::actor checkouts,
                              checkout_renderer render_checkout, metrics& m);

}  // namespace cartd
