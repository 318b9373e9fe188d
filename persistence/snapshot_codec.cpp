#include "persistence/snapshot_codec.hpp"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <simdjson.h>

namespace cartd {

namespace {

using writer = rapidjson::Writer<rapidjson::StringBuffer>;

void put(writer& w, const char* key, const std::string& v) {
  w.Key(key);
  w.String(v.data(), static_cast<rapidjson::SizeType>(v.size()));
}

void put(writer& w, const char* key, std::int64_t v) {
  w.Key(key);
  w.Int64(v);
}

template <class T>
bool read(simdjson::ondemand::value v, T& out) {
  return v.get(out) == simdjson::SUCCESS;
}

bool read_string(simdjson::ondemand::value v, std::string& out) {
  std::string_view sv;
  if (v.get_string().get(sv) != simdjson::SUCCESS) return false;
  out.assign(sv);
  return true;
}

bool read_item(simdjson::ondemand::object obj, cart_item& it) {
  for (auto field : obj) {
    std::string_view key;
    if (field.unescaped_key().get(key)) return false;
    simdjson::ondemand::value v;
    if (field.value().get(v)) return false;
    std::int64_t n = 0;
    bool ok = true;
    if (key == "i") ok = read_string(v, it.id.value);
    else if (key == "p") ok = read_string(v, it.product.value);
    else if (key == "v") ok = read_string(v, it.variant.value);
    else if (key == "n") ok = read_string(v, it.name);
    else if (key == "q") { ok = read(v, n); it.quantity = static_cast<std::int32_t>(n); }
    else if (key == "u") ok = read(v, it.unit_price);
    else if (key == "a") ok = read(v, it.added_at_ms);
    else if (key == "vn") ok = read_string(v, it.variant_name);
    else if (key == "o") {
      simdjson::ondemand::object opts;
      if (v.get_object().get(opts)) return false;
      for (auto opt : opts) {
        std::string_view k;
        std::string value;
        if (opt.unescaped_key().get(k)) return false;
        simdjson::ondemand::value ov;
        if (opt.value().get(ov) || !read_string(ov, value)) return false;
        it.options.emplace_back(std::string(k), std::move(value));
      }
    }
    if (!ok) return false;
  }
  return true;
}

bool read_cart(simdjson::ondemand::object obj, cart& c) {
  for (auto field : obj) {
    std::string_view key;
    if (field.unescaped_key().get(key)) return false;
    simdjson::ondemand::value v;
    if (field.value().get(v)) return false;
    bool ok = true;
    std::string s;
    if (key == "id") ok = read_string(v, c.id.value);
    else if (key == "user") ok = read_string(v, c.user_id);
    else if (key == "session") ok = read_string(v, c.session_id);
    else if (key == "status") {
      ok = read_string(v, s);
      auto st = cart_status_from(s);
      ok = ok && st.has_value();
      if (ok) c.status = *st;
    } else if (key == "currency") ok = read_string(v, c.currency);
    else if (key == "region") ok = read_string(v, c.region);
    else if (key == "shipping") ok = read_string(v, c.shipping_method);
    else if (key == "metadata") ok = read_string(v, c.metadata_json);
    else if (key == "version") ok = read(v, c.version);
    else if (key == "created") ok = read(v, c.created_at_ms);
    else if (key == "updated") ok = read(v, c.updated_at_ms);
    else if (key == "mergedInto") ok = read_string(v, c.merged_into);
    else if (key == "codes") {
      simdjson::ondemand::array arr;
      if (v.get_array().get(arr)) return false;
      for (auto el : arr) {
        std::string_view sv;
        if (el.get_string().get(sv)) return false;
        c.discount_codes.emplace_back(sv);
      }
    } else if (key == "items") {
      simdjson::ondemand::array arr;
      if (v.get_array().get(arr)) return false;
      for (auto el : arr) {
        simdjson::ondemand::object io;
        if (el.get_object().get(io)) return false;
        cart_item it;
        if (!read_item(io, it)) return false;
        c.items.push_back(std::move(it));
      }
    }
    if (!ok) return false;
  }
  return true;
}

}  // namespace

std::string encode_snapshot(const cart& c) {
  rapidjson::StringBuffer buf;
  writer w(buf);
  w.StartObject();
  put(w, "id", c.id.value);
  put(w, "user", c.user_id);
  put(w, "session", c.session_id);
  put(w, "status", std::string(to_string(c.status)));
  put(w, "currency", c.currency);
  put(w, "region", c.region);
  put(w, "shipping", c.shipping_method);
  put(w, "metadata", c.metadata_json);
  w.Key("version");
  w.Uint64(c.version);
  put(w, "created", c.created_at_ms);
  put(w, "updated", c.updated_at_ms);
  if (!c.merged_into.empty()) put(w, "mergedInto", c.merged_into);
  w.Key("codes");
  w.StartArray();
  for (const auto& code : c.discount_codes) w.String(code.data(), static_cast<rapidjson::SizeType>(code.size()));
  w.EndArray();
  w.Key("items");
  w.StartArray();
  for (const auto& it : c.items) {
    w.StartObject();
    put(w, "i", it.id.value);
    put(w, "p", it.product.value);
    put(w, "v", it.variant.value);
    put(w, "n", it.name);
    put(w, "q", static_cast<std::int64_t>(it.quantity));
    put(w, "u", it.unit_price);
    put(w, "a", it.added_at_ms);
    if (!it.variant_name.empty()) put(w, "vn", it.variant_name);
    if (!it.options.empty()) {
      w.Key("o");
      w.StartObject();
      for (const auto& [k, v] : it.options) put(w, k.c_str(), v);
      w.EndObject();
    }
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize());
}

std::string encode_options(const variant_options& o) {
  if (o.empty()) return "";
  rapidjson::StringBuffer buf;
  writer w(buf);
  w.StartObject();
  for (const auto& [k, v] : o) {
    w.Key(k.data(), static_cast<rapidjson::SizeType>(k.size()));
    w.String(v.data(), static_cast<rapidjson::SizeType>(v.size()));
  }
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize());
}

