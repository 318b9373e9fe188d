#pragma once
// The pricing rules of a node (discounts, tax rates, shipping methods), read from the store by
// one refresher thread every second and right after an admin write on this node; readers take
// the current snapshot without waiting (never a store call on an actor or HTTP thread).
#include <atomic>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "domain/cart.hpp"
#include "domain/price_engine.hpp"

namespace cartd {

class store;

class pricing_book {
 public:
  /// `load` reads the rules from the store (on the refresher thread only).
  explicit pricing_book(std::function<pricing_rules()> load);
  ~pricing_book();
  pricing_book(const pricing_book&) = delete;
  pricing_book& operator=(const pricing_book&) = delete;

  std::shared_ptr<const pricing_rules> current() const;
  /// An admin write on this node: reload on the calling thread (a store worker) before the
  /// write is answered, so this node prices with it from its answer on.
  void refresh();

  /// The engine's request for a cart's content under these rules at `now_ms`.
  static pricing_request request_for(const cart& c, const pricing_rules& rules, std::int64_t now_ms);
  /// Why `code` cannot apply to `c` now, or nothing when it can.
  static std::optional<code_problem> refuse_code(const std::string& code, const cart& c,
                                                 const pricing_rules& rules, std::int64_t now_ms);
  /// refuse_code under `rules` (null: none) as the domain's check.
  static code_check code_checker(std::shared_ptr<const pricing_rules> rules, std::int64_t now_ms);
  /// A cart patch under `rules` (null: none): the same checks and totals for a PATCH of a cart
  /// and for a quote, so both answer alike.
  static result<cart> patch(const cart& c, const cart_patch& p,
                            std::shared_ptr<const pricing_rules> rules, std::int64_t now_ms);

 private:
  void run();
  std::function<pricing_rules()> load_;
  mutable std::mutex mtx_;
  std::shared_ptr<const pricing_rules> rules_ = std::make_shared<pricing_rules>();
  std::condition_variable cv_;
  bool dirty_ = true;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace cartd
