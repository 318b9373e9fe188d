#pragma once
// Where a cart lives. The registry asks this one seam; the cluster issue replaces the local
// placement with rendezvous hashing over live members without touching the cart actor.
#include <string>

#include "domain/ids.hpp"

namespace cartd {

class placement {
 public:
  virtual ~placement() = default;
  /// The node that owns `id`; equal to local_node() for carts of this node.
  virtual std::string owner_of(const cart_id& id) const = 0;
  virtual std::string local_node() const = 0;
  /// Tells the owner of `id`, when that is another node, to drop its copy of the cart (the
  /// store changed under it); nothing on one node.
  virtual void forget_elsewhere(const cart_id&) const {}
};

/// One node: every cart is ours.
class local_placement final : public placement {
 public:
  explicit local_placement(std::string node) : node_(std::move(node)) {}
  std::string owner_of(const cart_id&) const override { return node_; }
  std::string local_node() const override { return node_; }

 private:
  std::string node_;
};

}  // namespace cartd
