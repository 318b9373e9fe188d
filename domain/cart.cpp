#include "domain/cart.hpp"

#include <algorithm>
#include <cctype>

namespace cartd {

namespace {

domain_error not_active(const cart& c) {
  return make_error(error_code::cart_not_active,
                    std::string("cart is ") + to_string(c.status) + ", not active");
}

domain_error too_many(std::int32_t quantity, const cart_limits& limits) {
  domain_error e = make_error(error_code::validation_failed, "quantity out of range");
  e.errors.push_back({"quantity", "line quantity " + std::to_string(quantity) + " exceeds " +
                                      std::to_string(limits.max_quantity_per_line)});
  return e;
}

std::optional<domain_error> check_offer(const cart& c, const variant_offer& offer,
                                        std::int64_t line_quantity) {
  if (!offer.active) {
    return make_error(error_code::unknown_product,
                      "product " + offer.product.value + " variant " + offer.variant.value +
                          " is not available for sale");
  }
  if (offer.currency != c.currency) {
    return make_error(error_code::currency_mismatch, "product is priced in " + offer.currency +
                                                         ", the cart in " + c.currency);
  }
  if (line_quantity > offer.available) {
    auto available = std::max<std::int64_t>(offer.available, 0);
    auto e = make_error(error_code::insufficient_stock,
                        "only " + std::to_string(available) + " of variant " +
                            offer.variant.value + " left");
    e.shortfalls.push_back(
        stock_shortfall{offer.product.value, offer.variant.value, line_quantity, available});
    return e;
  }
  return std::nullopt;
}

void take_offer(cart_item& line, const variant_offer& offer) {
  line.unit_price = offer.price;
  line.name = offer.name;
  line.variant_name = offer.variant_name;
  line.options = offer.options;
}

cart touched(cart c, std::int64_t now_ms) {
  c.version += 1;
  c.updated_at_ms = now_ms;
  return c;
}

cart_item* find_line(cart& c, const product_id& p, const variant_id& v) {
  for (auto& it : c.items)
    if (it.product == p && it.variant == v) return &it;
  return nullptr;
}

}  // namespace

const char* to_string(line_status s) {
  switch (s) {
    case line_status::ok: return "ok";
    case line_status::price_changed: return "price_changed";
    case line_status::unavailable: return "unavailable";
  }
  return "ok";
}

line_state state_of(const cart_item& line, const std::optional<variant_offer>& offer) {
  if (!offer || !offer->active) return {line_status::unavailable, 0};
  if (offer->price != line.unit_price) return {line_status::price_changed, offer->price};
  return {line_status::ok, offer->price};
}

bool same_code(const std::string& a, const std::string& b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

std::int64_t item_count(const cart& c) {
  std::int64_t n = 0;
  for (const auto& it : c.items) n += it.quantity;
  return n;
}

const char* to_string(cart_status s) {
  switch (s) {
    case cart_status::active: return "active";
    case cart_status::checked_out: return "checked_out";
    case cart_status::merged: return "merged";
    case cart_status::deleted: return "deleted";
  }
  return "active";
}

std::optional<cart_status> cart_status_from(const std::string& s) {
  for (auto st : {cart_status::active, cart_status::checked_out, cart_status::merged,
                  cart_status::deleted})
    if (s == to_string(st)) return st;
  return std::nullopt;
}

std::optional<merge_strategy> merge_strategy_from(const std::string& s) {
  if (s == "sum") return merge_strategy::sum;
  if (s == "max") return merge_strategy::max;
  if (s == "replace") return merge_strategy::replace;
  return std::nullopt;
}

bool can_access(const cart& c, const principal& who) {
  if (who.admin) return true;
  if (!c.user_id.empty() && c.user_id == who.user) return true;
  return !c.session_id.empty() && c.session_id == who.session;
}

std::optional<domain_error> check_version(const cart& c, std::optional<std::uint64_t> if_match) {
  if (!if_match || *if_match == c.version) return std::nullopt;
  return make_error(error_code::version_mismatch,
                    "cart is at version " + std::to_string(c.version) + ", If-Match says " +
                        std::to_string(*if_match));
}

const cart_item* find_item(const cart& c, const item_id& line) {
  for (const auto& it : c.items)
    if (it.id == line) return &it;
  return nullptr;
}

cart new_cart(cart_id id, const principal& owner, std::string currency, std::string region,
              std::int64_t now_ms) {
  cart c;
  c.id = std::move(id);
  c.user_id = !owner.user.empty() ? owner.user : owner.bound_user;
  c.session_id = owner.session;
  c.currency = std::move(currency);
  c.region = std::move(region);
  c.version = 1;
  c.created_at_ms = now_ms;
  c.updated_at_ms = now_ms;
  return c;
}

result<cart> add_item(const cart& c, const variant_offer& offer, std::int32_t quantity,
                      const cart_limits& limits, item_id new_line_id, std::int64_t now_ms) {
  if (c.status != cart_status::active) return not_active(c);
  cart next = c;
  cart_item* line = find_line(next, offer.product, offer.variant);
  std::int64_t total = static_cast<std::int64_t>(quantity) + (line ? line->quantity : 0);
  if (total > limits.max_quantity_per_line) return too_many(static_cast<std::int32_t>(total), limits);
  if (!line && static_cast<std::int32_t>(next.items.size()) >= limits.max_lines) {
    return make_error(error_code::cart_limit_exceeded,
                      "a cart holds at most " + std::to_string(limits.max_lines) + " lines");
  }
  if (auto err = check_offer(c, offer, total)) return *err;
  if (line) {
    line->quantity = static_cast<std::int32_t>(total);
    take_offer(*line, offer);
  } else {
    cart_item fresh{std::move(new_line_id), offer.product, offer.variant, offer.name, quantity,
                    offer.price, now_ms, {}, {}};
    take_offer(fresh, offer);
    next.items.push_back(std::move(fresh));
  }
  return touched(std::move(next), now_ms);
}

result<cart> set_item_quantity(const cart& c, const item_id& line, std::int32_t quantity,
                               const std::optional<variant_offer>& offer,
                               const cart_limits& limits, std::int64_t now_ms) {
  if (c.status != cart_status::active) return not_active(c);
  if (quantity == 0) return remove_item(c, line, now_ms);
  const cart_item* current = find_item(c, line);
  if (!current) return make_error(error_code::not_found, "no such item in this cart");
  // The quantity it has already: nothing changes, not even the price (no new version).
  if (quantity == current->quantity) return c;
  if (quantity > limits.max_quantity_per_line) return too_many(quantity, limits);
  // Lowering a line is never refused for stock (nor for a product gone since: the shopper
  // may always take less); it keeps the line's price unless the catalog still offers it.
  bool lowering = quantity < current->quantity;
  if (!lowering) {
    if (!offer) return make_error(error_code::unknown_product, "the product is gone");
    if (auto err = check_offer(c, *offer, quantity)) return *err;
  }
  cart next = c;
  for (auto& it : next.items) {
    if (it.id == line) {
      it.quantity = quantity;
      if (offer && offer->active && offer->currency == c.currency) take_offer(it, *offer);
    }
  }
  return touched(std::move(next), now_ms);
}

result<cart> remove_item(const cart& c, const item_id& line, std::int64_t now_ms) {
  if (c.status != cart_status::active) return not_active(c);
  if (!find_item(c, line)) return make_error(error_code::not_found, "no such item in this cart");
  cart next = c;
  next.items.erase(std::remove_if(next.items.begin(), next.items.end(),
                                  [&](const cart_item& it) { return it.id == line; }),
                   next.items.end());
  return touched(std::move(next), now_ms);
}

result<cart> patch_cart(const cart& c, const cart_patch& patch, const code_check& refuse_code,
                        const shipping_check& known_shipping, std::int64_t now_ms) {
  if (c.status != cart_status::active) return not_active(c);
  cart next = c;
  if (patch.region) next.region = *patch.region;
  if (patch.shipping_method) {
    if (!patch.shipping_method->empty() && *patch.shipping_method != c.shipping_method) {
      if (auto why = known_shipping(*patch.shipping_method, next)) {
        domain_error e = make_error(error_code::validation_failed, "shipping method refused");
        e.errors.push_back({"shippingMethod", *why, {}});
        return e;
      }
    }
    next.shipping_method = *patch.shipping_method;
  }
  if (patch.metadata_json) next.metadata_json = *patch.metadata_json;
  if (patch.discount_codes) {
    // A new code must apply to the cart as this PATCH leaves it; a code the cart holds
    // already is kept whatever it does now (the cart reports it in codeStatus).
    next.discount_codes.clear();
    domain_error refused = make_error(error_code::invalid_discount_code, "");
    const auto& codes = *patch.discount_codes;
    for (std::size_t i = 0; i < codes.size(); ++i) {
      const auto& code = codes[i];
      bool repeated = std::any_of(next.discount_codes.begin(), next.discount_codes.end(),
                                  [&](const std::string& kept) { return same_code(kept, code); });
      if (repeated) continue;
      bool held = std::any_of(c.discount_codes.begin(), c.discount_codes.end(),
                              [&](const std::string& had) { return same_code(had, code); });
      if (!held) {
        if (auto why = refuse_code(code, next)) {
          refused.errors.push_back(
              {"discountCodes[" + std::to_string(i) + "]", why->message, why->reason});
          if (refused.detail.empty()) refused.detail = why->message;
          continue;
        }
      }
      next.discount_codes.push_back(code);
    }
    if (!refused.errors.empty()) {
      if (refused.errors.size() > 1)
        refused.detail = std::to_string(refused.errors.size()) + " codes were refused";
      return refused;
    }
  }
  // A PATCH that changes nothing answers the cart as it is: same version, no event.
  if (next.region == c.region && next.shipping_method == c.shipping_method &&
      next.metadata_json == c.metadata_json && next.discount_codes == c.discount_codes)
    return c;
  return touched(std::move(next), now_ms);
}

result<cart> delete_cart(const cart& c, std::int64_t now_ms) {
  cart next = c;
  next.status = cart_status::deleted;
  return touched(std::move(next), now_ms);
}

result<merged_carts> merge_carts(const cart& target, const cart& source, merge_strategy strategy,
                                 const cart_limits& limits, const code_check& refuse_code,
                                 std::int64_t now_ms) {
  if (target.id == source.id) {
    domain_error e = make_error(error_code::validation_failed, "a cart cannot merge into itself");
    e.errors.push_back({"sourceCartId", "must differ from the target cart", {}});
    return e;
  }
  if (target.status != cart_status::active) return not_active(target);
  if (source.status != cart_status::active) return not_active(source);
  if (source.currency != target.currency) {
    return make_error(error_code::currency_mismatch, "source cart is in " + source.currency +
                                                         ", target cart in " + target.currency);
  }
  cart next = target;
  for (const auto& src : source.items) {
    if (cart_item* line = find_line(next, src.product, src.variant)) {
      std::int32_t q = line->quantity;
      switch (strategy) {
        case merge_strategy::sum: q = line->quantity + src.quantity; break;
        case merge_strategy::max: q = std::max(line->quantity, src.quantity); break;
        case merge_strategy::replace: q = src.quantity; break;
      }
      line->quantity = std::min(q, limits.max_quantity_per_line);
    } else {
      if (static_cast<std::int32_t>(next.items.size()) >= limits.max_lines) {
        return make_error(error_code::cart_limit_exceeded,
                          "merged cart would hold more than " + std::to_string(limits.max_lines) +
                              " lines");
      }
      next.items.push_back(src);
    }
  }
  if (next.region.empty()) next.region = source.region;
  if (next.shipping_method.empty()) next.shipping_method = source.shipping_method;
  for (const auto& code : source.discount_codes) {
    bool held = std::any_of(next.discount_codes.begin(), next.discount_codes.end(),
                            [&](const std::string& had) { return same_code(had, code); });
    if (!held && !refuse_code(code, next)) next.discount_codes.push_back(code);
  }
  cart merged_source = source;
  merged_source.status = cart_status::merged;
  merged_source.merged_into = target.id.value;
  return merged_carts{touched(std::move(next), now_ms), touched(std::move(merged_source), now_ms)};
}

}  // namespace cartd
