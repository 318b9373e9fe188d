// Paying for a checkout session and placing its order (API.md, Checkout and Payments). Before
// the provider is called the session records the attempt (status processing, and the attempt
// number that names the provider Idempotency-Key), so a crash at any point leaves a trace that
// reconciliation finds. The order, its stock commit, discount uses, the cart's checked_out and
// the session's completion are one store transaction (store::place_order); whoever gets there
// first — process, the webhook, reconciliation — makes it, the others find it made.
#include <cstdlib>
#include <random>

#include "actors/checkout_internal.hpp"
#include "actors/metrics.hpp"
#include "actors/payment_gateway.hpp"
#include "domain/time.hpp"
#include "persistence/checkout_codec.hpp"

namespace cartd {

namespace {

std::uint64_t random_bits() {
  thread_local std::mt19937_64 gen{std::random_device{}()};
  return gen();
}

std::string attempt_key(const checkout_session& s) {
  return "cartd-" + s.id + "-" + std::to_string(s.payment_attempts);
}

checkout_reply with_session(checkout_reply::kind how, checkout_session s) {
  checkout_reply r;
  r.how = how;
  r.session = std::move(s);
  return r;
}

checkout_reply with_order(checkout_reply::kind how, order_record o) {
  checkout_reply r;
  r.how = how;
  r.order = std::move(o);
  return r;
}

/// Writes `next` (its version one past the stored one), then answers `k(true|false)`.
void save(checkout_self self, checkout_session next, std::function<void(bool)> k) {
  checkout_io<bool>(
      self, [next](store& s) { return s.update_checkout(next); },
      [k](std::optional<bool> ok) { k(ok && *ok); });
}

checkout_session moved(const checkout_session& s, checkout_status to) {
  auto next = s;
  next.status = to;
  next.version += 1;
  next.updated_at_ms = now_ms();
  return next;
}

/// Gives money back for a payment that made no order (a void when only authorized). The
/// give-back is remembered in the store first and forgotten once the provider confirmed it:
/// one that fails, or that a crash cuts short, is repeated by reconciliation.
void undo_payment(checkout_self self, const provider_payment& p) {
  if (p.id.empty()) return;
  bool captured = p.status == "captured";
  if (!captured && p.status != "authorized" && p.status != "pending") return;
  payment_give_back g{p.id, p.status, p.amount, now_ms()};
  checkout_io<bool>(
      self,
      [g](store& s) {
        s.remember_give_back(g);
        return true;
      },
      [self, g, captured](std::optional<bool>) {
        // Not remembered (store down): asked all the same; reconciliation cannot repeat it.
        auto* gw = self->state.deps.payments;
        gw->call(
            self, give_back_operation(captured),
            [g, captured](payment_provider& pr) {
              return give_back(pr, g.payment_id, captured, g.amount);
            },
            [self, id = g.payment_id](gateway_result r) {
              if (r.how != gateway_result::kind::answered || r.r.outcome != provider_outcome::ok)
                return;
              checkout_io<bool>(
                  self,
                  [id](store& s) {
                    s.forget_give_back(id);
                    return true;
                  },
                  [](std::optional<bool>) {});
            });
      });
}

void capture_then_answer(checkout_self self, order_record o, reply_fn done) {
  auto* gw = self->state.deps.payments;
  auto id = o.payment.id;
  auto amount = o.payment.amount;
  gw->call(
      self, "capture",
      [id, amount](payment_provider& p) { return p.capture(id, amount, "cartd-capture-" + id); },
      [self, o, done](gateway_result g) {
        if (g.how != gateway_result::kind::answered || g.r.outcome != provider_outcome::ok)
          return done(with_order(checkout_reply::kind::placed, o));  // reconciliation captures it
        auto next = o;
        next.payment.status = payment_status::captured;
        next.version += 1;
        next.updated_at_ms = now_ms();
        std::vector<outbox_event> events;
        if (self->state.deps.publish_events)
          events.push_back({o.cart.value, "payment_captured",
                            encode_order_event("payment_captured", next, next.updated_at_ms)});
        checkout_io<bool>(
            self, [next, events](store& s) { return s.update_order(next, false, events); },
            [done, o, next](std::optional<bool> ok) {
              done(with_order(checkout_reply::kind::placed, ok && *ok ? next : o));
            });
      });
}

/// Places the order of `s` paid by `pay` (authorized or captured).
void complete_order(checkout_self self, checkout_session s, provider_payment pay, reply_fn done) {
  auto& deps = self->state.deps;
  if (pay.amount != s.totals.total) {
    // Never an order for another amount than the one authorized.
    undo_payment(self, pay);
    return done(checkout_reply::fail(make_error(error_code::conflict, "payment amount mismatch")));
  }
  auto now = now_ms();
  auto status = pay.status == "captured" ? payment_status::captured : payment_status::authorized;
  auto order = order_of(s, new_uuid_v7(now), order_number(now, random_bits()),
                        order_payment{deps.payments->provider_name(), pay.id, status, pay.amount},
                        now);
  order.version = 1;
  place_order_request req{order, s.discounts, {}, now};
  if (deps.publish_events)
    req.events.push_back({s.cart.value, "order_placed", encode_order_event("order_placed", order, now)});
  checkout_io<place_order_result>(
      self,
      [first = req, catalog = deps.catalog](store& st) {
        auto attempt = first;
        // Order numbers carry 40 random bits a day: a number already taken (the soak met three
        // in 80 000 orders with the 30 bits they had) is drawn again, at most k_number_draws
        // times; nothing of the order is written until one is free.
        constexpr int k_number_draws = 5;
        for (int draw = 1;; ++draw) {
          auto r = st.place_order(attempt);
          if (r.result == place_order_result::outcome::placed) forget_products(catalog, attempt.order.items);
          if (r.result != place_order_result::outcome::number_taken || draw == k_number_draws)
            return r;
          attempt.order.order_number = order_number(attempt.now_ms, random_bits());
          if (!attempt.events.empty())  // order_placed, the one event: names the new number
            attempt.events.back().payload = encode_order_event("order_placed", attempt.order, attempt.now_ms);
        }
      },
      [self, s, pay, done](std::optional<place_order_result> r) {
        using outcome = place_order_result::outcome;
        auto& d = self->state.deps;
        if (!r) return done(store_down());  // the payment stays for reconciliation to settle
        switch (r->result) {
          case outcome::placed: {
            d.stats->checkout().completed.Increment();
            d.stats->checkout().order_value.Observe(static_cast<double>(r->order.totals.total));
            d.stats->checkout().orders.Add({{"status", "paid"}}).Increment();
            d.figures->completed++;
            caf::anon_send(d.carts, evict_atom::value, s.cart.value);
            if (d.crash_after_order) std::_Exit(137);  // a test's kill -9 before the capture
            if (r->order.payment.status == payment_status::authorized)
              return capture_then_answer(self, r->order, done);
            return done(with_order(checkout_reply::kind::placed, r->order));
          }
          case outcome::already_placed:
            if (r->order.payment.id != pay.id) undo_payment(self, pay);  // a second payment
            return done(with_order(checkout_reply::kind::order, r->order));
          case outcome::cart_changed:
            undo_payment(self, pay);
            return save(self, moved(s, checkout_status::open), [done](bool) {
              done(checkout_reply::fail(make_error(
                  error_code::cart_changed, "the cart changed since checkout began; start again")));
            });
          case outcome::expired:
            undo_payment(self, pay);
            return done(checkout_reply::fail(
                make_error(error_code::session_expired, "this checkout session has expired")));
          case outcome::used_up:
            undo_payment(self, pay);
            return save(self, moved(s, checkout_status::open), [done](bool) {
              done(checkout_reply::fail(make_error(
                  error_code::conflict, "a discount of this checkout reached its usage limit")));
            });
          case outcome::not_found:
            return done(checkout_reply::fail(make_error(error_code::not_found, "no such checkout session")));
          case outcome::number_taken:  // five draws all taken: as a store failure, for reconciliation
            return done(store_down());
        }
      });
}

struct process_inputs {
  std::optional<checkout_session> s;
  std::optional<cart> c;
  std::optional<order_record> order;
  bool expired_now = false;
};

/// The provider's answer to an authorization attempt of `s` (status processing).
void on_authorized(checkout_self self, checkout_session s, gateway_result g, reply_fn done) {
  auto& deps = self->state.deps;
  auto back_to_open = [self, s, done](checkout_reply r) {
    save(self, moved(s, checkout_status::open), [done, r](bool) { done(r); });
  };
  if (g.how == gateway_result::kind::breaker_open || g.how == gateway_result::kind::busy)
    return back_to_open(checkout_reply::fail(
        make_error(error_code::unavailable, "payments are unavailable; retry later"),
        deps.payments->retry_after_s()));
  if (g.how == gateway_result::kind::lost || g.r.outcome == provider_outcome::timeout)
    // Outcome unknown: the same attempt (same key) is what the retry sends again.
    return back_to_open(checkout_reply::fail(make_error(error_code::upstream_timeout, "timeout")));
  if (g.r.outcome == provider_outcome::failure)
    return back_to_open(checkout_reply::fail(
        make_error(error_code::unavailable, "the payment provider failed; retry later"), 1));
  if (g.r.outcome == provider_outcome::declined) {
    deps.stats->checkout().declined.Increment();
    deps.figures->declined++;
    auto next = moved(s, checkout_status::open);
    next.payment_attempts += 1;  // a new card is a new operation: a new key
    return save(self, next, [done](bool) {
      done(checkout_reply::fail(make_error(error_code::payment_declined, "the payment was declined")));
    });
  }
  const auto& pay = g.r.payment;
  if (pay.status == "pending") {
    auto next = s;
    next.payment_id = pay.id;
    next.version += 1;
    return save(self, next, [done, next](bool) {
      done(with_session(checkout_reply::kind::processing, next));
    });
  }
  if (deps.crash_after_authorize) std::_Exit(137);  // a test's kill -9 at the worst moment
  complete_order(self, s, pay, done);
}

}  // namespace

/// The trace id of a W3C traceparent ("00-<trace id>-<span id>-<flags>"); empty when none.
static std::string trace_of(const std::string& traceparent) {
  return traceparent.size() == 55 ? traceparent.substr(3, 32) : std::string{};
}

void process_payment(checkout_self self, checkout_process cmd, reply_fn done) {
  auto id = cmd.id;
  checkout_io<process_inputs>(
      self,
      [id, catalog = self->state.deps.catalog](store& st) {
        process_inputs in;
        in.expired_now = st.expire_checkout(id, now_ms(), false);
        in.s = st.load_checkout(id);
        if (in.expired_now && in.s) forget_products(catalog, in.s->lines);
        if (!in.s) return in;
        if (in.s->status == checkout_status::completed) in.order = st.load_order(in.s->order_id);
        else in.c = st.load_cart(in.s->cart);
        return in;
      },
      [self, cmd, done](std::optional<process_inputs> in) {
        auto& deps = self->state.deps;
        if (!in) return done(store_down());
        if (in->expired_now) {
          deps.stats->checkout().expired.Increment();
          deps.figures->expired++;
        }
        if (!in->s || !can_access(*in->s, cmd.who))
          return done(checkout_reply::fail(make_error(error_code::not_found, "no such checkout session")));
        auto s = *in->s;
        if (s.status == checkout_status::completed && in->order)
          return done(with_order(checkout_reply::kind::order, *in->order));
        if (s.status == checkout_status::processing)
          return done(with_session(checkout_reply::kind::processing, s));
        if (auto e = check_processable(s, now_ms())) return done(checkout_reply::fail(*e));
        if (!in->c || in->c->version != s.cart_version || in->c->status != cart_status::active)
          return done(checkout_reply::fail(make_error(
              error_code::cart_changed, "the cart changed since checkout began; start again")));
        if (deps.payments->refusing())
          return done(checkout_reply::fail(
              make_error(error_code::unavailable, "payments are unavailable; retry later"),
              deps.payments->retry_after_s()));
        auto attempt = moved(s, checkout_status::processing);
        save(self, attempt, [self, attempt, token = cmd.token, trace = cmd.traceparent,
                             done](bool saved) {
          if (!saved)
            return done(checkout_reply::fail(
                make_error(error_code::conflict, "the checkout session changed; retry")));
          authorize_request req{attempt_key(attempt), attempt.totals.total, attempt.totals.currency,
                                token, attempt.id, trace};
          self->state.deps.payments->call(
              self, "authorize", [req](payment_provider& p) { return p.authorize(req); },
              [self, attempt, done](gateway_result g) { on_authorized(self, attempt, g, done); },
              trace_of(trace));
        });
      });
}

void confirm_payment(checkout_self self, checkout_confirm cmd, reply_fn done) {
  auto id = cmd.id;
  checkout_io<std::optional<checkout_session>>(
      self, [id](store& st) { return st.load_checkout(id); },
      [self, cmd, done](std::optional<std::optional<checkout_session>> in) {
        if (!in) return done(store_down());
        if (!*in) return done(checkout_reply::fail(make_error(error_code::not_found, "unknown")));
        auto s = **in;
        const auto& pay = cmd.payment;
        bool paid = pay.status == "authorized" || pay.status == "captured";
        bool waiting = s.status == checkout_status::open || s.status == checkout_status::processing;
        if (paid && waiting && s.expires_at_ms > now_ms()) return complete_order(self, s, pay, done);
        if (paid && s.status == checkout_status::completed) {
          // complete_order finds the order made and undoes a second payment.
          return complete_order(self, s, pay, done);
        }
        if (paid) {
          undo_payment(self, pay);  // a confirmation after expiry is voided
          return done(with_session(checkout_reply::kind::session, s));
        }
        if (pay.status == "declined" && s.status == checkout_status::processing) {
          auto next = moved(s, checkout_status::open);
          next.payment_attempts += 1;
          self->state.deps.stats->checkout().declined.Increment();
          return save(self, next, [done, next](bool) {
            done(with_session(checkout_reply::kind::session, next));
          });
        }
        done(with_session(checkout_reply::kind::session, s));
      });
}

}  // namespace cartd
