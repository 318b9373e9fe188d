#include "http/json.hpp"

#include <cmath>

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <simdjson.h>

namespace cartd {

struct json_writer::impl {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w{buf};
};

json_writer::json_writer() : impl_(std::make_unique<impl>()) {}
json_writer::~json_writer() = default;

json_writer& json_writer::begin_object() { return impl_->w.StartObject(), *this; }
json_writer& json_writer::end_object() { return impl_->w.EndObject(), *this; }
json_writer& json_writer::begin_array() { return impl_->w.StartArray(), *this; }
json_writer& json_writer::end_array() { return impl_->w.EndArray(), *this; }
json_writer& json_writer::key(std::string_view k) {
  impl_->w.Key(k.data(), static_cast<rapidjson::SizeType>(k.size()));
  return *this;
}
json_writer& json_writer::value(std::string_view v) {
  impl_->w.String(v.data(), static_cast<rapidjson::SizeType>(v.size()));
  return *this;
}
json_writer& json_writer::value(std::int64_t v) { return impl_->w.Int64(v), *this; }
json_writer& json_writer::value(std::uint64_t v) { return impl_->w.Uint64(v), *this; }
json_writer& json_writer::value(bool v) { return impl_->w.Bool(v), *this; }
json_writer& json_writer::null() { return impl_->w.Null(), *this; }
json_writer& json_writer::value_or_null(std::string_view v) {
  return v.empty() ? null() : value(v);
}
json_writer& json_writer::raw_or_null(std::string_view json) {
  if (json.empty()) return null();
  impl_->w.RawValue(json.data(), json.size(), rapidjson::kObjectType);
  return *this;
}
json_writer& json_writer::number(double v) {
  if (!std::isfinite(v)) return null();
  impl_->w.Double(v);
  return *this;
}
std::string json_writer::str() const { return {impl_->buf.GetString(), impl_->buf.GetSize()}; }

struct body_reader::impl {
  /// Set for a reader made while another one lives on this thread (a nested object read from
  /// a body's text): re-parsing with the thread's parser would end the outer document.
  std::unique_ptr<simdjson::dom::parser> own;
  bool counted = false;
  simdjson::dom::object obj;  // points into the parser that read it
};

namespace {
/// Bodies are read on the Pistache thread that received them, one at a time, and dropped
/// before the next request: a parser per thread is reused instead of allocated per request.
simdjson::dom::parser& thread_parser() {
  thread_local simdjson::dom::parser parser;
  return parser;
}
thread_local int live_readers = 0;  // parsing readers alive on this thread

/// Objects and arrays nest at most this deep in a body (simdjson alone stops at 1024).
constexpr int k_max_depth = 32;

struct body_problem {
  std::string field;
  std::string message;
};

/// What simdjson accepts and cartd still refuses, anywhere in the document: an object that
/// repeats a key (two readers of one body could act on different values), a string or key
/// holding U+0000 (PostgreSQL's text cannot store it; C strings end at it) and nesting deeper
/// than k_max_depth. `field` names the top-level field it was found under.
std::optional<body_problem> inspect(simdjson::dom::element el, int depth, std::string_view top) {
  using simdjson::dom::element_type;
  auto name = [&](std::string_view key) { return std::string(top.empty() ? key : top); };
  auto type = el.type();
  if ((type == element_type::ARRAY || type == element_type::OBJECT) && depth >= k_max_depth)
    return body_problem{std::string(top), "nests deeper than " + std::to_string(k_max_depth) + " levels"};
  switch (type) {
    case element_type::STRING: {
      std::string_view sv;
      if (!el.get_string().get(sv) && sv.find('\0') != std::string_view::npos)
        return body_problem{std::string(top), "must not contain U+0000"};
      return std::nullopt;
    }
    case element_type::ARRAY: {
      simdjson::dom::array arr;
      if (el.get_array().get(arr)) return std::nullopt;
      for (auto item : arr)
        if (auto p = inspect(item, depth + 1, top)) return p;
      return std::nullopt;
    }
    case element_type::OBJECT: {
      simdjson::dom::object obj;
      if (el.get_object().get(obj)) return std::nullopt;
      std::vector<std::string_view> keys;
      keys.reserve(obj.size());
      for (auto field : obj) {
        if (field.key.find('\0') != std::string_view::npos)
          return body_problem{name(field.key), "names must not contain U+0000"};
        if (auto p = inspect(field.value, depth + 1, top.empty() ? field.key : top)) return p;
        keys.push_back(field.key);
      }
      std::sort(keys.begin(), keys.end());
      auto dup = std::adjacent_find(keys.begin(), keys.end());
      if (dup != keys.end())
        return body_problem{top.empty() ? std::string(*dup) : std::string(top),
                            "repeats the name \"" + std::string(*dup) + "\""};
      return std::nullopt;
    }
    default:
      return std::nullopt;
  }
}

/// simdjson refuses numbers it cannot hold (beyond a double, an integer beyond 64 bits) with
/// the same errors as malformed ones. True when every number in `body` is well-formed JSON:
/// the refusal is then one of range (validation_failed), not of syntax (invalid_json).
bool numbers_well_formed(std::string_view body) {
  bool in_string = false;
  for (std::size_t i = 0; i < body.size(); ++i) {
    char c = body[i];
    if (in_string) {
      if (c == '\\') ++i;
      else if (c == '"') in_string = false;
      continue;
    }
    if (c == '"') {
      in_string = true;
      continue;
    }
    if (c != '-' && (c < '0' || c > '9')) continue;
    // -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
    std::size_t j = i;
    if (body[j] == '-') ++j;
    auto digits = [&] {
      std::size_t from = j;
      while (j < body.size() && body[j] >= '0' && body[j] <= '9') ++j;
      return j - from;
    };
    if (j >= body.size()) return false;
    if (body[j] == '0') {
      ++j;
    } else if (digits() == 0) {
      return false;
    }
    if (j < body.size() && body[j] == '.') {
      ++j;
      if (digits() == 0) return false;
    }
    if (j < body.size() && (body[j] == 'e' || body[j] == 'E')) {
      ++j;
      if (j < body.size() && (body[j] == '+' || body[j] == '-')) ++j;
      if (digits() == 0) return false;
    }
    // A number ends at whitespace, a separator or the end: else it is malformed (01, 1.2.3,
    // 1e5e5, 1x, 0x1F).
    if (j < body.size() && std::string_view(" \t\r\n,]}").find(body[j]) == std::string_view::npos)
      return false;
    i = j - 1;
  }
  return true;
}
}  // namespace

body_reader::body_reader() : impl_(std::make_unique<impl>()) {}
body_reader::~body_reader() {
  if (impl_ && impl_->counted) --live_readers;
}

body_reader::body_reader(std::string_view body, bool empty_is_object)
    : impl_(std::make_unique<impl>()) {
  bool blank = body.find_first_not_of(" \t\r\n") == std::string_view::npos;
  if (blank && empty_is_object) body = "{}";
  simdjson::dom::element root;
  impl_->counted = true;
  if (live_readers++ > 0) impl_->own = std::make_unique<simdjson::dom::parser>();
  auto& parser = impl_->own ? *impl_->own : thread_parser();
  auto err = parser.parse(body.data(), body.size()).get(root);
  if ((err == simdjson::NUMBER_ERROR) && numbers_well_formed(body)) {
    error_ = make_error(error_code::validation_failed,
                        "a number is out of range (beyond a double, or an integer beyond 64 bits)");
    error_->errors.push_back({"", "number out of range"});
    return;
  }
  if (err) {
    error_ = make_error(error_code::invalid_json,
                        std::string("the body is not valid UTF-8 JSON: ") +
                            simdjson::error_message(err));
    return;
  }
  if (root.get_object().get(impl_->obj)) {
    error_ = make_error(error_code::validation_failed, "the body must be a JSON object");
    error_->errors.push_back({"", "expected an object"});
    return;
  }
  if (auto p = inspect(root, 0, {})) {
    error_ = make_error(error_code::validation_failed, p->field.empty() ? p->message : p->field + " " + p->message);
    error_->errors.push_back({p->field, p->message});
  }
}

namespace {
std::optional<simdjson::dom::element> lookup(simdjson::dom::object& obj, const char* key) {
  simdjson::dom::element el;
  if (obj.at_key(key).get(el)) return std::nullopt;
  if (el.is_null()) return std::nullopt;
  return el;
}
/// `key` of a body that parsed; nothing for a body that did not (it has no DOM to look in).
std::optional<simdjson::dom::element> lookup(bool broken, simdjson::dom::object& obj,
                                             const char* key) {
  return broken ? std::nullopt : lookup(obj, key);
}
}  // namespace

bool body_reader::has(const char* key) const {
  if (error_) return false;
  return lookup(impl_->obj, key).has_value();
}

bool body_reader::is_null(const char* key) const {
  if (error_) return false;
  simdjson::dom::element el;
  return !impl_->obj.at_key(key).get(el) && el.is_null();
}

void body_reader::fail(std::string field, std::string message) {
  errors_.push_back({prefix_ + field, std::move(message)});
}

std::optional<std::string> body_reader::string(const char* key, bool required,
                                               std::size_t min_len, std::size_t max_len) {
  auto el = lookup(error_.has_value(), impl_->obj, key);
  if (!el) {
    if (required) fail(key, "is required");
    return std::nullopt;
  }
  std::string_view sv;
  if (el->get_string().get(sv)) {
    fail(key, "must be a string");
    return std::nullopt;
  }
  if (sv.size() < min_len || sv.size() > max_len) {
    fail(key, "length must be " + std::to_string(min_len) + ".." + std::to_string(max_len));
    return std::nullopt;
  }
  return std::string(sv);
}

std::optional<std::int64_t> body_reader::integer(const char* key, bool required, std::int64_t min,
                                                 std::int64_t max) {
  auto el = lookup(error_.has_value(), impl_->obj, key);
  if (!el) {
    if (required) fail(key, "is required");
    return std::nullopt;
  }
  std::int64_t v = 0;
  if (!el->is_int64() || el->get_int64().get(v)) {
    fail(key, "must be an integer");
    return std::nullopt;
  }
  if (v < min || v > max) {
    fail(key, "must be in " + std::to_string(min) + ".." + std::to_string(max));
    return std::nullopt;
  }
  return v;
}

std::optional<bool> body_reader::boolean(const char* key, bool required) {
  auto el = lookup(error_.has_value(), impl_->obj, key);
  if (!el) {
    if (required) fail(key, "is required");
    return std::nullopt;
  }
  bool v = false;
  if (el->get_bool().get(v)) {
    fail(key, "must be a boolean");
    return std::nullopt;
  }
  return v;
}

std::optional<std::vector<std::string>> body_reader::string_array(const char* key, bool required,
                                                                  std::size_t max_items,
                                                                  std::size_t max_len) {
  auto el = lookup(error_.has_value(), impl_->obj, key);
  if (!el) {
    if (required) fail(key, "is required");
    return std::nullopt;
  }
  simdjson::dom::array arr;
  if (el->get_array().get(arr)) {
    fail(key, "must be an array of strings");
    return std::nullopt;
  }
  std::vector<std::string> out;
  for (auto item : arr) {
    std::string_view sv;
    if (item.get_string().get(sv) || sv.empty() || sv.size() > max_len) {
      fail(key, "items must be strings of 1.." + std::to_string(max_len) + " characters");
      return std::nullopt;
    }
    out.emplace_back(sv);
  }
  if (out.size() > max_items) {
    fail(key, "at most " + std::to_string(max_items) + " items");
    return std::nullopt;
  }
  return out;
}

std::optional<std::vector<std::pair<std::string, std::string>>> body_reader::string_map(
    const char* key, bool required, std::size_t max_pairs, std::size_t max_len) {
  auto el = lookup(error_.has_value(), impl_->obj, key);
  if (!el) {
    if (required) fail(key, "is required");
    return std::nullopt;
  }
  simdjson::dom::object obj;
  if (el->get_object().get(obj)) {
    fail(key, "must be an object of strings");
    return std::nullopt;
  }
  std::vector<std::pair<std::string, std::string>> out;
  for (auto field : obj) {
    std::string_view v;
    if (field.key.empty() || field.key.size() > max_len || field.value.get_string().get(v) ||
        v.empty() || v.size() > max_len) {
      fail(key, "names and values must be strings of 1.." + std::to_string(max_len) +
                    " characters");
      return std::nullopt;
    }
    for (const auto& [seen, _] : out) {
      if (seen == field.key) {
        fail(key, "repeats " + std::string(field.key));
        return std::nullopt;
      }
    }
    out.emplace_back(std::string(field.key), std::string(v));
  }
  if (out.size() > max_pairs) {
    fail(key, "at most " + std::to_string(max_pairs) + " pairs");
    return std::nullopt;
  }
  return out;
}

std::optional<std::string> body_reader::object_json(const char* key, bool required,
                                                    std::size_t max_bytes) {
  auto el = lookup(error_.has_value(), impl_->obj, key);
  if (!el) {
    if (required) fail(key, "is required");
    return std::nullopt;
  }
  if (!el->is_object()) {
    fail(key, "must be an object");
    return std::nullopt;
  }
  std::string text = simdjson::to_string(*el);
  if (text.size() > max_bytes) {
    fail(key, "must be at most " + std::to_string(max_bytes) + " bytes of JSON");
    return std::nullopt;
  }
  return text;
}

std::vector<std::unique_ptr<body_reader>> body_reader::objects(const char* key, bool required,
                                                               std::size_t min_items,
                                                               std::size_t max_items) {
  std::vector<std::unique_ptr<body_reader>> out;
  auto el = lookup(error_.has_value(), impl_->obj, key);
  if (!el) {
    if (required) fail(key, "is required");
    return out;
  }
  simdjson::dom::array arr;
  if (el->get_array().get(arr)) {
    fail(key, "must be an array of objects");
    return out;
  }
  std::size_t i = 0;
  for (auto item : arr) {
    auto sub = std::unique_ptr<body_reader>(new body_reader());
    sub->prefix_ = prefix_ + key + "[" + std::to_string(i++) + "].";
    if (item.get_object().get(sub->impl_->obj)) {
      fail(std::string(key) + "[" + std::to_string(i - 1) + "]", "must be an object");
      continue;
    }
    out.push_back(std::move(sub));
  }
  if (i < min_items || i > max_items) {
    fail(key, "must hold " + std::to_string(min_items) + ".." + std::to_string(max_items) +
                  " items");
  }
  return out;
}

std::vector<std::pair<std::string, std::string>> body_reader::members() const {
  std::vector<std::pair<std::string, std::string>> out;
  if (error_) return out;
  for (auto field : impl_->obj)
    out.emplace_back(std::string(field.key), simdjson::to_string(field.value));
  return out;
}

std::optional<domain_error> body_reader::validation_error() const {
  if (errors_.empty()) return std::nullopt;
  domain_error e = make_error(error_code::validation_failed, "the request body is invalid");
  e.errors = errors_;
  return e;
}

namespace {

void write_canonical(json_writer& w, simdjson::dom::element el) {
  switch (el.type()) {
    case simdjson::dom::element_type::OBJECT: {
      std::vector<std::pair<std::string_view, simdjson::dom::element>> fields;
      for (auto field : simdjson::dom::object(el)) fields.emplace_back(field.key, field.value);
      std::stable_sort(fields.begin(), fields.end(),
                       [](const auto& a, const auto& b) { return a.first < b.first; });
      w.begin_object();
      for (auto& [k, v] : fields) {
        w.key(k);
        write_canonical(w, v);
      }
      w.end_object();
      return;
    }
    case simdjson::dom::element_type::ARRAY:
      w.begin_array();
      for (auto v : simdjson::dom::array(el)) write_canonical(w, v);
      w.end_array();
      return;
    case simdjson::dom::element_type::STRING: w.value(std::string_view(el)); return;
    case simdjson::dom::element_type::INT64: w.value(std::int64_t(el)); return;
    case simdjson::dom::element_type::UINT64: w.value(std::uint64_t(el)); return;
    case simdjson::dom::element_type::DOUBLE: {
      char buf[40];
      std::snprintf(buf, sizeof buf, "%.17g", double(el));
      w.raw_or_null(buf);
      return;
    }
    case simdjson::dom::element_type::BOOL: w.value(bool(el)); return;
    case simdjson::dom::element_type::NULL_VALUE: w.null(); return;
  }
}

}  // namespace

std::string canonical_json(std::string_view body) {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (parser.parse(body.data(), body.size()).get(root)) return std::string(body);
  json_writer w;
  write_canonical(w, root);
  return w.str();
}

}  // namespace cartd
