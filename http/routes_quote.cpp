// Discounts (admin) and quotes: POST /pricing/calculate prices items with the pricing engine
// against the catalog and the stored rules, storing nothing.
#include <caf/all.hpp>

#include <algorithm>
#include <cctype>
#include <functional>
#include <map>
#include <mutex>

#include "actors/pricing_book.hpp"
#include "actors/pricing_pool.hpp"
#include "actors/store_pool.hpp"
#include "actors/system.hpp"
#include "domain/catalog.hpp"
#include "domain/money.hpp"
#include "domain/time.hpp"
#include "http/json.hpp"
#include "http/pricing_codec.hpp"
#include "http/route_support.hpp"
#include "http/routes.hpp"
#include "http/service.hpp"

namespace cartd {

namespace {

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

}  // namespace

namespace {

/// A discount as its API JSON (what POST answers and the store keeps), read from a POST body
/// or from a stored discount with a PATCH merged over it: one set of checks for both. Field
/// errors are collected in `body`.
struct discount_draft {
  std::string json;
  std::string code;  ///< lower-cased, empty: none
};

discount_draft read_discount(body_reader& body, const std::string& id) {
  auto code = body.string("code", false, 1, 64);
  if (code && !valid_code(*code)) body.fail("code", "letters, digits, - and _ only");
  auto type = body.string("type", true, 1, 16);
  if (type && *type != "percentage" && *type != "fixed") body.fail("type", "must be percentage or fixed");
  json_writer w;
  w.begin_object();
  w.field("id", id);
  w.key("code").value_or_null(code.value_or(""));
  w.field("type", type.value_or(""));
  auto currency = body.string("currency", false, 3, 3);
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
    if (!pct) body.fail("value", "a percent 0..100: an integer or a decimal string like \"12.5\"");
    else w.field("value", format_rate(*pct));
  } else if (type) {
    auto amount = body.integer("value", true, 1, max_amount);
    if (amount) w.field("value", *amount);
    if (!currency) body.fail("currency", "a fixed discount needs the currency of its amount");
  }
  if (currency && !std::all_of(currency->begin(), currency->end(), [](char c) { return c >= 'A' && c <= 'Z'; }))
    body.fail("currency", "must be an ISO 4217 code like USD");
  w.key("currency").value_or_null(type && *type == "fixed" ? currency.value_or("") : "");
  bool automatic = body.boolean("automatic", false).value_or(!code.has_value());
  w.field("automatic", automatic);
  w.field("priority", body.integer("priority", false, -1'000'000, 1'000'000).value_or(0));
  w.field("minSubtotal", body.integer("minSubtotal", false, 0, max_amount).value_or(0));
  w.key("productIds").begin_array();
  for (const auto& p : body.string_array("productIds", false, 1000, 64).value_or(std::vector<std::string>{})) w.value(p);
  w.end_array();
  auto starts = body.string("startsAt", false, 1, 40);
  auto ends = body.string("endsAt", false, 1, 40);
  constexpr std::int64_t none = -1;  // absent or not a time
  std::int64_t s_ms = starts ? parse_rfc3339(*starts).value_or(none) : none;
  std::int64_t e_ms = ends ? parse_rfc3339(*ends).value_or(none) : none;
  if (starts && s_ms == none) body.fail("startsAt", "must be an RFC 3339 UTC time");
  if (ends && e_ms == none) body.fail("endsAt", "must be an RFC 3339 UTC time");
  if (s_ms != none && e_ms != none && e_ms <= s_ms) body.fail("endsAt", "must be after startsAt");
  w.key("startsAt").value_or_null(s_ms != none ? format_rfc3339(s_ms) : "");
  w.key("endsAt").value_or_null(e_ms != none ? format_rfc3339(e_ms) : "");
  auto limit = body.integer("usageLimit", false, 1, max_amount);
  w.key("usageLimit");
  if (limit) w.value(*limit); else w.null();
  w.field("active", body.boolean("active", false).value_or(true));
  w.end_object();
  if (!code && !automatic) body.fail("code", "a discount without a code must be automatic");
  return discount_draft{w.str(), code ? lower(*code) : ""};
}

/// A discount as admins see it: its stored JSON and `used`, the orders that used it so far
/// (kept by the store beside the body; the public listing leaves it out).
std::string with_used(const std::string& body, std::int64_t used) {
  if (body.size() < 2 || body.back() != '}') return body;
  return body.substr(0, body.size() - 1) + ",\"used\":" + std::to_string(used) + "}";
}

/// Discount writes on this node one at a time, so two PATCHes of one discount cannot each
/// merge over the same stored body and lose the other's fields (nodes are not serialised:
/// the last write across nodes wins, whole).
std::mutex discount_writes;

http_response no_content() {
  http_response r;
  r.status = 204;
  r.content_type.clear();
  return r;
}

/// The outcome of a discount write, computed on a store worker.
struct discount_write {
  int status = 200;
  std::string body;                  ///< 200/201: the discount's JSON
  std::optional<domain_error> error;  ///< 400
};

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

/// Stores a discount write and answers it: 409 and 404 as problems, 204 without a body.
void write_discount(const exchange_ptr& ex, std::function<discount_write(store&)> action) {
  ex->run(auth_mode::admin, [action](caf::event_based_actor* self, exchange_ptr e, finish_fn finish) {
    call_store<discount_write>(
        self, e->svc.runtime.store_pool(), e->svc.cfg.http.request_timeout, false,
        [action, book = e->svc.runtime.pricing()](store& s) {
          std::lock_guard<std::mutex> one_at_a_time(discount_writes);
          auto out = action(s);
          if (out.status < 300 && book) book->refresh();  // this node prices with it at once
          return out;
        },
        [e, finish](std::optional<discount_write> out) {
          if (!out) return finish(unavailable(e));
          auto problem = [&](error_code c, const char* detail) {
            finish(error_response(make_error(c, detail), e->req));
          };
          switch (out->status) {
            case 204: return finish(no_content());
            case 400: return finish(error_response(*out->error, e->req));
            case 404: return problem(error_code::not_found, "no such discount");
            case 409: return problem(error_code::conflict, "a discount with this code exists");
            default: return finish(json_response(out->status, out->body));
          }
        });
  });
}

/// The stored discount's JSON with the PATCH's members in place of its own (a null member
/// clears the field, as if a POST had left it out).
std::string merge_members(const std::string& stored,
                          const std::vector<std::pair<std::string, std::string>>& change) {
  body_reader base(stored);
  auto members = base.members();
  json_writer w;
  w.begin_object();
  for (const auto& [k, v] : members) {
    bool replaced = std::any_of(change.begin(), change.end(), [&](const auto& c) { return c.first == k; });
    if (!replaced) w.key(k).raw_or_null(v);
  }
  for (const auto& [k, v] : change) w.key(k).raw_or_null(v);
  w.end_object();
  return w.str();
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
  write_discount(ex, [rule](store& s) {
    if (code_taken(s, rule.code, rule.id)) return discount_write{409, {}, {}};
    s.put_pricing_rule(rule);
    return discount_write{201, with_used(rule.body, 0), {}};
  });
}

void patch_discount(const exchange_ptr& ex) {
  if (!ex->authenticate(auth_mode::admin)) return;
  body_reader body(ex->req.body);
  if (body.error()) return ex->fail(*body.error());
  auto change = body.members();
  std::optional<std::string> type;
  if (body.has("type")) {
    type = body.string("type", false, 1, 16);
    if (auto e = body.validation_error()) return ex->fail(*e);
  }
  auto id = ex->param(0);
  write_discount(ex, [id, change, type](store& s) {
    auto stored = find_discount(s, id);
    if (!stored) return discount_write{404, {}, {}};
    std::string stored_type;
    {
      body_reader before(stored->body);  // read before the merge: readers share a parser
      stored_type = before.string("type", true, 1, 16).value_or("");
    }
    auto merged = merge_members(stored->body, change);
    body_reader whole(merged);
    auto draft = read_discount(whole, id);
    if (type && *type != stored_type) whole.fail("type", "cannot change; create a new discount instead");
    if (auto e = whole.validation_error()) return discount_write{400, {}, e};
    if (code_taken(s, draft.code, id)) return discount_write{409, {}, {}};
    s.put_pricing_rule(pricing_rule{"discount", id, draft.code, draft.json});
    return discount_write{200, with_used(draft.json, stored->used), {}};
  });
}

void delete_discount(const exchange_ptr& ex) {
  if (!ex->authenticate(auth_mode::admin)) return;
  auto id = ex->param(0);
  // Retired, not removed: orders keep pointing at it and admins still list it.
  write_discount(ex, [id](store& s) {
    auto stored = find_discount(s, id);
    if (!stored) return discount_write{404, {}, {}};
    auto retired = merge_members(stored->body, {{"active", "false"}});
    s.put_pricing_rule(pricing_rule{"discount", id, stored->code, retired});
    return discount_write{204, {}, {}};
  });
}

void list_discounts(const exchange_ptr& ex) {
  if (!ex->authenticate(auth_mode::optional)) return;
  ex->run(auth_mode::optional, [](caf::event_based_actor* self, exchange_ptr e, finish_fn finish) {
    call_store<std::vector<pricing_rule>>(
        self, e->svc.runtime.store_pool(), e->svc.cfg.http.request_timeout, false,
        [](store& s) { return s.list_pricing_rules("discount"); },
        [e, finish](std::optional<std::vector<pricing_rule>> rules) {
          if (!rules) return finish(unavailable(e));
          json_writer w;
          w.begin_object().key("items").begin_array();
          auto now = now_ms();
          for (const auto& r : *rules) {
            auto d = discount_from_rule(r);
            bool current = d && d->active && d->automatic && (!d->starts_at_ms || *d->starts_at_ms <= now) &&
                           (!d->ends_at_ms || now < *d->ends_at_ms) &&
                           (!d->usage_limit || d->used < *d->usage_limit);
            if (e->who.admin) w.raw_or_null(with_used(r.body, r.used));  // admins: every one
            else if (current) w.raw_or_null(r.body);
          }
          w.end_array().end_object();
          finish(json_response(200, w.str()));
        });
  });
}

void calculate_quote(const exchange_ptr& ex) {
  if (!ex->authenticate(auth_mode::optional)) return;
  body_reader body(ex->req.body);
  if (body.error()) return ex->fail(*body.error());
  // The quote is priced as a cart with the same content: same checks, same engine, same rules.
  cart quoted;
  quoted.id = cart_id{"quote"};
  quoted.currency = body.string("currency", true, 3, 3).value_or("");
  cart_patch patch;
  patch.region = body.string("region", false, 2, 6);
  if (patch.region && !is_region(*patch.region)) body.fail("region", "must look like US or US-CA");
  auto items = body.objects("items", true, 1, 100);
  int n = 0;
  for (auto& it : items) {
    auto p = it->string("productId", true, 1, 64);
    auto v = it->string("variantId", true, 1, 64);
    auto q = it->integer("quantity", true, 1, ex->svc.cfg.cart.max_quantity_per_line);
    for (auto& fe : it->field_errors()) body.field_errors().push_back(fe);
    if (p && v && q) {
      quoted.items.push_back(cart_item{item_id{"line-" + std::to_string(n++)}, product_id{*p},
                                       variant_id{*v}, "", static_cast<std::int32_t>(*q), 0, 0});
    }
  }
  patch.discount_codes = body.string_array("discountCodes", false, 20, 64);
  patch.shipping_method = body.string("shippingMethod", false, 1, 64);
  if (auto e = body.validation_error()) return ex->fail(*e);
  ex->run(auth_mode::optional, [quoted, patch](caf::event_based_actor* self, exchange_ptr e,
                                               finish_fn finish) {
    std::vector<product_id> wanted;
    for (const auto& l : quoted.items) wanted.push_back(l.product);
    call_store<std::map<std::string, product>>(
        self, e->svc.runtime.store_pool(), e->svc.cfg.http.request_timeout, false,
        [wanted](store& s) {
          std::map<std::string, product> found;
          for (const auto& p : wanted)
            if (!found.count(p.value))
              if (auto got = s.get_product(p)) found.emplace(p.value, *got);
          return found;
        },
        [self, e, finish, quoted, patch](std::optional<std::map<std::string, product>> products) mutable {
          if (!products) return finish(unavailable(e));
          auto fail = [&](error_code c, std::string detail) {
            finish(error_response(make_error(c, std::move(detail)), e->req));
          };
          for (auto& l : quoted.items) {
            auto it = products->find(l.product.value);
            auto offer = it == products->end() ? std::nullopt : offer_for(it->second, l.variant);
            if (!offer || !offer->active)
              return fail(error_code::unknown_product, "unknown product " + l.product.value + " variant " + l.variant.value);
            if (offer->currency != quoted.currency)
              return fail(error_code::conflict, "product " + l.product.value + " is priced in " + offer->currency);
            l.unit_price = offer->price;
          }
          // Priced in the pricing bulkhead: a full one answers 503 at once.
          auto rules = rules_of(*e);
          call_pricing<http_response>(
              self, e->svc.runtime.pricing_workers(), e->svc.cfg.http.request_timeout,
              [quoted, patch, rules, req = e->req] {
                auto now = now_ms();
                auto priced = pricing_book::patch(quoted, patch, rules, now);
                if (!priced) return error_response(priced.error(), req);
                json_writer w;
                write_priced_totals(
                    w, price(pricing_book::request_for(*priced, rules ? *rules : pricing_rules{}, now)));
                return json_response(200, w.str());
              },
              [e, finish](std::optional<http_response> r) {
                if (!r) return finish(error_response(make_error(error_code::unavailable, "pricing did not answer"), e->req));
                finish(std::move(*r));
              },
              [e, finish] { finish(error_response(make_error(error_code::unavailable, "pricing is busy"), e->req)); });
        });
  });
}

}  // namespace cartd
