#include "actors/wire.hpp"

namespace cartd {

std::string location_for(const location_rule& rule, const cart& c) {
  if (rule.kind == location_rule::item_path) {
    for (const auto& it : c.items)
      if (it.product.value == rule.product && it.variant.value == rule.variant)
        return "/api/v1/cart/" + c.id.value + "/items/" + it.id.value;
  }
  if (rule.kind == location_rule::none) return {};
  return "/api/v1/cart/" + c.id.value;
}

stored_response stored_of(const forward_answer& a) {
  std::string location;
  for (std::size_t i = 0; i + 1 < a.headers.size(); i += 2)
    if (a.headers[i] == "Location") location = a.headers[i + 1];
  return stored_response{a.status, a.content_type, a.etag, a.body, location};
}

namespace {

struct to_wire_visitor {
  wire_command& w;
  bool operator()(const create_cart& c) {
    w.kind = wire_command::create;
    w.currency = c.currency;
    w.region = c.region;
    return true;
  }
  bool operator()(const get_cart&) {
    w.kind = wire_command::get;
    return true;
  }
  bool operator()(const add_item_cmd& c) {
    w.kind = wire_command::add_item;
    w.product = c.product.value;
    w.variant = c.variant.value;
    w.quantity = c.quantity;
    return true;
  }
  bool operator()(const set_item_quantity_cmd& c) {
    w.kind = wire_command::set_quantity;
    w.item = c.item.value;
    w.quantity = c.quantity;
    return true;
  }
  bool operator()(const remove_item_cmd& c) {
    w.kind = wire_command::remove_item;
    w.item = c.item.value;
    return true;
  }
  bool operator()(const patch_cart_cmd& c) {
    w.kind = wire_command::patch;
    if ((w.has_region = c.patch.region.has_value())) w.region = *c.patch.region;
    if ((w.has_codes = c.patch.discount_codes.has_value())) w.codes = *c.patch.discount_codes;
    if ((w.has_shipping = c.patch.shipping_method.has_value())) w.shipping = *c.patch.shipping_method;
    if ((w.has_metadata = c.patch.metadata_json.has_value())) w.metadata_json = *c.patch.metadata_json;
    return true;
  }
  bool operator()(const delete_cart_cmd&) {
    w.kind = wire_command::remove_cart;
    return true;
  }
  bool operator()(const merge_cart& c) {
    w.kind = wire_command::merge;
    w.source = c.source.value;
    w.strategy = static_cast<std::uint8_t>(c.strategy);
    return true;
  }
  // Internal commands never leave their node.
  bool operator()(const lend_for_merge&) { return false; }
  bool operator()(const reload_cart&) { return false; }
  bool operator()(const fail_cart&) { return false; }
};

}  // namespace

bool to_wire(const cart_command& cmd, wire_command& out) {
  out = wire_command{};
  return std::visit(to_wire_visitor{out}, cmd);
}

cart_command from_wire(const wire_command& w) {
  switch (w.kind) {
    case wire_command::create: return create_cart{w.currency, w.region};
    case wire_command::add_item:
      return add_item_cmd{product_id{w.product}, variant_id{w.variant}, w.quantity};
    case wire_command::set_quantity: return set_item_quantity_cmd{item_id{w.item}, w.quantity};
    case wire_command::remove_item: return remove_item_cmd{item_id{w.item}};
    case wire_command::patch: {
      cart_patch p;
      if (w.has_region) p.region = w.region;
      if (w.has_codes) p.discount_codes = w.codes;
      if (w.has_shipping) p.shipping_method = w.shipping;
      if (w.has_metadata) p.metadata_json = w.metadata_json;
      return patch_cart_cmd{std::move(p)};
    }
    case wire_command::remove_cart: return delete_cart_cmd{};
    case wire_command::merge: {
      auto s = w.strategy <= static_cast<std::uint8_t>(merge_strategy::replace)
                   ? static_cast<merge_strategy>(w.strategy)
                   : merge_strategy::sum;
      return merge_cart{cart_id{w.source}, s};
    }
    default: return get_cart{};
  }
}

}  // namespace cartd
