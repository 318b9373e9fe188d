#include "actors/cart_actor.hpp"

#include <caf/all.hpp>

#include <algorithm>

#include "actors/catalog_cache.hpp"
#include "actors/metrics.hpp"
#include "actors/pricing_book.hpp"
#include "actors/snapshot_writer.hpp"
#include "actors/store_pool.hpp"
#include "actors/wire.hpp"
#include "domain/catalog.hpp"
#include "domain/time.hpp"
#include "persistence/snapshot_codec.hpp"

namespace cartd {

namespace {

using self_ptr = cart_actor::stateful_pointer<cart_actor_state>;
using reply_fn = std::function<void(cart_reply)>;

cart_reply unavailable(const char* what) {
  return cart_reply::failure(make_error(error_code::unavailable, what));
}

cart_reply not_found() {
  return cart_reply::failure(make_error(error_code::not_found, "no such cart"));
}

void dispatch(self_ptr self, const cart_request& req, const reply_fn& done, int attempt);

/// How each line of `c` stands against the catalog, from the node's product cache (filled by
/// with_catalog before the command ran; a product that expired from it since counts as as-is).
std::vector<line_state> line_states_of(self_ptr self, const cart& c) {
  auto* catalog = self->state.deps->catalog;
  auto now = now_ms();
  const auto& gone = self->state.gone_products;
  std::vector<line_state> out;
  out.reserve(c.items.size());
  for (const auto& it : c.items) {
    if (auto p = catalog->get(it.product, now)) {
      out.push_back(state_against(c, it, p.get()));
    } else if (std::find(gone.begin(), gone.end(), it.product.value) != gone.end()) {
      out.push_back(state_against(c, it, nullptr));
    } else {
      out.push_back(line_state{line_status::ok, it.unit_price});
    }
  }
  return out;
}

// The with_* steps take their continuation as a template argument and `done` by reference:
// when the answer is at hand (the usual case: cart loaded, products cached) `next` runs in
// place, and nothing is copied into a std::function or a capture until a store call makes the
// step asynchronous (allocations per add-item: bench/profile).

/// Puts the products of the cart's lines into the node's cache (one store call for those not
/// there), so that line states can be told without a store call, then runs `next`.
template <class Next>
void with_catalog(self_ptr self, Next next, const reply_fn& done) {
  auto& st = self->state;
  if (!st.current || st.current->items.empty()) return next();
  auto* catalog = st.deps->catalog;
  auto now = now_ms();
  std::vector<product_id> missing;
  for (const auto& it : st.current->items) {
    if (catalog->get(it.product, now)) continue;
    if (std::find(missing.begin(), missing.end(), it.product) == missing.end())
      missing.push_back(it.product);
  }
  if (missing.empty()) return next();
  call_store<std::vector<std::optional<product>>>(
      self, st.deps->store_pool, st.deps->io_timeout, true,
      [missing](store& s) {
        std::vector<std::optional<product>> found;
        for (const auto& id : missing) found.push_back(s.get_product(id));
        return found;
      },
      [self, missing, catalog, next = std::move(next),
       done](std::optional<std::vector<std::optional<product>>> found) {
        if (!found) return done(unavailable("the catalog did not answer"));
        auto& gone = self->state.gone_products;
        gone.clear();
        for (std::size_t i = 0; i < missing.size(); ++i) {
          if ((*found)[i]) catalog->put(*(*found)[i], now_ms());
          else gone.push_back(missing[i].value);
        }
        next();
      });
}

/// Loads the last committed snapshot once, before the first command that needs it.
template <class Next>
void with_loaded(self_ptr self, Next next, const reply_fn& done) {
  if (self->state.loaded) return next();
  auto id = self->state.id;
  call_store<std::optional<cart>>(
      self, self->state.deps->store_pool, self->state.deps->io_timeout, true,
      [id](store& s) { return s.load_cart(id); },
      [self, next = std::move(next), done](std::optional<std::optional<cart>> loaded) {
        if (!loaded) return done(unavailable("the store did not answer"));
        self->state.current = std::move(*loaded);
        self->state.loaded = true;
        next();
      });
}

/// Writes `unit`; on commit adopts `next` and replies it. A version conflict means someone else
/// wrote the cart (a merge): reload and run the command again, once.
void persist(self_ptr self, write_unit unit, cart next, cart_request req, reply_fn done,
             int attempt) {
  // No timer here: a timer per write costs the clock thread ~10% CPU at full load, and the
  // writer always answers (its transaction ends in a commit, an error, or the store's own
  // busy timeout). The HTTP request around this has its bounded timeout (503 on expiry).
  bool recorded = unit.completes.has_value();
  self->request(self->state.deps->writer, caf::infinite, std::move(unit))
      .await(
          [self, next = std::move(next), req = std::move(req), done = std::move(done), attempt,
           recorded](write_status st) mutable {
            if (st == write_status::committed) {
              self->state.current = next;
              auto reply = cart_reply::success(std::move(next));
              reply.recorded = recorded;
              return done(std::move(reply));
            }
            self->state.loaded = false;
            if (attempt > 0) {
              return done(cart_reply::failure(
                  make_error(error_code::conflict, "the cart changed concurrently; retry")));
            }
            with_loaded(self, [self, req, done]() { dispatch(self, req, done, 1); }, done);
          },
          [self, done](caf::error&) {
            // The write may still land: reload before trusting memory again.
            self->state.loaded = false;
            done(unavailable("the snapshot was not confirmed in time"));
          });
}

const cart_item* line_of(const cart& c, const product_id& p, const variant_id& v) {
  for (const auto& it : c.items)
    if (it.product == p && it.variant == v) return &it;
  return nullptr;
}

/// The domain events that report a change from `before` to `after` (past tense, one per cart).
std::vector<outbox_event> events_for(const cart_request& req, const std::optional<cart>& before,
                                     const cart& after) {
  auto now = now_ms();
  auto ev = [&](const char* type, const cart_item* line, const std::string& related = {}) {
    return outbox_event{after.id.value, type, encode_event(type, after, line, related, now)};
  };
  const auto& cmd = req.command;
  if (std::holds_alternative<create_cart>(cmd)) return {ev("cart_created", nullptr)};
  if (auto* a = std::get_if<add_item_cmd>(&cmd))
    return {ev("item_added", line_of(after, a->product, a->variant))};
  if (auto* q = std::get_if<set_item_quantity_cmd>(&cmd)) {
    if (q->quantity == 0) return {ev("item_removed", before ? find_item(*before, q->item) : nullptr)};
    return {ev("item_changed", find_item(after, q->item))};
  }
  if (auto* r = std::get_if<remove_item_cmd>(&cmd))
    return {ev("item_removed", before ? find_item(*before, r->item) : nullptr)};
  if (std::holds_alternative<patch_cart_cmd>(cmd)) return {ev("cart_updated", nullptr)};
  if (std::holds_alternative<delete_cart_cmd>(cmd)) return {ev("cart_deleted", nullptr)};
  return {};
}

/// The unit that writes `next` and, for an Idempotency-Key request, the answer reporting it,
/// with the events that report the change.
write_unit unit_for(self_ptr self, const cart_request& req, std::vector<cart_write> writes,
                    const cart& next) {
  write_unit unit{std::move(writes), std::nullopt, {}};
  if (self->state.deps->publish_events) unit.events = events_for(req, self->state.current, next);
  const auto& spec = req.idempotency;
  const auto* render = self->state.deps->render;
  if (!spec.idempotency_key.empty() && render && *render) {
    auto reply = cart_reply::success(next);
    reply.lines = line_states_of(self, next);
    unit.completes = idempotency_completion{spec.idempotency_scope, spec.idempotency_key,
                                            stored_of((*render)(spec, reply))};
  }
  return unit;
}

void apply(self_ptr self, const cart_request& req, result<cart> next, const reply_fn& done,
           int attempt) {
  if (!next) return done(cart_reply::failure(next.error()));
  auto expected = self->state.current ? self->state.current->version : 0;
  // A command that changed nothing (a PATCH repeating what the cart holds): no write, no new
  // version, no event.
  if (expected != 0 && next->version == expected) return done(cart_reply::success(*next));
  auto unit = unit_for(self, req, {cart_write{*next, expected}}, *next);
  persist(self, std::move(unit), std::move(*next), req, done, attempt);
}

/// Fetches the catalog offer for a variant, then continues with it (or refuses).
template <class Next>
void with_offer(self_ptr self, const product_id& p, const variant_id& v, Next next,
                const reply_fn& done) {
  auto* catalog = self->state.deps->catalog;
  if (auto cached = catalog->get(p, now_ms())) {
    if (auto offer = offer_for(*cached, v)) return next(std::move(*offer));
  }
  call_store<std::optional<product>>(
      self, self->state.deps->store_pool, self->state.deps->io_timeout, true,
      [p](store& s) { return s.get_product(p); },
      [v, p, catalog, next = std::move(next), done](std::optional<std::optional<product>> found) {
        if (!found) return done(unavailable("the catalog did not answer"));
        if (*found) catalog->put(**found, now_ms());
        std::optional<variant_offer> offer = *found ? offer_for(**found, v) : std::nullopt;
        if (!offer) {
          return done(cart_reply::failure(make_error(
              error_code::unknown_product, "unknown product " + p.value + " variant " + v.value)));
        }
        next(std::move(*offer));
      });
}

void merge(self_ptr self, const cart_request& req, const merge_cart& cmd, const reply_fn& done,
           int attempt) {
  cart_request lend{cmd.source, req.who, std::nullopt, lend_for_merge{}, nullptr, {}};
  self->request(self->state.deps->registry, self->state.deps->io_timeout, std::move(lend))
      .await(
          [self, req, cmd, done, attempt](cart_reply& source) {
            if (!source.ok) {
              if (source.error.code == error_code::not_found)
                source.error.detail = "no such source cart";
              return done(cart_reply::failure(source.error));
            }
            auto& target = *self->state.current;
            auto* book = self->state.deps->pricing;
            auto merged = merge_carts(
                target, source.state, cmd.strategy, self->state.deps->limits,
                pricing_book::code_checker(book ? book->current() : nullptr, now_ms()), now_ms());
            if (!merged) return done(cart_reply::failure(merged.error()));
            auto unit = unit_for(self, req,
                                 {cart_write{merged->target, target.version},
                                  cart_write{merged->source, source.state.version}},
                                 merged->target);
            if (self->state.deps->publish_events) {
              auto now = now_ms();
              unit.events = {
                  outbox_event{merged->target.id.value, "cart_merged",
                               encode_event("cart_merged", merged->target, nullptr,
                                            merged->source.id.value, now)},
                  outbox_event{merged->source.id.value, "cart_merged",
                               encode_event("cart_merged", merged->source, nullptr,
                                            merged->target.id.value, now)}};
            }
            auto registry = self->state.deps->registry;
            auto who = req.who;
            auto source_id = cmd.source;
            // Either way the source's stored state may have moved: it reloads before its next
            // command.
            reply_fn notify = [registry, who, source_id, done](cart_reply r) {
              caf::anon_send(registry, cart_request{source_id, who, std::nullopt, reload_cart{}, nullptr, {}});
              done(std::move(r));
            };
            persist(self, std::move(unit), std::move(merged->target), req, notify, attempt);
          },
          [done](caf::error&) { done(unavailable("the source cart did not answer")); });
}

void dispatch(self_ptr self, const cart_request& req, const reply_fn& done, int attempt) {
  auto& st = self->state;
  auto now = now_ms();
  if (auto* c = std::get_if<create_cart>(&req.command)) {
    if (st.current) return done(cart_reply::failure(make_error(error_code::conflict, "cart exists")));
    cart fresh = new_cart(st.id, req.who, c->currency, c->region, now);
    st.deps->stats->carts_created.Increment();
    auto unit = unit_for(self, req, {cart_write{fresh, 0}}, fresh);
    return persist(self, std::move(unit), std::move(fresh), req, done, attempt);
  }
  if (std::holds_alternative<reload_cart>(req.command)) {
    st.loaded = false;
    return done(not_found());
  }
  if (std::holds_alternative<fail_cart>(req.command)) {
    throw std::runtime_error("supervision drill: cart actor fails on purpose");
  }
  if (!st.current || st.current->status == cart_status::deleted) {
    // No cart behind this id (a mistyped or guessed id, a deleted cart): nothing worth keeping
    // in memory until the idle timeout, or random ids would fill the node with empty actors.
    // The registry's handshake keeps whatever it already forwarded here ahead of the stop.
    caf::anon_send(st.deps->registry, passivate_atom::value, st.id.value,
                   caf::actor_cast<caf::actor>(self));
    return done(not_found());
  }
  if (!can_access(*st.current, req.who)) return done(not_found());
  const cart& cur = *st.current;
  if (std::holds_alternative<get_cart>(req.command) ||
      std::holds_alternative<lend_for_merge>(req.command)) {
    return done(cart_reply::success(cur));
  }
  if (auto err = check_version(cur, req.if_match)) return done(cart_reply::failure(*err));
  const auto& limits = st.deps->limits;
  if (auto* a = std::get_if<add_item_cmd>(&req.command)) {
    auto qty = a->quantity;
    return with_offer(
        self, a->product, a->variant,
        [self, req, done, attempt, qty](variant_offer offer) {
          auto& s = self->state;
          auto next = cartd::add_item(*s.current, offer, qty, s.deps->limits,
                                      item_id{new_uuid_v7(now_ms())}, now_ms());
          if (next) s.deps->stats->items_added.Increment();
          apply(self, req, std::move(next), done, attempt);
        },
        done);
  }
  if (auto* q = std::get_if<set_item_quantity_cmd>(&req.command)) {
    const cart_item* line = find_item(cur, q->item);
    if (!line) return done(cart_reply::failure(make_error(error_code::not_found, "no such item")));
    if (q->quantity == 0 || cur.status != cart_status::active)
      return apply(self, req, set_item_quantity(cur, q->item, q->quantity, std::nullopt, limits, now),
                   done, attempt);
    auto item = q->item;
    auto qty = q->quantity;
    return with_offer(
        self, line->product, line->variant,
        [self, req, done, attempt, item, qty](variant_offer offer) {
          auto& s = self->state;
          apply(self, req,
                set_item_quantity(*s.current, item, qty, offer, s.deps->limits, now_ms()), done,
                attempt);
        },
        done);
  }
  if (auto* r = std::get_if<remove_item_cmd>(&req.command))
    return apply(self, req, remove_item(cur, r->item, now), done, attempt);
  if (auto* p = std::get_if<patch_cart_cmd>(&req.command)) {
    auto rules = st.deps->pricing ? st.deps->pricing->current() : nullptr;
    return apply(self, req, pricing_book::patch(cur, p->patch, rules, now), done, attempt);
  }
  if (std::holds_alternative<delete_cart_cmd>(req.command))
    return apply(self, req, delete_cart(cur, now), done, attempt);
  if (auto* m = std::get_if<merge_cart>(&req.command)) return merge(self, req, *m, done, attempt);
  done(cart_reply::failure(make_error(error_code::internal, "unknown cart command")));
}

}  // namespace

cart_actor::behavior_type cart_behavior(self_ptr self, cart_id id,
                                        std::shared_ptr<const cart_deps> deps) {
  self->state.id = std::move(id);
  self->state.deps = std::move(deps);
  self->state.last_active_ms = now_ms();
  self->set_exception_handler([self](std::exception_ptr&) -> caf::error {
    // A bug threw: answer the command in hand, then die; the registry sees the failure and
    // the next message starts a fresh actor from the last committed snapshot.
    if (auto pending = std::move(self->state.pending)) pending(unavailable("the cart failed"));
    return caf::make_error(caf::sec::runtime_error, "cart actor failed");
  });
  return {
      [self](cart_request& req) -> caf::result<cart_reply> {
        auto& st = self->state;
        st.deps->stats->cart_mailbox_depth.Decrement();
        st.last_active_ms = now_ms();
        auto rp = self->make_response_promise<cart_reply>();
        auto start = std::chrono::steady_clock::now();
        auto answered = std::make_shared<bool>(false);
        bool internal = std::holds_alternative<lend_for_merge>(req.command) ||
                        std::holds_alternative<reload_cart>(req.command);
        reply_fn done = [self, rp, start, answered, internal,
                         sink = req.reply_to](cart_reply r) mutable {
          if (*answered) return;
          *answered = true;
          if (r.ok && !internal) r.lines = line_states_of(self, r.state);
          self->state.pending = nullptr;
          std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
          self->state.deps->stats->cart_message_seconds.Observe(took.count());
          if (sink) {
            sink->deliver(std::move(r));
            sink.reset();
          } else {
            rp.deliver(std::move(r));
          }
        };
        st.pending = done;
        bool needs_state = !std::holds_alternative<reload_cart>(req.command);
        if (!needs_state) {
          dispatch(self, std::move(req), done, 0);
        } else {
          with_loaded(
              self,
              [self, req = std::move(req), done, internal]() {
                if (internal) return dispatch(self, req, done, 0);
                with_catalog(self, [self, req, done]() { dispatch(self, req, done, 0); }, done);
              },
              done);
        }
        return rp;
      },
      [self](idle_atom) {
        // The registry's sweep asks (actors/cart_registry.cpp): no timer of its own per cart.
        auto& st = self->state;
        auto idle_for = std::chrono::milliseconds(now_ms() - st.last_active_ms);
        if (idle_for >= st.deps->idle_timeout) {
          caf::anon_send(st.deps->registry, passivate_atom::value, st.id.value,
                         caf::actor_cast<caf::actor>(self));
        }
      },
      [self](passivate_atom) { self->quit(); },
  };
}

}  // namespace cartd
