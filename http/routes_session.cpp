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

http_response unavailable(const exchange_ptr& e) {
  return error_response(make_error(error_code::unavailable, "session store"), e->req);
}

/// Only the session's own token or its user's JWT may see a session; others get 404.
bool may_access(const session& s, const principal& who) {
  return who.session == s.id || (!s.user_id.empty() && who.user == s.user_id);
}

/// Loads the session of path parameter 0 for its owner, then continues with it.
void with_owned_session(caf::event_based_actor* self, const exchange_ptr& e,
                        const finish_fn& finish, std::function<void(session)> next) {
  auto id = e->param(0);
  call_store<std::optional<session>>(
      self, e->svc.runtime.store_pool(), e->svc.cfg.http.request_timeout, false,
      [id](store& s) { return s.find_session(id); },
      [e, finish, next](std::optional<std::optional<session>> found) {
        if (!found) return finish(unavailable(e));
        if (!*found || (*found)->expired(now_ms()) || !may_access(**found, e->who))
          return finish(error_response(make_error(error_code::not_found, "no such session"), e->req));
        next(std::move(**found));
      });
}

}  // namespace

void create_session_route(const exchange_ptr& ex) {
  if (!ex->authenticate(auth_mode::optional)) return;
  body_reader body(ex->req.body, true);
  if (body.error()) return ex->fail(*body.error());
  auto device = body.object_json("deviceInfo", false, 4096);
  if (auto e = body.validation_error()) return ex->fail(*e);
  ex->run(auth_mode::optional, [device](caf::event_based_actor* self, exchange_ptr e,
                                        finish_fn finish) {
    auto now = now_ms();
    auto token = random_token(32);
    session s;
    s.id = new_uuid_v7(now);
    s.token_hash = sha256_hex(token);
    s.user_id = e->who.user;
    s.device_json = device.value_or("");
    s.created_at_ms = now;
    s.expires_at_ms = now + e->svc.cfg.session.ttl.count();
    // With an Idempotency-Key the answer (and so the token a replay gives back) commits with
    // the session: a crash in between can never let a retry make a second session.
    auto created = std::make_shared<http_response>(json_response(201, render_session(s, token)));
    created->headers.emplace_back("Location", "/api/v1/session/" + s.id);
    auto completes = completion_for(*e, *created);
    call_store<bool>(
        self, e->svc.runtime.store_pool(), e->svc.cfg.http.request_timeout, false,
        [s, completes](store& st) {
          st.create_session(s, completes ? &*completes : nullptr);
          return true;
        },
        [e, finish, created](std::optional<bool> ok) {
          if (!ok) return finish(unavailable(e));
          recorded(*e);
          finish(std::move(*created));
        });
  });
}

void get_session_route(const exchange_ptr& ex) {
  if (!ex->authenticate(auth_mode::caller)) return;
  ex->run(auth_mode::caller, [](caf::event_based_actor* self, exchange_ptr e, finish_fn finish) {
    with_owned_session(self, e, finish, [finish](session s) {
      finish(json_response(200, render_session(s, "")));
    });
  });
}

void patch_session_route(const exchange_ptr& ex) {
  if (!ex->authenticate(auth_mode::caller)) return;
  body_reader body(ex->req.body);
  if (body.error()) return ex->fail(*body.error());
  auto device = body.object_json("deviceInfo", false, 4096);
  auto extend = body.boolean("extend", false).value_or(false);
  if (auto e = body.validation_error()) return ex->fail(*e);
  ex->run(auth_mode::caller, [device, extend](caf::event_based_actor* self, exchange_ptr e,
                                              finish_fn finish) {
    with_owned_session(self, e, finish, [self, e, finish, device, extend](session s) {
      if (device) s.device_json = *device;
      if (extend) s.expires_at_ms = now_ms() + e->svc.cfg.session.ttl.count();
      e->svc.sessions.drop_session(s.id);
      call_store<bool>(
          self, e->svc.runtime.store_pool(), e->svc.cfg.http.request_timeout, false,
          [s](store& st) {
            st.update_session(s);
            return true;
          },
          [e, finish, s](std::optional<bool> ok) {
            if (!ok) return finish(unavailable(e));
            finish(json_response(200, render_session(s, "")));
          });
    });
  });
}

void delete_session_route(const exchange_ptr& ex) {
  if (!ex->authenticate(auth_mode::caller)) return;
  ex->run(auth_mode::caller, [](caf::event_based_actor* self, exchange_ptr e, finish_fn finish) {
    with_owned_session(self, e, finish, [self, e, finish](session s) {
      e->svc.sessions.drop_session(s.id);
      call_store<bool>(
          self, e->svc.runtime.store_pool(), e->svc.cfg.http.request_timeout, false,
          [id = s.id](store& st) { return st.delete_session(id); },
          [e, finish, id = s.id](std::optional<bool> ok) {
            if (!ok) return finish(unavailable(e));
            e->svc.sessions.drop_session(id);
            finish(no_content_response());
          });
    });
  });
}

}  // namespace cartd
