#include <caf/all.hpp>

#include "actors/store_pool.hpp"
#include "actors/system.hpp"
#include "domain/time.hpp"
#include "http/json.hpp"
#include "http/render.hpp"
#include "http/route_support.hpp"
#include "http/routes.hpp"
#include "http/service.hpp"

namespace cartd {

namespace {

struct upserted {
  bool created = false;
  std::optional<product> stored;
};

/// Reads the product of PUT /admin/products/{id}; field errors go into `body`.
product read_product(body_reader& body, const std::string& id) {
  product p;
  p.id = product_id{id};
  p.name = body.string("name", true, 1, 200).value_or("");
  p.currency = body.string("currency", true, 3, 3).value_or("USD");
  if (!is_currency(p.currency))
    body.fail("currency", "must be an ISO 4217 code like USD");
  p.active = body.boolean("active", false).value_or(true);
  auto variants = body.objects("variants", true, 1, 100);
  for (auto& v : variants) {
    variant var;
    var.id = variant_id{v->string("id", true, 1, 64).value_or("")};
    if (!var.id.empty() && !is_catalog_id(var.id.value)) v->fail("id", "must match [A-Za-z0-9._-]");
    var.sku = v->string("sku", false, 1, 64).value_or("");
    var.price = v->integer("price", true, 0, 10'000'000'000).value_or(0);
    var.stock = v->integer("stock", true, 0, 1'000'000'000).value_or(0);
    var.name = v->string("name", false, 1, 200).value_or("");
    var.options = v->string_map("options", false, 8, 64).value_or(variant_options{});
    for (const auto& seen : p.variants)
      if (seen.id == var.id) v->fail("id", "duplicate variant id");
    for (auto& fe : v->field_errors()) body.field_errors().push_back(fe);
    p.variants.push_back(std::move(var));
  }
  return p;
}

}  // namespace

void put_product(const exchange_ptr& ex) {
  if (!ex->authenticate(auth_mode::admin)) return;
  const auto& id = ex->param(0);
  if (!is_catalog_id(id)) return ex->fail(make_error(error_code::not_found, "no such product"));
  body_reader body(ex->req.body);
  if (body.error()) return ex->fail(*body.error());
  product p = read_product(body, id);
  if (auto e = body.validation_error()) return ex->fail(*e);
  p.updated_at_ms = now_ms();
  ex->run(auth_mode::admin, [p](caf::event_based_actor* self, exchange_ptr e, finish_fn finish) {
    call_store<upserted>(
        self, e->svc.runtime.store_pool(), e->svc.cfg.http.request_timeout, false,
        [p](store& s) {
          upserted u;
          u.created = s.upsert_product(p);
          u.stored = s.get_product(p.id);
          return u;
        },
        [e, finish, id = p.id](std::optional<upserted> u) {
          e->svc.runtime.catalog().invalidate(id);
          if (!u || !u->stored)
            return finish(error_response(make_error(error_code::unavailable, "store"), e->req));
          auto r = json_response(u->created ? 201 : 200, render_product(*u->stored));
          if (u->created) r.headers.emplace_back("Location", e->req.path);
          finish(std::move(r));
        });
  });
}

void get_product(const exchange_ptr& ex) {
  if (!ex->authenticate(auth_mode::open)) return;
  const auto& id = ex->param(0);
  if (!is_catalog_id(id)) return ex->fail(make_error(error_code::not_found, "no such product"));
  ex->run(auth_mode::open, [id](caf::event_based_actor* self, exchange_ptr e,
                                    finish_fn finish) {
    call_store<std::optional<product>>(
        self, e->svc.runtime.store_pool(), e->svc.cfg.http.request_timeout, false,
        [id](store& s) { return s.get_product(product_id{id}); },
        [e, finish](std::optional<std::optional<product>> p) {
          if (!p) return finish(error_response(make_error(error_code::unavailable, "store"), e->req));
          if (!*p || (!(*p)->active && !e->who.admin))
            return finish(error_response(make_error(error_code::not_found, "no such product"), e->req));
          finish(json_response(200, render_product(**p)));
        });
  });
}

void list_products(const exchange_ptr& ex) {
  if (!ex->authenticate(auth_mode::open)) return;
  product_query q;
  std::vector<field_error> errors;
  if (auto text = ex->query("q")) {
    if (text->size() > 200) errors.push_back({"q", "at most 200 characters", {}});
    q.name_contains = *text;
  }
  read_page(ex, q.limit, q.after, errors);
  if (fail_query(ex, std::move(errors))) return;
  ex->run(auth_mode::open, [q](caf::event_based_actor* self, exchange_ptr e, finish_fn finish) {
    call_store<std::vector<product>>(
        self, e->svc.runtime.store_pool(), e->svc.cfg.http.request_timeout, false,
        [q](store& s) { return s.list_products(q); },
        [e, finish, limit = q.limit](std::optional<std::vector<product>> found) {
          if (!found) return finish(error_response(make_error(error_code::unavailable, "store"), e->req));
          std::string next;
          if (static_cast<int>(found->size()) > limit) {
            found->resize(static_cast<std::size_t>(limit));
            const auto& last = found->back();
            next = encode_cursor(page_key{0, last.created_at_ms, last.id.value});
          }
          finish(json_response(200, render_product_list(*found, next)));
        });
  });
}

}  // namespace cartd
