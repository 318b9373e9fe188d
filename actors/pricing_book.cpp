#include "actors/pricing_book.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>

#include "actors/log_text.hpp"

namespace cartd {

namespace {
std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}
}  // namespace

pricing_book::pricing_book(std::function<pricing_rules()> load)
    : load_(std::move(load)), thread_([this] { run(); }) {}

pricing_book::~pricing_book() {
  {
    std::lock_guard<std::mutex> guard(mtx_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

std::shared_ptr<const pricing_rules> pricing_book::current() const {
  std::lock_guard<std::mutex> guard(mtx_);
  return rules_;
}

void pricing_book::refresh() {
  auto fresh = std::make_shared<const pricing_rules>(load_());
  std::lock_guard<std::mutex> guard(mtx_);
  rules_ = std::move(fresh);
}

void pricing_book::run() {
  std::unique_lock<std::mutex> lock(mtx_);
  while (!stop_) {
    dirty_ = false;
    lock.unlock();
    try {
      auto fresh = std::make_shared<const pricing_rules>(load_());
      lock.lock();
      rules_ = std::move(fresh);
    } catch (const std::exception& e) {
      // Store down: keep the last rules; retry on the next round.
      spdlog::warn(R"({{"msg":"pricing rules not refreshed","error":{}}})", json_quoted(e.what()));
      lock.lock();
    }
    cv_.wait_for(lock, std::chrono::seconds(1), [this] { return stop_ || dirty_; });
  }
}

pricing_request pricing_book::request_for(const cart& c, const pricing_rules& rules,
                                          std::int64_t now_ms) {
  pricing_request r;
  r.currency = c.currency;
  r.now_ms = now_ms;
  for (const auto& it : c.items)
    r.lines.push_back(priced_line{it.id, it.product, it.variant, it.quantity, it.unit_price});
  for (const auto& d : rules.discounts)
    if (d.automatic) r.automatic.push_back(d);
  for (const auto& code : c.discount_codes) {
    auto key = lower(code);
    for (const auto& d : rules.discounts) {
      // An automatic promotion that also has a code applies once, as a promotion.
      if (!d.code.empty() && !d.automatic && lower(d.code) == key) {
        auto coded = d;
        coded.automatic = false;
        r.codes.push_back(coded);
      }
    }
  }
  if (auto t = rules.taxes.find(c.region); t != rules.taxes.end()) r.tax = t->second;
  if (auto s = rules.shipping.find(c.shipping_method); s != rules.shipping.end())
    r.shipping = s->second;
  return r;
}

result<cart> pricing_book::patch(const cart& c, const cart_patch& p,
                                 std::shared_ptr<const pricing_rules> rules, std::int64_t now_ms) {
  if (!rules) rules = std::make_shared<const pricing_rules>();
  code_check refuse = code_checker(rules, now_ms);
  shipping_check known = [rules](const std::string& id, const cart& target) -> std::optional<std::string> {
    auto it = rules->shipping.find(id);
    if (it == rules->shipping.end()) return "no shipping method " + id;
    if (!it->second.currency.empty() && it->second.currency != target.currency)
      return "shipping method " + id + " is priced in " + it->second.currency;
    return std::nullopt;
  };
  return patch_cart(c, p, refuse, known, now_ms);
}

code_check pricing_book::code_checker(std::shared_ptr<const pricing_rules> rules,
                                      std::int64_t now_ms) {
  if (!rules) rules = std::make_shared<const pricing_rules>();
  return [rules, now_ms](const std::string& code, const cart& target) {
    return refuse_code(code, target, *rules, now_ms);
  };
}

std::optional<code_problem> pricing_book::refuse_code(const std::string& code, const cart& c,
                                                      const pricing_rules& rules,
                                                      std::int64_t now_ms) {
  auto key = lower(code);
  auto it = std::find_if(rules.discounts.begin(), rules.discounts.end(), [&](const discount& d) {
    return !d.code.empty() && lower(d.code) == key;
  });
  if (it == rules.discounts.end()) return code_problem{"unknown", "unknown discount code " + code};
  return code_refusal(*it, request_for(c, rules, now_ms));
}

}  // namespace cartd
