#include "http/route_support.hpp"

#include <caf/all.hpp>

#include "actors/system.hpp"
#include "http/render.hpp"
#include "http/service.hpp"

namespace cartd {

std::optional<cart_id> cart_param(const exchange_ptr& ex, std::size_t i) {
  const auto& raw = ex->param(i);
  if (!is_uuid(raw)) {
    ex->fail(make_error(error_code::not_found, "no such cart"));
    return std::nullopt;
  }
  return cart_id{raw};
}

bool read_if_match(const exchange_ptr& ex, std::optional<std::uint64_t>& out) {
  bool bad = false;
  out = ex->if_match(bad);
  if (bad) {
    auto e = make_error(error_code::validation_failed, "malformed If-Match");
    e.errors.push_back({"If-Match", "must be an ETag such as \"3\""});
    ex->fail(e);
    return false;
  }
  return true;
}

http_response json_response(int status, std::string body) {
  http_response r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

void ask_cart(caf::event_based_actor* self, const exchange_ptr& ex, const finish_fn& finish,
              cart_request req, int ok_status, cart_view view) {
  self->request(ex->svc.runtime.registry(), ex->svc.cfg.http.request_timeout, std::move(req))
      .then(
          [ex, finish, ok_status, view](cart_reply& r) {
            if (!r.ok) return finish(error_response(r.error, ex->req));
            http_response resp;
            resp.status = ok_status;
            resp.etag = etag_of(r.state);
            if (view == cart_view::full) resp.body = render_cart(r.state);
            if (view == cart_view::totals) resp.body = render_totals(r.state);
            if (view == cart_view::none) resp.content_type.clear();
            finish(std::move(resp));
          },
          [ex, finish](caf::error&) {
            // Timed out, or the cart actor failed with this request in its mailbox.
            finish(error_response(make_error(error_code::unavailable, "cart did not answer"),
                                  ex->req));
          });
}

}  // namespace cartd
