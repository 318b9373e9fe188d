#include "actors/orders_actor.hpp"

#include <caf/all.hpp>

#include "actors/catalog_cache.hpp"
#include "actors/metrics.hpp"
#include "actors/payment_gateway.hpp"
#include "actors/store_pool.hpp"
#include "domain/time.hpp"
#include "persistence/checkout_codec.hpp"

namespace cartd {

namespace {

struct orders_state {
  orders_deps deps;
};

using self_ptr = caf::stateful_actor<orders_state>*;
using done_fn = std::function<void(order_reply)>;

order_reply fail(domain_error e, int retry_after = 0) {
  order_reply r;
  r.error = std::move(e);
  r.retry_after_s = retry_after;
  return r;
}

order_reply one(order_record o) {
  order_reply r;
  r.ok = true;
  r.orders.push_back(std::move(o));
  return r;
}

order_reply store_down() { return fail(make_error(error_code::unavailable, "store unavailable")); }

template <class T, class Fn, class K>
void io(self_ptr self, Fn fn, K k) {
  call_store<T>(self, self->state.deps.store_pool, self->state.deps.io_timeout, false,
                std::move(fn), std::move(k));
}

/// Loads order `id` for `who` (404 for anyone else), then `next(order)`.
void with_order(self_ptr self, const principal& who, const std::string& id, done_fn done,
                std::function<void(order_record)> next) {
  io<std::optional<order_record>>(
      self, [id](store& s) { return s.load_order(id); },
      [who, done, next](std::optional<std::optional<order_record>> o) {
        if (!o) return done(store_down());
        if (!*o || !can_access(**o, who))
          return done(fail(make_error(error_code::not_found, "no such order")));
        next(std::move(**o));
      });
}

std::vector<outbox_event> events_of(const orders_deps& d, const order_record& o,
                                    std::initializer_list<const char*> types) {
  std::vector<outbox_event> out;
  if (!d.publish_events) return out;
  for (const char* t : types)
    out.push_back({o.cart.value, t, encode_order_event(t, o, o.updated_at_ms)});
  return out;
}

/// Writes `next` (version one past the stored one); a lost race answers the order as it is.
void write(self_ptr self, order_record next, bool restock, std::vector<outbox_event> events,
           done_fn done) {
  io<std::pair<bool, std::optional<order_record>>>(
      self,
      [next, restock, events, catalog = self->state.deps.catalog](store& s) {
        bool ok = s.update_order(next, restock, events);
        if (ok && restock && catalog)
          for (const auto& i : next.items) catalog->invalidate(i.product);
        return std::make_pair(ok, ok ? std::optional<order_record>(next) : s.load_order(next.id));
      },
      [self, next, done](std::optional<std::pair<bool, std::optional<order_record>>> r) {
        if (!r) return done(store_down());
        if (r->first) {
          self->state.deps.stats->checkout().orders.Add({{"status", to_string(next.status)}}).Increment();
          return done(one(next));
        }
        if (r->second && r->second->status == next.status) return done(one(*r->second));
        done(fail(make_error(error_code::conflict, "the order changed meanwhile; retry")));
      });
}

void cancel(self_ptr self, order_record o, done_fn done) {
  switch (decide_cancel(o.status)) {
    case cancel_decision::already_cancelled:
      return done(one(o));
    case cancel_decision::invalid:
      return done(fail(make_error(error_code::invalid_transition,
                                  "a " + std::string(to_string(o.status)) + " order cannot be cancelled")));
    case cancel_decision::cancel:
      break;
  }
  auto finish = [self, o, done](payment_status paid_back) {
    auto next = with_status(o, order_status::cancelled, now_ms());
    bool refunded = paid_back == payment_status::refunded && o.payment.status != paid_back;
    next.payment.status = paid_back;
    next.version += 1;
    auto events = refunded ? events_of(self->state.deps, next, {"order_cancelled", "payment_refunded"})
                           : events_of(self->state.deps, next, {"order_cancelled"});
    write(self, next, true, events, done);
  };
  auto undo = payment_on_cancel(o.payment.status);
  if (undo == payment_undo::nothing) return finish(o.payment.status);
  auto* gw = self->state.deps.payments;
  auto id = o.payment.id;
  auto amount = o.payment.amount;
  bool refund = undo == payment_undo::refund_payment;
  gw->call(
      self, give_back_operation(refund),
      [refund, id, amount](payment_provider& p) { return give_back(p, id, refund, amount); },
      [gw, refund, finish, done](gateway_result g) {
        if (g.how == gateway_result::kind::answered && g.r.outcome == provider_outcome::ok)
          return finish(refund ? payment_status::refunded : payment_status::voided);
        // Nothing changed: the client may cancel again (the same key: paid back once).
        done(fail(make_error(error_code::unavailable, "the payment provider is unavailable"),
                  std::max(1, gw->retry_after_s())));
      });
}

caf::behavior orders_behavior(self_ptr self, orders_deps deps) {
  self->state.deps = std::move(deps);
  auto promise = [self]() {
    auto rp = self->make_response_promise();
    return std::make_pair(rp, done_fn([rp](order_reply r) mutable { rp.deliver(std::move(r)); }));
  };
  return {
      [self, promise](order_list_cmd& cmd) {
        auto [rp, done] = promise();
        order_query q;
        if (cmd.who.admin) {
          q.all = cmd.user_filter.empty();
          q.user_id = cmd.user_filter;
        } else {
          q.user_id = cmd.who.user;
          q.session_id = cmd.who.session;
        }
        q.status = cmd.status;
        q.after_id = cmd.cursor;
        q.limit = cmd.limit + 1;  // one more says whether a next page exists
        int limit = cmd.limit;
        io<std::vector<order_record>>(
            self, [q](store& s) { return s.list_orders(q); },
            [done, limit](std::optional<std::vector<order_record>> list) {
              if (!list) return done(store_down());
              order_reply r;
              r.ok = true;
              if (static_cast<int>(list->size()) > limit) {
                list->resize(static_cast<std::size_t>(limit));
                r.next_cursor = list->back().id;
              }
              r.orders = std::move(*list);
              done(std::move(r));
            });
        return rp;
      },
      [self, promise](order_get_cmd& cmd) {
        auto [rp, done] = promise();
        with_order(self, cmd.who, cmd.id, done, [done](order_record o) { done(one(std::move(o))); });
        return rp;
      },
      [self, promise](order_patch_cmd& cmd) {
        auto [rp, done] = promise();
        auto to = cmd.to;
        with_order(self, cmd.who, cmd.id, done, [self, to, done](order_record o) {
          switch (decide_transition(o.status, to)) {
            case transition_result::no_change:
              return done(one(o));
            case transition_result::invalid:
              return done(fail(make_error(error_code::invalid_transition,
                                          std::string("an order cannot go from ") + to_string(o.status) +
                                              " to " + to_string(to))));
            case transition_result::apply:
              break;
          }
          if (to == order_status::cancelled) return cancel(self, o, done);
          auto next = with_status(o, to, now_ms());
          next.version += 1;
          write(self, next, false, events_of(self->state.deps, next, {"order_status_changed"}), done);
        });
        return rp;
      },
      [self, promise](order_cancel_cmd& cmd) {
        auto [rp, done] = promise();
        with_order(self, cmd.who, cmd.id, done, [self, done](order_record o) { cancel(self, o, done); });
        return rp;
      },
  };
}

}  // namespace

caf::actor spawn_orders_actor(caf::actor_system& sys, orders_deps deps) {
  return sys.spawn(orders_behavior, std::move(deps));
}

}  // namespace cartd
