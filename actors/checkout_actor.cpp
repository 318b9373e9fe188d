#include "actors/checkout_actor.hpp"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <spdlog/spdlog.h>

#include <map>
#include <set>
#include <unordered_map>

#include "actors/cart_protocol.hpp"
#include "actors/checkout_internal.hpp"
#include "actors/metrics.hpp"
#include "actors/pricing_book.hpp"
#include "domain/time.hpp"
#include "persistence/checkout_codec.hpp"

namespace cartd {

namespace {

using json_out = rapidjson::Writer<rapidjson::StringBuffer>;

void text(json_out& w, const char* k, const std::string& v) {
  w.Key(k);
  w.String(v.data(), static_cast<rapidjson::SizeType>(v.size()));
}

void number(json_out& w, const char* k, std::int64_t v) {
  w.Key(k);
  w.Int64(v);
}

struct open_inputs {
  std::optional<cart> c;
  std::map<std::string, product> products;
};

struct price_change {
  item_id item;
  std::int64_t old_price = 0;
  std::int64_t new_price = 0;
};

const variant* find_variant(const open_inputs& in, const cart_item& it) {
  auto p = in.products.find(it.product.value);
  if (p == in.products.end() || !p->second.active) return nullptr;
  if (in.c && p->second.currency != in.c->currency) return nullptr;
  for (const auto& v : p->second.variants)
    if (v.id == it.variant) return &v;
  return nullptr;
}

checkout_reply price_changed(const std::vector<price_change>& changes) {
  rapidjson::StringBuffer buf;
  json_out w(buf);
  w.StartArray();
  for (const auto& c : changes) {
    w.StartObject();
    text(w, "itemId", c.item.value);
    number(w, "oldUnitPrice", c.old_price);
    number(w, "newUnitPrice", c.new_price);
    w.EndObject();
  }
  w.EndArray();
  auto e = make_error(error_code::price_changed,
                      "prices changed since the items were added; the cart now has the new "
                      "prices: review them and start checkout again");
  e.members.emplace_back("changes", buf.GetString());
  return checkout_reply::fail(std::move(e));
}

checkout_reply insufficient(const std::vector<stock_shortage>& lines) {
  rapidjson::StringBuffer buf;
  json_out w(buf);
  w.StartArray();
  std::string detail;
  for (const auto& l : lines) {
    w.StartObject();
    text(w, "productId", l.product.value);
    text(w, "variantId", l.variant.value);
    number(w, "requested", l.requested);
    number(w, "available", l.available);
    w.EndObject();
    if (!detail.empty()) detail += "; ";
    detail += "only " + std::to_string(l.available) + " of variant " + l.variant.value + " left";
  }
  w.EndArray();
  auto e = make_error(error_code::insufficient_stock, detail);
  e.members.emplace_back("lines", buf.GetString());
  return checkout_reply::fail(std::move(e));
}

checkout_reply unavailable_lines(const std::vector<const cart_item*>& items) {
  rapidjson::StringBuffer buf;
  json_out w(buf);
  w.StartArray();
  for (const auto* it : items) {
    w.StartObject();
    text(w, "itemId", it->id.value);
    text(w, "productId", it->product.value);
    text(w, "variantId", it->variant.value);
    w.EndObject();
  }
  w.EndArray();
  auto e = make_error(error_code::unknown_product,
                      "some items are no longer available; remove them and try again");
  e.members.emplace_back("lines", buf.GetString());
  return checkout_reply::fail(std::move(e));
}

/// The live prices written into the cart (one conditional write), then its actor reloaded.
void reprice_cart(checkout_self self, cart next, std::uint64_t seen,
                  std::vector<price_change> changes, reply_fn done) {
  auto carts = self->state.deps.carts;
  checkout_io<write_status>(
      self,
      [next, seen](store& s) {
        return s.commit({write_unit{{cart_write{next, seen}}, std::nullopt, {}}}).at(0);
      },
      [carts, next, changes, done](std::optional<write_status> w) {
        if (!w) return done(store_down());
        caf::anon_send(carts, evict_atom::value, next.id.value);
        if (*w == write_status::conflict)
          return done(checkout_reply::fail(
              make_error(error_code::conflict, "the cart changed while checkout looked; retry")));
        done(price_changed(changes));
      });
}

checkout_session session_of(const checkout_state& st, const checkout_open& cmd, const cart& c,
                            const pricing_rules& rules, const priced_totals& p, std::int64_t now) {
  checkout_session s;
  s.id = cmd.id;
  s.cart = c.id;
  s.user_id = c.user_id;
  s.session_id = c.session_id;
  s.cart_version = c.version;
  s.shipping_address_json = cmd.shipping_address_json;
  s.billing_address_json = cmd.billing_address_json;
  s.shipping_method = c.shipping_method;
  s.email = cmd.email;
  for (const auto& it : c.items)
    s.lines.push_back(checkout_line{it.id, it.product, it.variant, it.name, it.quantity, it.unit_price});
  const auto& t = p.sums;
  s.totals = money_totals{t.currency, t.subtotal, t.discount_total, t.tax_total, t.shipping_total,
                          t.total};
  s.totals_json = st.deps.render_totals ? st.deps.render_totals(p) : std::string("{}");
  for (const auto& a : p.applied) {
    discount_use use{a.id, std::nullopt};
    for (const auto& d : rules.discounts)
      if (d.id == a.id) use.limit = d.usage_limit;
    s.discounts.push_back(use);
  }
  s.expires_at_ms = now + st.deps.session_ttl.count();
  s.created_at_ms = now;
  s.updated_at_ms = now;
  s.version = 1;
  return s;
}

void reserve_and_open(checkout_self self, checkout_session s, reply_fn done) {
  bool events = self->state.deps.publish_events;
  checkout_io<open_checkout_result>(
      self,
      [s, events, catalog = self->state.deps.catalog](store& st) {
        auto r = st.open_checkout(s);
        if (r.result == open_checkout_result::outcome::opened) forget_products(catalog, s.lines);
        if (events && r.result == open_checkout_result::outcome::opened) {
          st.commit({write_unit{{}, std::nullopt,
                                {outbox_event{s.cart.value, "checkout_started",
                                              encode_checkout_event(s, s.created_at_ms)}}}});
        }
        return r;
      },
      [self, s, done](std::optional<open_checkout_result> r) {
        using outcome = open_checkout_result::outcome;
        if (!r) return done(store_down());
        if (r->result == outcome::insufficient_stock) return done(insufficient(r->shortages));
        if (r->result == outcome::processing_exists)
          return done(checkout_reply::fail(make_error(
              error_code::conflict, "a checkout session of this cart is being paid already")));
        auto& deps = self->state.deps;
        deps.stats->checkout().started.Increment();
        deps.figures->started++;
        if (!r->replaced.empty()) {
          deps.stats->checkout().expired.Increment(r->replaced.size());
          deps.figures->expired += static_cast<std::int64_t>(r->replaced.size());
        }
        arm_expiry(self, s);
        checkout_reply out;
        out.how = checkout_reply::kind::created;
        out.session = s;
        done(std::move(out));
      });
}

void open_session(checkout_self self, checkout_open cmd, reply_fn done) {
  auto cart = cmd.cart;
  checkout_io<open_inputs>(
      self,
      [cart](store& s) {
        open_inputs in;
        in.c = s.load_cart(cart);
        if (!in.c) return in;
        std::set<std::string> ids;
        for (const auto& it : in.c->items) ids.insert(it.product.value);
        for (const auto& id : ids)
          if (auto p = s.get_product(product_id{id})) in.products.emplace(id, std::move(*p));
        return in;
      },
      [self, cmd, done](std::optional<open_inputs> in) {
        if (!in) return done(store_down());
        if (!in->c || in->c->status == cart_status::deleted || !can_access(*in->c, cmd.who))
          return done(checkout_reply::fail(make_error(error_code::not_found, "no such cart")));
        const auto& c = *in->c;
        if (c.status != cart_status::active)
          return done(checkout_reply::fail(
              make_error(error_code::cart_not_active, "the cart is " + std::string(to_string(c.status)))));
        if (c.items.empty())
          return done(checkout_reply::fail(make_error(error_code::cart_empty, "the cart is empty")));
        std::vector<const cart_item*> gone;
        std::vector<price_change> changes;
        auto next = c;
        for (auto& it : next.items) {
          const auto* v = find_variant(*in, it);
          if (!v) {
            gone.push_back(find_item(c, it.id));
          } else if (v->price != it.unit_price) {
            changes.push_back(price_change{it.id, it.unit_price, v->price});
            it.unit_price = v->price;
          }
        }
        if (!gone.empty()) return done(unavailable_lines(gone));
        auto now = now_ms();
        if (!changes.empty()) {
          next.version = c.version + 1;
          next.updated_at_ms = now;
          return reprice_cart(self, next, c.version, changes, done);
        }
        auto rules = self->state.deps.pricing ? self->state.deps.pricing->current() : nullptr;
        if (!rules) rules = std::make_shared<const pricing_rules>();
        auto priced = c;
        if (!cmd.shipping_method.empty()) {
          auto m = rules->shipping.find(cmd.shipping_method);
          if (m == rules->shipping.end() ||
              (!m->second.currency.empty() && m->second.currency != c.currency)) {
            auto e = make_error(error_code::validation_failed, "unknown shipping method");
            e.errors.push_back({"shippingMethod", "no such shipping method for this cart"});
            return done(checkout_reply::fail(std::move(e)));
          }
          priced.shipping_method = cmd.shipping_method;
        }
        if (priced.region.empty()) priced.region = cmd.tax_region;
        auto p = price(pricing_book::request_for(priced, *rules, now));
        reserve_and_open(self, session_of(self->state, cmd, priced, *rules, p, now), done);
      });
}

/// The session as stored; a due one is expired first (its stock released once).
void get_session(checkout_self self, checkout_get cmd, reply_fn done) {
  auto id = cmd.id;
  checkout_io<std::pair<std::optional<checkout_session>, bool>>(
      self,
      [id, catalog = self->state.deps.catalog](store& s) {
        auto now = now_ms();
        bool expired = s.expire_checkout(id, now, false);
        auto loaded = s.load_checkout(id);
        if (expired && loaded) forget_products(catalog, loaded->lines);
        return std::make_pair(loaded, expired);
      },
      [self, cmd, done](std::optional<std::pair<std::optional<checkout_session>, bool>> r) {
        if (!r) return done(store_down());
        auto& [s, expired] = *r;
        if (expired) {
          self->state.deps.stats->checkout().expired.Increment();
          self->state.deps.figures->expired++;
        }
        if (!s || !can_access(*s, cmd.who))
          return done(checkout_reply::fail(make_error(error_code::not_found, "no such checkout session")));
        arm_expiry(self, *s);
        checkout_reply out;
        out.how = checkout_reply::kind::session;
        out.session = *s;
        done(std::move(out));
      });
}

void on_expire(checkout_self self) {
  auto id = self->state.id;
  checkout_io<bool>(
      self,
      [id, catalog = self->state.deps.catalog](store& s) {
        bool expired = s.expire_checkout(id, now_ms(), false);
        if (expired)
          if (auto loaded = s.load_checkout(id)) forget_products(catalog, loaded->lines);
        return expired;
      },
      [self](std::optional<bool> expired) {
        if (expired && *expired) {
          self->state.deps.stats->checkout().expired.Increment();
          self->state.deps.figures->expired++;
        }
      });
}

caf::behavior checkout_behavior(checkout_self self, std::string id, checkout_deps deps,
                                caf::actor registry) {
  self->state.id = std::move(id);
  self->state.deps = std::move(deps);
  self->state.registry = registry;
  self->state.last_active_ms = now_ms();
  self->delayed_send(self, self->state.deps.idle_timeout, idle_atom::value);
  auto answer = [self]() {
    self->state.last_active_ms = now_ms();
    auto rp = self->make_response_promise();
    return std::make_pair(rp, reply_fn([rp](checkout_reply r) mutable { rp.deliver(std::move(r)); }));
  };
  return {
      [self, answer](checkout_open& cmd) {
        auto [rp, done] = answer();
        open_session(self, std::move(cmd), done);
        return rp;
      },
      [self, answer](checkout_get& cmd) {
        auto [rp, done] = answer();
        get_session(self, std::move(cmd), done);
        return rp;
      },
      [self, answer](checkout_process& cmd) {
        auto [rp, done] = answer();
        process_payment(self, std::move(cmd), done);
        return rp;
      },
      [self, answer](checkout_confirm& cmd) {
        auto [rp, done] = answer();
        confirm_payment(self, std::move(cmd), done);
        return rp;
      },
      [self](expire_atom) { on_expire(self); },
      [self, registry](idle_atom) {
        auto& st = self->state;
        auto idle_for = std::chrono::milliseconds(now_ms() - st.last_active_ms);
        if (idle_for >= st.deps.idle_timeout) {
          // Its expiry, if still due, is the reconciler's now.
          self->send(registry, passivate_atom::value, st.id, caf::actor_cast<caf::actor>(self));
        } else {
          self->delayed_send(self, st.deps.idle_timeout - idle_for, idle_atom::value);
        }
      },
      [self](passivate_atom) { self->quit(); },
  };
}

struct registry_state {
  checkout_deps deps;
  std::unordered_map<std::string, caf::actor> sessions;
  std::unordered_map<caf::actor_addr, std::string> ids;
};

using registry_self = caf::stateful_actor<registry_state>*;

void forget(registry_self self, const std::string& id) {
  auto& st = self->state;
  auto it = st.sessions.find(id);
  if (it == st.sessions.end()) return;
  st.ids.erase(it->second.address());
  st.sessions.erase(it);
  st.deps.figures->live = static_cast<std::int64_t>(st.sessions.size());
  st.deps.stats->checkout().live.Set(static_cast<double>(st.sessions.size()));
}

caf::actor& find_or_spawn(registry_self self, const std::string& id) {
  auto& st = self->state;
  auto it = st.sessions.find(id);
  if (it != st.sessions.end()) return it->second;
  auto a = self->spawn(checkout_behavior, id, st.deps, caf::actor_cast<caf::actor>(self));
  self->monitor(a);
  st.ids.emplace(a.address(), id);
  st.deps.figures->spawned++;
  st.deps.stats->checkout().spawned.Increment();
  auto& slot = st.sessions.emplace(id, std::move(a)).first->second;
  st.deps.figures->live = static_cast<std::int64_t>(st.sessions.size());
  st.deps.stats->checkout().live.Set(static_cast<double>(st.sessions.size()));
  return slot;
}

caf::behavior checkout_registry(registry_self self, checkout_deps deps) {
  self->state.deps = std::move(deps);
  self->set_down_handler([self](caf::down_msg& dm) {
    auto it = self->state.ids.find(dm.source);
    if (it == self->state.ids.end()) return;
    std::string id = it->second;
    forget(self, id);
  });
  self->set_exit_handler([self](caf::exit_msg& em) {
    for (auto& [id, a] : self->state.sessions) self->send_exit(a, em.reason);
    self->quit(em.reason);
  });
  return {
      [self](checkout_open& cmd) { return self->delegate(find_or_spawn(self, cmd.id), std::move(cmd)); },
      [self](checkout_get& cmd) { return self->delegate(find_or_spawn(self, cmd.id), std::move(cmd)); },
      [self](checkout_process& cmd) {
        return self->delegate(find_or_spawn(self, cmd.id), std::move(cmd));
      },
      [self](checkout_confirm& cmd) {
        return self->delegate(find_or_spawn(self, cmd.id), std::move(cmd));
      },
      [self](expire_atom, const std::string& id) {
        // A live session's expiry timer (arm_expiry); a passivated one is the reconciler's.
        auto it = self->state.sessions.find(id);
        if (it != self->state.sessions.end()) self->send(it->second, expire_atom::value);
      },
      [self](passivate_atom, const std::string& id, const caf::actor& who) {
        auto it = self->state.sessions.find(id);
        if (it == self->state.sessions.end() || it->second.address() != who.address()) return;
        self->send(it->second, passivate_atom::value);
        forget(self, id);
      },
  };
}

}  // namespace

void arm_expiry(checkout_self self, const checkout_session& s) {
  auto& st = self->state;
  if (st.expiry_armed) return;
  if (s.status != checkout_status::open && s.status != checkout_status::processing) return;
  st.expiry_armed = true;
  auto left = std::max<std::int64_t>(0, s.expires_at_ms - now_ms());
  // To the registry, anonymously, by session id: a delayed message holds its receiver and its
  // sender until it fires, and a session lives up to checkout.session_ttl (15 min) while its
  // actor passivates after an idle minute. Sent to itself, every actor of those 15 minutes
  // stayed in memory (the soak saw RSS grow by ~1.5 KB per journey). The registry passes it
  // to the session's actor if one is live; if none is, the reconciler expires the session.
  caf::delayed_anon_send(st.registry, std::chrono::milliseconds(left), expire_atom::value,
                         st.id);
}

caf::actor spawn_checkout_registry(caf::actor_system& sys, checkout_deps deps) {
  return sys.spawn(checkout_registry, std::move(deps));
}

}  // namespace cartd