variant_options decode_options(std::string_view json) {
  variant_options out;
  if (json.empty()) return out;
  thread_local simdjson::ondemand::parser parser;
  simdjson::padded_string padded(json);
  simdjson::ondemand::document doc;
  if (parser.iterate(padded).get(doc)) return {};
  simdjson::ondemand::object obj;
  if (doc.get_object().get(obj)) return {};
  for (auto field : obj) {
    std::string_view k;
    std::string_view v;
    if (field.unescaped_key().get(k) || field.value().get_string().get(v)) return {};
    out.emplace_back(std::string(k), std::string(v));
  }
  return out;
}

std::string encode_event(const std::string& type, const cart& after, const cart_item* line,
                         const std::string& related_cart, std::int64_t at_ms) {
  rapidjson::StringBuffer buf;
  writer w(buf);
  w.StartObject();
  put(w, "type", type);
  put(w, "cartId", after.id.value);
  w.Key("version");
  w.Uint64(after.version);
  put(w, "userId", after.user_id);
  put(w, "sessionId", after.session_id);
  put(w, "status", std::string(to_string(after.status)));
  put(w, "at", at_ms);
  if (!related_cart.empty()) put(w, "relatedCartId", related_cart);
  if (line) {
    w.Key("item");
    w.StartObject();
    put(w, "id", line->id.value);
    put(w, "productId", line->product.value);
    put(w, "variantId", line->variant.value);
    put(w, "quantity", static_cast<std::int64_t>(line->quantity));
    put(w, "unitPrice", line->unit_price);
    w.EndObject();
  }
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize());
}

std::optional<cart> decode_snapshot(std::string_view json) {
  thread_local simdjson::ondemand::parser parser;
  simdjson::padded_string padded(json);
  simdjson::ondemand::document doc;
  if (parser.iterate(padded).get(doc)) return std::nullopt;
  simdjson::ondemand::object obj;
  if (doc.get_object().get(obj)) return std::nullopt;
  cart c;
  if (!read_cart(obj, c)) return std::nullopt;
  return c;
}

}  // namespace cartd
