// Discounts: POST /admin/discounts, PATCH and DELETE /admin/discounts/{id} (admin), and
// GET /pricing/discounts. A discount is kept as its API JSON in the store's pricing rules; a
// write reloads this node's pricing book before it is answered.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <caf/all.hpp>
#include <cctype>
#include <functional>
#include <utility>
#include <vector>

#include "actors/pricing_book.hpp"
#include "actors/store_pool.hpp"
#include "actors/system.hpp"
#include "domain/money.hpp"
#include "domain/rate.hpp"
#include "domain/time.hpp"
#include "actors/log_text.hpp"
#include "http/json.hpp"
#include "http/pricing_codec.hpp"
#include "persistence/pricing_codec.hpp"
#include "http/route_support.hpp"
#include "http/routes.hpp"
#include "http/service.hpp"

namespace cartd {

namespace {

using members = std::vector<std::pair<std::string, std::string>>;

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

http_response unavailable(const exchange_ptr& e) {
  return error_response(make_error(error_code::unavailable, "pricing store"), e->req);
}

bool valid_code(const std::string& c) {
  return std::all_of(c.begin(), c.end(), [](char ch) {
    return std::isalnum(static_cast<unsigned char>(ch)) || ch == '-' || ch == '_';
  });
}

/// A discount as its API JSON (what POST answers and the store keeps), read from a POST body
/// or from a stored discount with a PATCH merged over it: one set of checks for both. Field
/// errors are collected in `body`.
struct discount_draft {
  std::string json;
  std::string code;  ///< lower-cased, empty: none
  std::string type;  ///< as given when it is a string, else empty
};

void read_value(body_reader& body, json_writer& w, const std::optional<std::string>& type,
                const std::optional<std::string>& currency) {
  if (type && *type == "percentage") {
    std::optional<rate> pct;
    if (body.has("value")) {
      // An integer percent or a decimal string of up to 4 decimals, at most 100.
      if (auto as_text = body.string("value", false, 1, 16)) {
        pct = parse_rate(*as_text);
      } else {
        body.field_errors().pop_back();
        if (auto as_int = body.integer("value", false, 0, 100)) pct = rate{*as_int * 10'000};
      }
    }
    if (!pct)
      body.fail("value", "a percent 0..100: an integer or a decimal string like \"12.5\"");
    else
      w.field("value", format_rate(*pct));
  } else if (type) {
    auto amount = body.integer("value", true, 1, max_amount);
    if (amount) w.field("value", *amount);
    if (!currency) body.fail("currency", "a fixed discount needs the currency of its amount");
  }
}

void read_window(body_reader& body, json_writer& w) {
  auto starts = body.string("startsAt", false, 1, 40);
  auto ends = body.string("endsAt", false, 1, 40);
  constexpr std::int64_t none = -1;  // absent or not a time
  std::int64_t s_ms = starts ? parse_rfc3339(*starts).value_or(none) : none;
  std::int64_t e_ms = ends ? parse_rfc3339(*ends).value_or(none) : none;
  if (starts && s_ms == none) body.fail("startsAt", "must be an RFC 3339 time");
  if (ends && e_ms == none) body.fail("endsAt", "must be an RFC 3339 time");
  if (s_ms != none && e_ms != none && e_ms <= s_ms) body.fail("endsAt", "must be after startsAt");
  w.key("startsAt").value_or_null(s_ms != none ? format_rfc3339(s_ms) : "");
  w.key("endsAt").value_or_null(e_ms != none ? format_rfc3339(e_ms) : "");
}

discount_draft read_discount(body_reader& body, const std::string& id) {
  auto code = body.string("code", false, 1, 64);
  if (code && !valid_code(*code)) body.fail("code", "letters, digits, - and _ only");
  auto type = body.string("type", true, 1, 16);
  if (type && *type != "percentage" && *type != "fixed")
    body.fail("type", "must be percentage or fixed");
  auto currency = body.string("currency", false, 3, 3);
  if (currency && !is_currency(*currency)) body.fail("currency", "must be an ISO 4217 code like USD");
  json_writer w;
  w.begin_object();
  w.field("id", id);
  w.key("code").value_or_null(code.value_or(""));
  w.field("type", type.value_or(""));
  w.key("name").value_or_null(body.string("name", false, 1, 200).value_or(""));
  read_value(body, w, type, currency);
  w.key("currency").value_or_null(type && *type == "fixed" ? currency.value_or("") : "");
  bool automatic = body.boolean("automatic", false).value_or(!code.has_value());
  w.field("automatic", automatic);
  w.field("priority", body.integer("priority", false, -1'000'000, 1'000'000).value_or(0));
  w.field("minSubtotal", body.integer("minSubtotal", false, 0, max_amount).value_or(0));
  w.key("productIds").begin_array();
  auto products = body.string_array("productIds", false, 1000, 64);
  for (const auto& p : products.value_or(std::vector<std::string>{})) w.value(p);
  w.end_array();
  read_window(body, w);
  auto limit = body.integer("usageLimit", false, 1, max_amount);
  w.key("usageLimit");
  if (limit)
    w.value(*limit);
  else
    w.null();
  w.field("active", body.boolean("active", false).value_or(true));
  w.end_object();
  if (!code && !automatic) body.fail("code", "a discount without a code must be automatic");
  return discount_draft{w.str(), code ? lower(*code) : "", type.value_or("")};
}

/// `base` (a JSON object) with `change`'s members in place of its own and added after them;
/// a null member clears the field, as if a POST had left it out.
std::string merge_members(const std::string& base, const members& change) {
  body_reader reader(base);
  auto kept = reader.members();
  json_writer w;
  w.begin_object();
  for (const auto& [k, v] : kept) {
    bool replaced =
        std::any_of(change.begin(), change.end(), [&](const auto& c) { return c.first == k; });
    if (!replaced) w.key(k).raw_or_null(v);
  }
  for (const auto& [k, v] : change) w.key(k).raw_or_null(v);
  w.end_object();
  return w.str();
}

/// A discount as admins see it: its JSON and `used`, the orders that used it so far (kept by
/// the store beside the body; the public listing leaves it out).
std::string with_used(const std::string& body, std::int64_t used) {
  return merge_members(body, {{"used", std::to_string(used)}});
}

std::string type_of(const std::string& body) {
  body_reader reader(body);
  return reader.string("type", false, 1, 16).value_or("");
}

/// The outcome of a discount write, decided on a store worker.
struct discount_write {
  int status = 200;
  std::string body;                   ///< 200/201: the discount's JSON
  std::string location;               ///< 201: where GET finds it
  std::optional<domain_error> error;  ///< a status of 400 and above
};

discount_write answer(int status, std::string body) {
  return discount_write{status, std::move(body), {}, {}};
}
discount_write problem(error_code c, std::string detail) {
  auto e = make_error(c, std::move(detail));
  return discount_write{0, {}, {}, std::move(e)};
}
discount_write no_such_discount() { return problem(error_code::not_found, "no such discount"); }
discount_write code_in_use() {
  return problem(error_code::conflict, "a discount with this code exists");
}

std::optional<pricing_rule> find_discount(store& s, const std::string& id) {
  for (auto& r : s.list_pricing_rules("discount"))
    if (r.id == id) return r;
  return std::nullopt;
}

bool code_taken(store& s, const std::string& code, const std::string& by_other_than) {
  if (code.empty()) return false;
  for (const auto& r : s.list_pricing_rules("discount"))
    if (r.code == code && r.id != by_other_than) return true;
  return false;
}

/// Writes `rule` with `write` (a put or a conditional replace). Two admins taking one code at
/// once (maybe on two nodes): the store's unique index refuses the second, answered as 409.
template <class Write>
std::optional<discount_write> write_or_conflict(store& s, const pricing_rule& rule, Write write) {
  try {
    write();
    return std::nullopt;
  } catch (const std::exception&) {
    if (code_taken(s, rule.code, rule.id)) return code_in_use();
    throw;
  }
}

/// Runs a discount write on a store worker and answers it; after a change this node's pricing
/// book is reloaded, so carts and quotes here are priced with it from the answer on.
void write_discount(const exchange_ptr& ex,
                    std::function<discount_write(store&, const exchange&)> action) {
  ex->run(auth_mode::admin, [action](caf::event_based_actor* self, exchange_ptr e,
                                     finish_fn finish) {
    call_store<discount_write>(
        self, e->svc.runtime.store_pool(), e->svc.cfg.http.request_timeout, false,
        [action, e, book = e->svc.runtime.pricing()](store& s) {
          auto out = action(s, *e);
          if (!out.error && book) {
            try {
              book->refresh();
            } catch (const std::exception& err) {
              // Written all the same: the book's own round reloads it within a second.
              spdlog::warn(
                  R"({{"msg":"pricing book not reloaded after a discount write","error":{}}})",
                  json_quoted(err.what()));
            }
          }
          return out;
        },
        [e, finish](std::optional<discount_write> out) {
          if (!out) return finish(unavailable(e));
          if (out->error) return finish(error_response(*out->error, e->req));
          if (out->status == 204) return finish(no_content_response());
          auto r = json_response(out->status, out->body);
          if (!out->location.empty()) r.headers.emplace_back("Location", out->location);
          finish(std::move(r));
        });
  });
}

/// A stored discount with `change` merged over it, written back only if nobody changed it in
/// between (else merged again over theirs): `decide` checks the merged discount against the
/// stored one and its type. (Body readers share one parser per thread: the stored type is read
/// before the merged body is parsed, and `merged` keeps only its errors once decide reads on.)
using merge_check = std::function<std::optional<discount_write>(
    const pricing_rule& stored, const std::string& stored_type, const discount_draft& draft,
    body_reader& merged)>;
discount_write merge_and_write(store& s, const std::string& id, const members& change,
                               const merge_check& decide, int ok_status) {
  for (int attempt = 0; attempt < 8; ++attempt) {
    auto stored = find_discount(s, id);
    if (!stored) return no_such_discount();
    auto stored_type = type_of(stored->body);
    auto merged_json = merge_members(stored->body, change);
    body_reader merged(merged_json);
    auto draft = read_discount(merged, id);
    if (auto refused = decide(*stored, stored_type, draft, merged)) return *refused;
    pricing_rule rule{"discount", id, draft.code, draft.json};
    bool replaced = false;
    if (auto conflict = write_or_conflict(
            s, rule, [&] { replaced = s.replace_pricing_rule(rule, stored->body); }))
      return *conflict;
    if (replaced)
      return answer(ok_status, ok_status == 204 ? "" : with_used(draft.json, stored->used));
  }
  return problem(error_code::conflict, "the discount kept changing; retry");
}

}  // namespace

void create_discount(const exchange_ptr& ex) {
  if (!ex->authenticate(auth_mode::admin)) return;
  body_reader body(ex->req.body);
  if (body.error()) return ex->fail(*body.error());
  auto id = new_uuid_v7(now_ms());
  auto draft = read_discount(body, id);
  if (auto e = body.validation_error()) return ex->fail(*e);
  pricing_rule rule{"discount", id, draft.code, draft.json};
  write_discount(ex, [rule](store& s, const exchange& e) {
    if (code_taken(s, rule.code, rule.id)) return code_in_use();
    // With an Idempotency-Key the answer commits with the discount: a crash in between can
    // never let a retry create a second one (an automatic promotion would apply twice).
    auto created = answer(201, with_used(rule.body, 0));
    created.location = "/api/v1/admin/discounts/" + rule.id;
    auto created_response = json_response(created.status, created.body);
    created_response.headers.emplace_back("Location", created.location);
    auto completes = completion_for(e, created_response);
    auto put = [&] { s.put_pricing_rule(rule, completes ? &*completes : nullptr); };
    if (auto conflict = write_or_conflict(s, rule, put)) return *conflict;
    recorded(e);
    return created;
  });
}

void patch_discount(const exchange_ptr& ex) {
  if (!ex->authenticate(auth_mode::admin)) return;
  body_reader body(ex->req.body);
  if (body.error()) return ex->fail(*body.error());
  auto change = body.members();
  bool retype = body.has("type");
  auto id = ex->param(0);
  write_discount(ex, [id, change, retype](store& s, const exchange&) {
    merge_check decide = [&s, retype](const pricing_rule& stored, const std::string& stored_type,
                                      const discount_draft& draft,
                                      body_reader& merged) -> std::optional<discount_write> {
      // The type is what the discount is: a PATCH may repeat it, never change it.
      if (retype && !draft.type.empty() && draft.type != stored_type)
        merged.fail("type", "cannot change; create a new discount instead");
      if (auto e = merged.validation_error()) return discount_write{0, {}, {}, e};
      if (code_taken(s, draft.code, stored.id)) return code_in_use();
      return std::nullopt;
    };
    return merge_and_write(s, id, change, decide, 200);
  });
}

void get_discount(const exchange_ptr& ex) {
  if (!ex->authenticate(auth_mode::admin)) return;
  auto id = ex->param(0);
  ex->run(auth_mode::admin, [id](caf::event_based_actor* self, exchange_ptr e, finish_fn finish) {
    call_store<std::optional<pricing_rule>>(
        self, e->svc.runtime.store_pool(), e->svc.cfg.http.request_timeout, false,
        [id](store& s) { return find_discount(s, id); },
        [e, finish](std::optional<std::optional<pricing_rule>> found) {
          if (!found) return finish(unavailable(e));
          if (!*found)
            return finish(error_response(make_error(error_code::not_found, "no such discount"), e->req));
          finish(json_response(200, with_used((*found)->body, (*found)->used)));
        });
  });
}

void delete_discount(const exchange_ptr& ex) {
  if (!ex->authenticate(auth_mode::admin)) return;
  auto id = ex->param(0);
  // Retired, not removed: orders keep pointing at it, admins still list it, it keeps its code.
  write_discount(ex, [id](store& s, const exchange&) {
    merge_check keep = [](const pricing_rule&, const std::string&, const discount_draft&,
                          body_reader&) -> std::optional<discount_write> { return std::nullopt; };
    return merge_and_write(s, id, {{"active", "false"}}, keep, 204);
  });
}

void list_discounts(const exchange_ptr& ex) {
  if (!ex->authenticate(auth_mode::open)) return;
  ex->run(auth_mode::open, [](caf::event_based_actor* self, exchange_ptr e, finish_fn finish) {
    call_store<std::vector<pricing_rule>>(
        self, e->svc.runtime.store_pool(), e->svc.cfg.http.request_timeout, false,
        [](store& s) { return s.list_pricing_rules("discount"); },
        [e, finish](std::optional<std::vector<pricing_rule>> rules) {
          if (!rules) return finish(unavailable(e));
          json_writer w;
          w.begin_object().key("items").begin_array();
          auto now = now_ms();
          for (const auto& r : *rules) {
            auto d = decode_discount(r);
            bool current = d && d->active && d->automatic &&
                           (!d->starts_at_ms || *d->starts_at_ms <= now) &&
                           (!d->ends_at_ms || now < *d->ends_at_ms) &&
                           (!d->usage_limit || d->used < *d->usage_limit);
            if (e->who.admin)
              w.raw_or_null(with_used(r.body, r.used));  // admins: every one
            else if (current)
              w.raw_or_null(r.body);
          }
          w.end_array().end_object();
          finish(json_response(200, w.str()));
        });
  });
}

}  // namespace cartd
