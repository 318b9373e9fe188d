#pragma once
// The one JSON writer for every response (rapidjson's Writer behind a small facade), and the
// request-body reader: simdjson's DOM parser plus a validator that collects every field error.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "domain/errors.hpp"

namespace cartd {

class json_writer {
 public:
  json_writer();
  ~json_writer();
  json_writer(const json_writer&) = delete;
  json_writer& operator=(const json_writer&) = delete;

  json_writer& begin_object();
  json_writer& end_object();
  json_writer& begin_array();
  json_writer& end_array();
  json_writer& key(std::string_view k);
  json_writer& value(std::string_view v);
  json_writer& value(const char* v) { return value(std::string_view(v)); }
  json_writer& value(const std::string& v) { return value(std::string_view(v)); }
  json_writer& value(std::int64_t v);
  json_writer& value(int v) { return value(static_cast<std::int64_t>(v)); }
  json_writer& value(std::uint64_t v);
  json_writer& value(bool v);
  json_writer& null();
  /// A measurement (metric values, seconds): never money, which is integer minor units.
  /// NaN and infinities are written as null.
  json_writer& number(double v);
  /// A string, or null when empty.
  json_writer& value_or_null(std::string_view v);
  /// Already-serialised JSON (stored metadata), or null when empty.
  json_writer& raw_or_null(std::string_view json);
  template <class T>
  json_writer& field(std::string_view k, const T& v) {
    key(k);
    return value(v);
  }
  std::string str() const;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

/// `body` as one canonical text of its JSON value (object keys sorted, no whitespace), so that
/// whitespace and key order do not make a different Idempotency-Key request; the bytes as
/// they are when they are not JSON.
std::string canonical_json(std::string_view body);

/// A parsed request body: a JSON object whose fields are read with validation.
class body_reader {
 public:
  /// Parses `body` (empty means `{}` when `empty_is_object`). On failure `error()` is set:
  /// invalid_json for bytes that are not UTF-8 JSON, validation_failed for a non-object.
  body_reader(std::string_view body, bool empty_is_object = false);
  ~body_reader();
  body_reader(const body_reader&) = delete;
  body_reader& operator=(const body_reader&) = delete;

  const std::optional<domain_error>& error() const { return error_; }
  bool has(const char* key) const;  ///< present and not null
  bool is_null(const char* key) const;  ///< present as null (a PATCH clearing a field)

  std::optional<std::string> string(const char* key, bool required, std::size_t min_len,
                                    std::size_t max_len);
  std::optional<std::int64_t> integer(const char* key, bool required, std::int64_t min,
                                      std::int64_t max);
  std::optional<bool> boolean(const char* key, bool required);
  std::optional<std::vector<std::string>> string_array(const char* key, bool required,
                                                       std::size_t max_items,
                                                       std::size_t max_len);
  /// An object whose values are all strings (1..max_len characters, keys too), at most
  /// `max_pairs` members, in body order.
  std::optional<std::vector<std::pair<std::string, std::string>>> string_map(
      const char* key, bool required, std::size_t max_pairs, std::size_t max_len);
  /// An object field as minified JSON text, at most `max_bytes`.
  std::optional<std::string> object_json(const char* key, bool required, std::size_t max_bytes);

  /// Every top-level member as (key, minified JSON value), in body order (a PATCH merges
  /// these over a stored body).
  std::vector<std::pair<std::string, std::string>> members() const;

  struct element_list;
  /// An array of objects, each read by its own body_reader (errors are prefixed `key[i].`).
  std::vector<std::unique_ptr<body_reader>> objects(const char* key, bool required,
                                                    std::size_t min_items, std::size_t max_items);

  void fail(std::string field, std::string message);
  /// validation_failed with every field error collected, or nothing when all were valid.
  std::optional<domain_error> validation_error() const;
  std::vector<field_error>& field_errors() { return errors_; }

 private:
  struct impl;
  body_reader();
  std::unique_ptr<impl> impl_;
  std::optional<domain_error> error_;
  std::vector<field_error> errors_;
  std::string prefix_;
};

}  // namespace cartd
