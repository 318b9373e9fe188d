"""Storefront conveniences (API.md "Storefront conveniences (v1.1: additions, nothing removed)"),
black-box over HTTP against the real binary, one test class per point of that section, plus the
loose ends of issue 10 (quotes and stock, admins on any cart, PUT/DELETE repeats).

One server is shared by the module (setUpModule); every test makes its own users, products,
codes, regions and shipping methods (fresh ids), so the tests are independent and need no order.
No discount made here is automatic, so no test prices another's carts. Waits poll with a
deadline; nothing asserts how long anything took. The same tests run on PostgreSQL with
CARTD_TEST_STORE=postgresql CARTD_TEST_PG_URL=... (the harness's store_url gives each server its
own database).
"""
import json
import os
import random
import re
import string
import subprocess
import tempfile
import time
import unittest
import urllib.parse
import uuid

from cartd_api import (ADMIN, BASE, BIN, Client, Server, ServerTest, bearer, free_port,
                       jwt, new_cart, new_session, new_user)

ADDRESS = {"name": "Ada Lovelace", "line1": "12 Analytical Row", "city": "Springfield",
           "postalCode": "12345", "country": "US"}
STOCK_LINE_KEYS = ("productId", "variantId", "requested", "available")

SERVER = None


def setUpModule():
    global SERVER
    SERVER = Server()


def tearDownModule():
    global SERVER
    if SERVER is not None:
        code = SERVER.stop()
        SERVER = None
        assert code == 0, "cartd exited %s on SIGTERM" % code


def hexid(n=10):
    return uuid.uuid4().hex[:n]


def user_sub():
    """A fresh user: (sub, headers)."""
    sub = "user-" + hexid(12)
    return sub, bearer(jwt(sub))


def region():
    """A fresh ISO 3166-2 style region nobody else uses: X?-??? (X? codes are user-assigned).
    26 × 36³ of them: three hex digits alone (4096) once gave two regions of one test the same
    code, and the second tax rate overwrote the first."""
    alnum = string.ascii_uppercase + string.digits
    return "X" + random.choice(string.ascii_uppercase) + "-" + "".join(
        random.choice(alnum) for _ in range(3))


def is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


class StorefrontTest(ServerTest):
    """The module's server, a client of its own, and shop helpers."""

    @classmethod
    def setUpClass(cls):
        cls.server = SERVER
        cls.c = SERVER.client()

    @classmethod
    def tearDownClass(cls):
        cls.c.conn.close()

    # -- assertions ----------------------------------------------------------------------------

    def assertLocation(self, hdrs, path):
        """Location names BASE + path: as an absolute path, or an absolute URL ending with it."""
        loc = hdrs.get("location")
        self.assertTrue(loc, "no Location header: %r" % hdrs)
        want = BASE + path
        if loc.startswith("http://") or loc.startswith("https://"):
            self.assertEqual(urllib.parse.urlsplit(loc).path, want, loc)
        else:
            self.assertEqual(loc, want)

    def assertCodeRefused(self, resp, index, reason):
        """422 invalid_discount_code whose errors[] names discountCodes[index] with `reason`."""
        prob = self.assertProblem(resp, 422, "invalid_discount_code")
        self.assertIsInstance(prob.get("errors"), list, prob)
        field = "discountCodes[%d]" % index
        mine = [e for e in prob["errors"] if e.get("field") == field]
        self.assertEqual(len(mine), 1, prob)
        self.assertEqual(mine[0].get("reason"), reason, prob)
        self.assertIsInstance(mine[0].get("message"), str, prob)
        self.assertTrue(mine[0]["message"], prob)
        for e in prob["errors"]:
            self.assertEqual(set(e) >= {"field", "reason", "message"}, True, e)
        return prob

    def assertStockLines(self, prob, want):
        """409 insufficient_stock's lines[]: each {productId, variantId, requested, available}."""
        lines = prob.get("lines")
        self.assertIsInstance(lines, list, prob)
        for line in lines:
            for k in STOCK_LINE_KEYS:
                self.assertIn(k, line, prob)
            self.assertTrue(is_int(line["requested"]) and is_int(line["available"]), line)
        self.assertEqual([{k: l[k] for k in STOCK_LINE_KEYS} for l in lines], want, prob)

    # -- catalog -------------------------------------------------------------------------------

    def product(self, variants=None, currency="USD", active=True, name="Tee", pid=None):
        pid = pid or "p-" + hexid(12)
        variants = variants or [{"id": "v", "sku": "S", "price": 1000, "stock": 1000}]
        st, _, _, raw = self.c.put("/admin/products/" + pid, {
            "name": name, "currency": currency, "active": active, "variants": variants}, headers=ADMIN)
        self.assertEqual(st, 201, raw)
        return pid

    def reput(self, pid, variants, currency="USD", active=True, name="Tee"):
        st, _, body, raw = self.c.put("/admin/products/" + pid, {
            "name": name, "currency": currency, "active": active, "variants": variants}, headers=ADMIN)
        self.assertEqual(st, 200, raw)
        return body

    def code(self):
        return "C" + uuid.uuid4().hex[:10].upper()

    def discount(self, **body):
        st, _, d, raw = self.c.post("/admin/discounts", body, headers=ADMIN)
        self.assertEqual(st, 201, raw)
        return d

    def shipping(self, price=500, free_over=None):
        sid = "sm-" + hexid(8)
        body = {"name": "Ship " + sid, "price": price}
        if free_over is not None:
            body["freeOver"] = free_over
        st, _, _, raw = self.c.put("/admin/shipping-methods/" + sid, body, headers=ADMIN)
        self.assertIn(st, (200, 201), raw)
        return sid

    def tax(self, rate, inclusive):
        r = region()
        st, _, _, raw = self.c.put("/admin/tax-rates/" + r, {"rate": rate, "inclusive": inclusive}, headers=ADMIN)
        self.assertIn(st, (200, 201), raw)
        return r

    # -- carts ---------------------------------------------------------------------------------

    def add(self, headers, cart_id, pid, qty=1, vid="v"):
        return self.c.post("/cart/%s/items" % cart_id, {"productId": pid, "variantId": vid, "quantity": qty},
                           headers=headers)

    def added(self, headers, cart_id, pid, qty=1, vid="v"):
        st, _, body, raw = self.add(headers, cart_id, pid, qty, vid)
        self.assertEqual(st, 201, raw)
        return body

    def cart_with(self, headers, pid, qty=1, vid="v", body=None):
        cart = new_cart(self.c, headers, body)
        return self.added(headers, cart["id"], pid, qty, vid)

    def get_cart(self, headers, cart_id):
        st, _, body, raw = self.c.get("/cart/" + cart_id, headers=headers)
        self.assertEqual(st, 200, raw)
        return body

    def patch_cart(self, headers, cart_id, body):
        return self.c.patch("/cart/" + cart_id, body, headers=headers)

    def patched(self, headers, cart_id, body):
        st, _, cart, raw = self.patch_cart(headers, cart_id, body)
        self.assertEqual(st, 200, raw)
        return cart

    def item_of(self, cart, vid="v"):
        return [i for i in cart["items"] if i["variantId"] == vid][0]

    def quote(self, pid, qty=1, vid="v", currency="USD", **extra):
        body = {"currency": currency, "items": [{"productId": pid, "variantId": vid, "quantity": qty}]}
        body.update(extra)
        return self.c.post("/pricing/calculate", body)

    # -- checkout ------------------------------------------------------------------------------

    def create_checkout(self, headers, cart_id, **extra):
        body = {"cartId": cart_id, "shippingAddress": ADDRESS}
        body.update(extra)
        return self.c.post("/checkout/session", body, headers=headers)

    def process(self, headers, sid, token="tok_visa"):
        return self.c.post("/checkout/process", {"sessionId": sid, "payment": {"method": "card", "token": token}},
                           headers=headers)

    def checked_out(self, headers, cart_id):
        st, _, s, raw = self.create_checkout(headers, cart_id)
        self.assertEqual(st, 201, raw)
        st, _, o, raw = self.process(headers, s["id"])
        self.assertEqual(st, 201, raw)
        return o


# =============================================================================================
# Every 201 carries Location; PUT answers 201 when it created, 200 when it replaced.


class LocationTest(StorefrontTest):
    def test_post_cart(self):
        st, hdrs, cart, raw = self.c.post("/cart", {"currency": "USD"}, headers=new_user())
        self.assertEqual(st, 201, raw)
        self.assertLocation(hdrs, "/cart/" + cart["id"])

    def test_post_cart_items_names_the_item(self):
        u = new_user()
        pid = self.product([{"id": "a", "price": 100, "stock": 100}, {"id": "b", "price": 200, "stock": 100}])
        cart = new_cart(self.c, u)["id"]
        st, hdrs, body, raw = self.add(u, cart, pid, 1, "a")
        self.assertEqual(st, 201, raw)
        self.assertLocation(hdrs, "/cart/%s/items/%s" % (cart, self.item_of(body, "a")["id"]))
        st, hdrs, body, raw = self.add(u, cart, pid, 1, "b")
        self.assertEqual(st, 201, raw)
        self.assertLocation(hdrs, "/cart/%s/items/%s" % (cart, self.item_of(body, "b")["id"]))
        # The same product+variant again adds to the existing line: Location names that line.
        # (API.md does not single this case out; the line is the item the POST acted on.)
        first = self.item_of(body, "a")["id"]
        st, hdrs, body, raw = self.add(u, cart, pid, 2, "a")
        self.assertEqual(st, 201, raw)
        self.assertEqual(self.item_of(body, "a")["id"], first)
        self.assertLocation(hdrs, "/cart/%s/items/%s" % (cart, first))

    def test_post_session(self):
        for headers in (None, new_user()):
            st, hdrs, s, raw = self.c.post("/session", {}, headers=headers)
            self.assertEqual(st, 201, raw)
            self.assertLocation(hdrs, "/session/" + s["id"])

    def test_post_admin_discounts_and_get_answers_it_for_admins(self):
        st, hdrs, d, raw = self.c.post("/admin/discounts", {"code": self.code(), "type": "percentage", "value": "10"},
                                       headers=ADMIN)
        self.assertEqual(st, 201, raw)
        self.assertLocation(hdrs, "/admin/discounts/" + d["id"])
        st, _, got, raw = self.c.get("/admin/discounts/" + d["id"], headers=ADMIN)
        self.assertEqual(st, 200, raw)
        self.assertEqual(got, d)
        self.assertProblem(self.c.get("/admin/discounts/" + d["id"], headers=new_user()), 403, "forbidden")
        self.assertProblem(self.c.get("/admin/discounts/" + d["id"]), 401, "unauthorized")
        self.assertProblem(self.c.get("/admin/discounts/" + str(uuid.uuid4()), headers=ADMIN), 404, "not_found")

    def test_put_product_201_with_location_then_200(self):
        pid = "p-" + hexid(12)
        body = {"name": "Mug", "currency": "USD", "variants": [{"id": "v", "price": 100, "stock": 1}]}
        st, hdrs, _, raw = self.c.put("/admin/products/" + pid, body, headers=ADMIN)
        self.assertEqual(st, 201, raw)
        self.assertLocation(hdrs, "/admin/products/" + pid)
        st, _, p, raw = self.c.put("/admin/products/" + pid, dict(body, name="Big mug"), headers=ADMIN)
        self.assertEqual(st, 200, raw)
        self.assertEqual(p["name"], "Big mug")

    def test_put_tax_rate_201_with_location_then_200(self):
        r = region()
        st, hdrs, body, raw = self.c.put("/admin/tax-rates/" + r, {"rate": "5", "inclusive": False}, headers=ADMIN)
        self.assertEqual(st, 201, raw)
        self.assertLocation(hdrs, "/admin/tax-rates/" + r)
        self.assertEqual(body, {"region": r, "rate": "5", "inclusive": False})
        st, _, body, raw = self.c.put("/admin/tax-rates/" + r, {"rate": "6"}, headers=ADMIN)
        self.assertEqual(st, 200, raw)
        self.assertEqual(body["rate"], "6")

    def test_put_shipping_method_201_with_location_then_200(self):
        sid = "sm-" + hexid(8)
        st, hdrs, body, raw = self.c.put("/admin/shipping-methods/" + sid, {"name": "Std", "price": 499}, headers=ADMIN)
        self.assertEqual(st, 201, raw)
        self.assertLocation(hdrs, "/admin/shipping-methods/" + sid)
        self.assertEqual((body["id"], body["price"]), (sid, 499))
        st, _, body, raw = self.c.put("/admin/shipping-methods/" + sid, {"name": "Std", "price": 599}, headers=ADMIN)
        self.assertEqual(st, 200, raw)
        self.assertEqual(body["price"], 599)

    def test_checkout_session_and_order(self):
        u = new_user()
        cart = self.cart_with(u, self.product())
        st, hdrs, s, raw = self.create_checkout(u, cart["id"])
        self.assertEqual(st, 201, raw)
        self.assertLocation(hdrs, "/checkout/session/" + s["id"])
        st, hdrs, o, raw = self.process(u, s["id"])
        self.assertEqual(st, 201, raw)
        self.assertLocation(hdrs, "/orders/" + o["id"])


# =============================================================================================
# Public routes ignore an invalid or expired token and answer as to the anonymous.


class PublicRoutesIgnoreBadTokensTest(StorefrontTest):
    def bad_tokens(self):
        return {
            "expired": bearer(jwt("user-" + hexid(), exp_delta=-3600)),
            "expired admin": bearer(jwt("admin-1", roles=["admin"], exp_delta=-3600)),
            "garbage": {"Authorization": "Bearer not-a-jwt-at-all"},
            "bad signature": bearer(jwt("admin-1", roles=["admin"], secret="another-secret-0123456789")),
            "alg none": bearer(jwt("admin-1", roles=["admin"], alg="none")),
        }

    def setUp(self):
        self.pid = self.product([{"id": "v", "price": 1250, "stock": 3}])
        self.hidden = self.product(active=False)
        self.discount(code=self.code(), type="percentage", value="5")  # admins would list it
        self.tax("7", False)
        self.shipping()

    def public_requests(self):
        quote = {"currency": "USD", "items": [{"productId": self.pid, "variantId": "v", "quantity": 2}]}
        return [("GET", "/products/" + self.pid, None),
                ("GET", "/products/" + self.hidden, None),  # 404 anonymously (admins would see it)
                ("GET", "/products", None),
                ("POST", "/pricing/calculate", quote),
                ("GET", "/pricing/tax-rates", None),
                ("GET", "/checkout/shipping-methods", None),
                ("GET", "/pricing/discounts", None)]

    def test_each_public_route_gives_the_anonymous_answer(self):
        for method, path, body in self.public_requests():
            st0, _, anon, raw0 = self.c.request(method, path, body=body)
            self.assertEqual(st0, 404 if path.endswith(self.hidden) else 200, (path, raw0))
            for name, headers in self.bad_tokens().items():
                st, _, got, raw = self.c.request(method, path, body=body, headers=headers)
                self.assertEqual(st, st0, (name, method, path, raw))
                if st0 == 200:
                    self.assertEqual(got, anon, (name, method, path))
                else:
                    self.assertEqual(got["code"], "not_found", (name, path, raw))

    def test_a_forged_session_token_is_ignored_on_public_routes(self):
        # API.md: "an invalid or expired token is ignored" — read as any credential token.
        for method, path, body in self.public_requests():
            st0, _, anon, _ = self.c.request(method, path, body=body)
            st, _, got, raw = self.c.request(method, path, body=body, headers={"X-Session-Token": "forged"})
            self.assertEqual(st, st0, (path, raw))
            if st0 == 200:
                self.assertEqual(got, anon, path)

    def test_a_protected_route_still_refuses_them(self):
        for name, headers in self.bad_tokens().items():
            self.assertProblem(self.c.get("/cart", headers=headers), 401, "unauthorized")
        self.assertProblem(self.c.put("/admin/tax-rates/" + region(), {"rate": "1"},
                                      headers=self.bad_tokens()["expired admin"]), 401, "unauthorized")


# =============================================================================================
# Request timestamps may carry any RFC 3339 offset; answers are UTC.


class TimestampOffsetTest(StorefrontTest):
    @staticmethod
    def at(offset_minutes, delta_seconds):
        """now + delta_seconds written in the given UTC offset."""
        import datetime
        tz = datetime.timezone(datetime.timedelta(minutes=offset_minutes))
        t = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=delta_seconds)
        return t.astimezone(tz).replace(microsecond=0).isoformat()

    def test_post_normalises_offsets_to_utc(self):
        d = self.discount(code=self.code(), type="percentage", value="10",
                          startsAt="2030-01-01T02:00:00+02:00", endsAt="2030-01-31T19:00:00-05:00")
        self.assertEqual((d["startsAt"], d["endsAt"]), ("2030-01-01T00:00:00.000Z", "2030-02-01T00:00:00.000Z"))
        st, _, lst, raw = self.c.get("/pricing/discounts", headers=ADMIN)  # as stored
        self.assertEqual(st, 200, raw)
        got = [x for x in lst["items"] if x["id"] == d["id"]][0]
        self.assertEqual((got["startsAt"], got["endsAt"]), ("2030-01-01T00:00:00.000Z", "2030-02-01T00:00:00.000Z"))

    def test_fractional_seconds_with_an_offset(self):
        d = self.discount(code=self.code(), type="percentage", value="10", startsAt="2030-01-01T05:30:00.250+05:30")
        self.assertEqual(d["startsAt"], "2030-01-01T00:00:00.250Z")

    def test_patch_normalises_offsets_to_utc(self):
        d = self.discount(code=self.code(), type="percentage", value="10")
        st, _, body, raw = self.c.patch("/admin/discounts/" + d["id"], {
            "startsAt": "2030-06-01T09:00:00+09:00", "endsAt": "2030-06-30T20:00:00-04:00"}, headers=ADMIN)
        self.assertEqual(st, 200, raw)
        self.assertEqual((body["startsAt"], body["endsAt"]), ("2030-06-01T00:00:00.000Z", "2030-07-01T00:00:00.000Z"))

    def test_the_offset_decides_whether_a_code_is_valid_now(self):
        # Started 30 min ago, written in +02:00 (its wall clock reads 90 min ahead); ends in 30 min,
        # written in -02:00 (its wall clock reads 90 min ago). Read as UTC wall clocks it would be
        # not started / expired; read correctly it applies now.
        pid = self.product()
        code = self.code()
        d = self.discount(code=code, type="percentage", value="10",
                          startsAt=self.at(120, -1800), endsAt=self.at(-120, 1800))
        self.assertTrue(d["startsAt"].endswith("Z") and d["endsAt"].endswith("Z"), d)
        st, _, t, raw = self.quote(pid, 1, discountCodes=[code])
        self.assertEqual(st, 200, raw)
        self.assertEqual([a["id"] for a in t["appliedDiscounts"]], [d["id"]])
        self.assertEqual(t["discountTotal"], 100)


# =============================================================================================
# Idempotency-Key replays are recognised by the body's JSON value.


class IdempotencyJsonValueTest(StorefrontTest):
    def test_whitespace_and_key_order_replay_the_first_answer(self):
        u = new_user()
        key = {"Idempotency-Key": "k-" + hexid(16)}
        h = dict(u, **key)
        st1, _, first, raw = self.c.post("/cart", raw=b'{"currency":"USD","region":"US-CA"}', headers=h)
        self.assertEqual(st1, 201, raw)
        st2, _, again, raw = self.c.post("/cart", raw=b'{\n  "region" : "US-CA",\t"currency": "USD"\n}\n', headers=h)
        self.assertEqual((st2, again), (201, first), raw)
        st, _, lst, _ = self.c.get("/cart", headers=u)
        self.assertEqual([c["id"] for c in lst["items"]], [first["id"]])  # the work was done once

    def test_an_item_is_added_once(self):
        u = new_user()
        pid = self.product()
        cart = new_cart(self.c, u)["id"]
        h = dict(u, **{"Idempotency-Key": "k-" + hexid(16)})
        one = json.dumps({"productId": pid, "variantId": "v", "quantity": 2}).encode()
        two = json.dumps({"quantity": 2, "variantId": "v", "productId": pid}, indent=3).encode()
        st1, _, first, raw = self.c.post("/cart/%s/items" % cart, raw=one, headers=h)
        self.assertEqual(st1, 201, raw)
        st2, _, again, raw = self.c.post("/cart/%s/items" % cart, raw=two, headers=h)
        self.assertEqual((st2, again), (201, first), raw)
        got = self.get_cart(u, cart)
        self.assertEqual([i["quantity"] for i in got["items"]], [2])
        self.assertEqual(got["version"], first["version"])

    def test_nested_key_order_is_the_same_value(self):
        h = {"Idempotency-Key": "k-" + hexid(16)}
        st1, _, first, raw = self.c.post("/session", raw=b'{"deviceInfo":{"os":"ios","v":17}}', headers=h)
        self.assertEqual(st1, 201, raw)
        st2, _, again, raw = self.c.post("/session", raw=b'{ "deviceInfo" : { "v" : 17 , "os" : "ios" } }', headers=h)
        self.assertEqual((st2, again), (201, first), raw)

    def test_a_different_value_is_idempotency_key_reused(self):
        u = new_user()
        h = dict(u, **{"Idempotency-Key": "k-" + hexid(16)})
        st, _, first, raw = self.c.post("/cart", raw=b'{"currency":"USD","region":"US-CA"}', headers=h)
        self.assertEqual(st, 201, raw)
        self.assertProblem(self.c.post("/cart", raw=b'{"currency":"USD","region":"US-NY"}', headers=h),
                           422, "idempotency_key_reused")
        # Array order is part of the value.
        h2 = {"Idempotency-Key": "k-" + hexid(16)}
        self.assertEqual(self.c.post("/session", raw=b'{"deviceInfo":{"l":[1,2]}}', headers=h2)[0], 201)
        self.assertProblem(self.c.post("/session", raw=b'{"deviceInfo":{"l":[2,1]}}', headers=h2),
                           422, "idempotency_key_reused")
        st, _, lst, _ = self.c.get("/cart", headers=u)
        self.assertEqual([c["id"] for c in lst["items"]], [first["id"]])


# =============================================================================================
# 409 insufficient_stock carries lines[]; lowering a quantity is never refused for stock.


class InsufficientStockTest(StorefrontTest):
    def test_adding_more_than_the_stock_names_the_line(self):
        u = new_user()
        pid = self.product([{"id": "v", "price": 100, "stock": 3}])
        cart = new_cart(self.c, u)["id"]
        prob = self.assertProblem(self.add(u, cart, pid, 5), 409, "insufficient_stock")
        self.assertStockLines(prob, [{"productId": pid, "variantId": "v", "requested": 5, "available": 3}])

    def test_a_quantity_patch_above_the_stock_names_the_line(self):
        u = new_user()
        pid = self.product([{"id": "v", "price": 100, "stock": 3}])
        cart = self.cart_with(u, pid, 1)
        item = cart["items"][0]["id"]
        prob = self.assertProblem(self.c.patch("/cart/%s/items/%s" % (cart["id"], item), {"quantity": 7}, headers=u),
                                  409, "insufficient_stock")
        self.assertStockLines(prob, [{"productId": pid, "variantId": "v", "requested": 7, "available": 3}])

    def test_lowering_after_the_stock_fell_succeeds_and_checkout_names_the_line(self):
        u = new_user()
        pid = self.product([{"id": "v", "price": 100, "stock": 5}])
        cart = self.cart_with(u, pid, 5)
        cid, item = cart["id"], cart["items"][0]["id"]
        self.reput(pid, [{"id": "v", "price": 100, "stock": 1}])
        st, _, body, raw = self.c.patch("/cart/%s/items/%s" % (cid, item), {"quantity": 4}, headers=u)
        self.assertEqual(st, 200, raw)
        self.assertEqual(body["items"][0]["quantity"], 4)
        st, _, body, raw = self.c.patch("/cart/%s/items/%s" % (cid, item), {"quantity": 2}, headers=u)
        self.assertEqual((st, body["items"][0]["quantity"]), (200, 2), raw)
        # Raising is still checked.
        prob = self.assertProblem(self.c.patch("/cart/%s/items/%s" % (cid, item), {"quantity": 3}, headers=u),
                                  409, "insufficient_stock")
        self.assertStockLines(prob, [{"productId": pid, "variantId": "v", "requested": 3, "available": 1}])
        prob = self.assertProblem(self.create_checkout(u, cid), 409, "insufficient_stock")
        self.assertStockLines(prob, [{"productId": pid, "variantId": "v", "requested": 2, "available": 1}])


# =============================================================================================
# 422 invalid_discount_code: errors[] with field discountCodes[i] and a reason.


class InvalidDiscountCodeTest(StorefrontTest):
    def setUp(self):
        self.u = new_user()
        self.pid = self.product([{"id": "v", "price": 1000, "stock": 1000}])
        self.cart = self.cart_with(self.u, self.pid, 1)
        self.cid = self.cart["id"]

    def refused(self, codes, index, reason, cart=None, headers=None):
        cart, headers = cart or self.cid, headers or self.u
        before = self.get_cart(headers, cart)
        prob = self.assertCodeRefused(self.patch_cart(headers, cart, {"discountCodes": codes}), index, reason)
        after = self.get_cart(headers, cart)
        self.assertEqual((after["version"], after["discountCodes"]), (before["version"], before["discountCodes"]))
        return prob

    def test_unknown(self):
        ok = self.code()
        self.discount(code=ok, type="percentage", value="5")
        prob = self.refused([ok, "NOPE" + hexid(6)], 1, "unknown")
        self.assertNotIn("discountCodes[0]", [e["field"] for e in prob["errors"]])

    def test_not_started(self):
        code = self.code()
        self.discount(code=code, type="percentage", value="5", startsAt="2099-01-01T00:00:00Z")
        self.refused([code], 0, "not_started")

    def test_expired(self):
        code = self.code()
        self.discount(code=code, type="percentage", value="5", startsAt="2020-01-01T00:00:00Z",
                      endsAt="2020-02-01T00:00:00Z")
        self.refused([code], 0, "expired")

    def test_inactive_when_made_inactive(self):
        code = self.code()
        d = self.discount(code=code, type="percentage", value="5", active=False)
        self.assertFalse(d["active"])
        self.refused([code], 0, "inactive")

    def test_inactive_after_delete(self):
        code = self.code()
        d = self.discount(code=code, type="percentage", value="5")
        self.assertEqual(self.c.delete("/admin/discounts/" + d["id"], headers=ADMIN)[0], 204)
        self.refused([code], 0, "inactive")

    def test_currency(self):
        code = self.code()
        self.discount(code=code, type="fixed", value=100, currency="EUR")
        self.refused([code], 0, "currency")

    def test_min_subtotal(self):
        code = self.code()
        self.discount(code=code, type="percentage", value="5", minSubtotal=5000)
        self.refused([code], 0, "min_subtotal")

    def test_no_eligible_item_in_an_empty_cart(self):
        code = self.code()
        self.discount(code=code, type="percentage", value="5")
        empty = new_cart(self.c, self.u)["id"]
        self.refused([code], 0, "no_eligible_item", cart=empty)

    def test_no_eligible_item_when_its_products_are_not_in_the_cart(self):
        # productIds decide the eligible lines (Pricing); none of them is in this cart.
        code = self.code()
        self.discount(code=code, type="percentage", value="5", productIds=["p-none-" + hexid()])
        self.refused([code], 0, "no_eligible_item")

    def test_used_up_after_a_completed_checkout(self):
        code = self.code()
        self.discount(code=code, type="fixed", value=100, currency="USD", usageLimit=1)
        self.patched(self.u, self.cid, {"discountCodes": [code]})
        self.checked_out(self.u, self.cid)
        other_user = new_user()
        other = self.cart_with(other_user, self.pid, 1)["id"]
        # The order counts the use; a node may learn it a moment later: poll with a deadline.
        deadline = time.time() + 10
        while True:
            resp = self.patch_cart(other_user, other, {"discountCodes": [code]})
            if resp[0] != 200 or time.time() > deadline:
                break
            self.patched(other_user, other, {"discountCodes": []})
            time.sleep(0.1)
        self.assertCodeRefused(resp, 0, "used_up")
        self.assertCodeRefused(self.quote(self.pid, 1, discountCodes=[code]), 0, "used_up")

    def test_a_quote_checks_its_codes_the_same_way(self):
        cases = []
        c = self.code(); self.discount(code=c, type="percentage", value="5", startsAt="2099-01-01T00:00:00Z")
        cases.append((c, "not_started"))
        c = self.code(); self.discount(code=c, type="percentage", value="5", startsAt="2020-01-01T00:00:00Z",
                                       endsAt="2020-02-01T00:00:00Z")
        cases.append((c, "expired"))
        c = self.code(); self.discount(code=c, type="percentage", value="5", active=False)
        cases.append((c, "inactive"))
        c = self.code(); self.discount(code=c, type="fixed", value=100, currency="EUR")
        cases.append((c, "currency"))
        c = self.code(); self.discount(code=c, type="percentage", value="5", minSubtotal=5000)
        cases.append((c, "min_subtotal"))
        c = self.code(); self.discount(code=c, type="percentage", value="5", productIds=["p-none-" + hexid()])
        cases.append((c, "no_eligible_item"))
        cases.append(("NOPE" + hexid(6), "unknown"))
        ok = self.code()
        self.discount(code=ok, type="percentage", value="5")
        for code, reason in cases:
            self.assertCodeRefused(self.quote(self.pid, 1, discountCodes=[ok, code]), 1, reason)
        st, _, t, raw = self.quote(self.pid, 1, discountCodes=[ok])
        self.assertEqual(st, 200, raw)

    def test_a_held_code_that_stopped_applying_is_kept_and_reported(self):
        code = self.code()
        d = self.discount(code=code, type="percentage", value="10", minSubtotal=1500)
        item = self.cart["items"][0]["id"]
        self.assertEqual(self.c.patch("/cart/%s/items/%s" % (self.cid, item), {"quantity": 2}, headers=self.u)[0], 200)
        cart = self.patched(self.u, self.cid, {"discountCodes": [code]})
        self.assertEqual([(s["code"].lower(), s["applies"], s["reason"]) for s in cart["codeStatus"]],
                         [(code.lower(), True, None)])
        self.assertEqual(cart["totals"]["discountTotal"], 200)
        # Below the minimum now: the item PATCH is not refused because of the code.
        st, _, cart, raw = self.c.patch("/cart/%s/items/%s" % (self.cid, item), {"quantity": 1}, headers=self.u)
        self.assertEqual(st, 200, raw)
        cart = self.get_cart(self.u, self.cid)
        self.assertEqual([c.lower() for c in cart["discountCodes"]], [code.lower()])
        self.assertEqual([(s["code"].lower(), s["applies"], s["reason"]) for s in cart["codeStatus"]],
                         [(code.lower(), False, "min_subtotal")])
        self.assertEqual(cart["totals"]["discountTotal"], 0)
        self.assertNotIn(d["id"], [a["id"] for a in cart["totals"]["appliedDiscounts"]])
        # Repeating it in a later PATCH: 200, kept, still reported.
        again = self.patched(self.u, self.cid, {"discountCodes": [code]})
        self.assertEqual([c.lower() for c in again["discountCodes"]], [code.lower()])
        self.assertEqual([(s["applies"], s["reason"]) for s in again["codeStatus"]], [(False, "min_subtotal")])
        # With a new code that applies: both held, each reported.
        new = self.code()
        self.discount(code=new, type="percentage", value="5")
        both = self.patched(self.u, self.cid, {"discountCodes": [code, new]})
        self.assertEqual([c.lower() for c in both["discountCodes"]], [code.lower(), new.lower()])
        self.assertEqual([(s["code"].lower(), s["applies"], s["reason"]) for s in both["codeStatus"]],
                         [(code.lower(), False, "min_subtotal"), (new.lower(), True, None)])
        # A new code that does not apply is still refused; the held one is not named.
        prob = self.refused([code, new, "NOPE" + hexid(6)], 2, "unknown")
        self.assertEqual([e["field"] for e in prob["errors"]], ["discountCodes[2]"])

    def test_a_held_code_retired_later_is_kept_and_reported_inactive(self):
        code = self.code()
        d = self.discount(code=code, type="percentage", value="10")
        self.patched(self.u, self.cid, {"discountCodes": [code]})
        self.assertEqual(self.c.delete("/admin/discounts/" + d["id"], headers=ADMIN)[0], 204)
        cart = self.patched(self.u, self.cid, {"discountCodes": [code]})
        self.assertEqual([c.lower() for c in cart["discountCodes"]], [code.lower()])
        self.assertEqual([(s["applies"], s["reason"]) for s in cart["codeStatus"]], [(False, "inactive")])


# =============================================================================================
# 409 currency_mismatch.


class CurrencyMismatchTest(StorefrontTest):
    def test_adding_a_product_in_another_currency(self):
        u = new_user()
        eur = self.product(currency="EUR")
        cart = new_cart(self.c, u, {"currency": "USD"})
        self.assertProblem(self.add(u, cart["id"], eur), 409, "currency_mismatch")
        got = self.get_cart(u, cart["id"])
        self.assertEqual((got["items"], got["version"]), ([], cart["version"]))

    def test_a_quote_with_a_product_in_another_currency(self):
        usd, eur = self.product(), self.product(currency="EUR")
        self.assertProblem(self.c.post("/pricing/calculate", {"currency": "USD", "items": [
            {"productId": usd, "variantId": "v", "quantity": 1},
            {"productId": eur, "variantId": "v", "quantity": 1}]}), 409, "currency_mismatch")
        self.assertProblem(self.quote(usd, 1, currency="EUR"), 409, "currency_mismatch")

    def test_merging_carts_in_different_currencies(self):
        u = new_user()
        guest = new_session(self.c)
        tok = {"X-Session-Token": guest["token"]}
        target = self.cart_with(u, self.product(), 1, body={"currency": "USD"})
        source = self.cart_with(tok, self.product(currency="EUR"), 1, body={"currency": "EUR"})
        self.assertProblem(self.c.post("/cart/%s/merge" % target["id"], {"sourceCartId": source["id"]},
                                       headers=dict(u, **tok)), 409, "currency_mismatch")
        self.assertEqual(self.get_cart(tok, source["id"])["status"], "active")
        self.assertEqual(self.get_cart(u, target["id"])["version"], target["version"])

    def test_a_code_in_another_currency_is_reason_currency(self):
        u = new_user()
        cart = self.cart_with(u, self.product(), 1, body={"currency": "USD"})
        code = self.code()
        self.discount(code=code, type="fixed", value=100, currency="EUR")
        self.assertCodeRefused(self.patch_cart(u, cart["id"], {"discountCodes": [code]}), 0, "currency")


# =============================================================================================
# Cart fields: itemCount, codeStatus, items' variantName/options/status, appliedDiscounts'
# name/type, totals' taxInclusive.


class CartFieldsTest(StorefrontTest):
    VARIANTS = [{"id": "m", "sku": "M", "price": 1000, "stock": 50, "name": "Medium",
                 "options": {"size": "M", "color": "red"}},
                {"id": "plain", "sku": "P", "price": 500, "stock": 50}]

    def test_item_count_variant_name_options_and_status_ok(self):
        u = new_user()
        pid = self.product(self.VARIANTS)
        cart = new_cart(self.c, u)
        self.assertEqual((cart["itemCount"], cart["codeStatus"]), (0, []))
        self.added(u, cart["id"], pid, 2, "m")
        body = self.added(u, cart["id"], pid, 3, "plain")
        self.assertEqual(body["itemCount"], 5)
        m, plain = self.item_of(body, "m"), self.item_of(body, "plain")
        self.assertEqual((m["variantName"], m["options"], m["status"]), ("Medium", {"size": "M", "color": "red"}, "ok"))
        self.assertIsNone(plain["variantName"])
        # A variant without options: API.md does not spell the empty value; {} or null.
        self.assertIn("options", plain)
        self.assertFalse(plain["options"])
        self.assertEqual(plain["status"], "ok")
        self.assertEqual(self.get_cart(u, cart["id"])["itemCount"], 5)

    def test_code_status_of_an_applying_code(self):
        u = new_user()
        cart = self.cart_with(u, self.product())
        code = self.code()
        self.discount(code=code, type="percentage", value="10")
        body = self.patched(u, cart["id"], {"discountCodes": [code]})
        self.assertEqual(len(body["codeStatus"]), 1)
        s = body["codeStatus"][0]
        self.assertEqual((s["code"].lower(), s["applies"], s["reason"]), (code.lower(), True, None))

    def test_price_changed_shows_the_current_price(self):
        u = new_user()
        pid = self.product([{"id": "v", "price": 1000, "stock": 50}])
        cart = self.cart_with(u, pid, 2)
        self.reput(pid, [{"id": "v", "price": 1200, "stock": 50}])
        item = self.get_cart(u, cart["id"])["items"][0]
        self.assertEqual((item["status"], item["unitPrice"], item["currentUnitPrice"]), ("price_changed", 1000, 1200))
        # Changing the line takes the catalog price: unitPrice is the price when last changed.
        st, _, body, raw = self.c.patch("/cart/%s/items/%s" % (cart["id"], item["id"]), {"quantity": 3}, headers=u)
        self.assertEqual(st, 200, raw)
        self.assertEqual((body["items"][0]["unitPrice"], body["items"][0]["status"]), (1200, "ok"))

    def test_unavailable_when_the_product_is_inactive_and_checkout_refuses_it(self):
        u = new_user()
        pid = self.product([{"id": "v", "price": 1000, "stock": 50}])
        cart = self.cart_with(u, pid, 1)
        self.reput(pid, [{"id": "v", "price": 1000, "stock": 50}], active=False)
        self.assertEqual(self.get_cart(u, cart["id"])["items"][0]["status"], "unavailable")
        # API.md: "checkout refuses it", without naming the code: a 4xx problem, no session.
        st, hdrs, prob, raw = self.create_checkout(u, cart["id"])
        self.assertTrue(400 <= st < 500, (st, raw))
        self.assertTrue(hdrs.get("content-type", "").startswith("application/problem+json"), hdrs)
        self.assertEqual(self.get_cart(u, cart["id"])["status"], "active")

    def test_unavailable_when_the_variant_is_gone(self):
        u = new_user()
        pid = self.product([{"id": "v", "price": 1000, "stock": 50}, {"id": "w", "price": 700, "stock": 50}])
        cart = self.cart_with(u, pid, 1, vid="v")
        self.added(u, cart["id"], pid, 1, "w")
        self.reput(pid, [{"id": "w", "price": 700, "stock": 50}])
        got = self.get_cart(u, cart["id"])
        self.assertEqual((self.item_of(got, "v")["status"], self.item_of(got, "w")["status"]), ("unavailable", "ok"))
        st, _, _, raw = self.create_checkout(u, cart["id"])
        self.assertTrue(400 <= st < 500, (st, raw))

    def test_applied_discounts_carry_name_and_type(self):
        u = new_user()
        cart = self.cart_with(u, self.product([{"id": "v", "price": 1000, "stock": 50}]), 2)
        named, plain = self.code(), self.code()
        a = self.discount(code=named, type="percentage", value="10", name="Spring sale")
        self.assertEqual(a["name"], "Spring sale")
        b = self.discount(code=plain, type="fixed", value=100, currency="USD")
        self.assertIsNone(b.get("name"))
        body = self.patched(u, cart["id"], {"discountCodes": [named, plain]})
        applied = {x["id"]: x for x in body["totals"]["appliedDiscounts"]}
        self.assertEqual((applied[a["id"]]["name"], applied[a["id"]]["type"]), ("Spring sale", "percentage"))
        self.assertIn("name", applied[b["id"]])
        self.assertEqual((applied[b["id"]]["name"], applied[b["id"]]["type"]), (None, "fixed"))

    def test_inclusive_tax_is_inside_the_total(self):
        u = new_user()
        pid = self.product([{"id": "v", "price": 1000, "stock": 50}])
        incl, excl = self.tax("20", True), self.tax("10", False)
        ship = self.shipping(price=500)
        code = self.code()
        self.discount(code=code, type="percentage", value="10")
        cart = self.cart_with(u, pid, 2, body={"region": incl})
        self.assertIsInstance(cart["totals"]["taxInclusive"], bool)
        body = self.patched(u, cart["id"], {"discountCodes": [code], "shippingMethod": ship})
        t = body["totals"]
        # 2000 − 200 = 1800 taxable; tax inside it: round(1800 × 20 / 120) = 300.
        self.assertEqual((t["taxInclusive"], t["taxRate"]), (True, "20"))
        self.assertEqual((t["subtotal"], t["discountTotal"], t["taxTotal"], t["shippingTotal"]), (2000, 200, 300, 500))
        self.assertEqual(t["total"], t["subtotal"] - t["discountTotal"] + t["shippingTotal"])
        st, _, q, raw = self.quote(pid, 2, region=incl, discountCodes=[code], shippingMethod=ship)
        self.assertEqual(st, 200, raw)
        self.assertEqual((q["taxInclusive"], q["taxTotal"], q["total"]), (True, 300, 2300))
        body = self.patched(u, cart["id"], {"region": excl})
        t = body["totals"]
        self.assertEqual((t["taxInclusive"], t["taxTotal"], t["total"]), (False, 180, 2000 - 200 + 180 + 500))


# =============================================================================================
# A PATCH that changes nothing answers 200 with the same version.


class NoOpPatchTest(StorefrontTest):
    def test_a_cart_patch_repeating_the_values(self):
        u = new_user()
        ship = self.shipping()
        code = self.code()
        self.discount(code=code, type="percentage", value="5")
        cart = self.cart_with(u, self.product(), 1, body={"region": "US-CA"})
        values = {"region": "US-CA", "metadata": {"note": "gift"}, "shippingMethod": ship, "discountCodes": [code]}
        st, hdrs, body, raw = self.patch_cart(u, cart["id"], values)
        self.assertEqual(st, 200, raw)
        version, etag = body["version"], hdrs["etag"]
        self.assertEqual(etag, '"%d"' % version)
        for same in (values, {}, {"region": "US-CA"}, {"metadata": {"note": "gift"}}, {"discountCodes": [code]}):
            st, hdrs, body, raw = self.patch_cart(u, cart["id"], same)
            self.assertEqual(st, 200, raw)
            self.assertEqual((body["version"], hdrs["etag"]), (version, etag), same)
        self.assertEqual(self.get_cart(u, cart["id"])["version"], version)

    def test_an_item_patch_repeating_the_quantity_keeps_the_unit_price(self):
        u = new_user()
        pid = self.product([{"id": "v", "price": 1000, "stock": 50}])
        cart = self.cart_with(u, pid, 2)
        item = cart["items"][0]["id"]
        self.reput(pid, [{"id": "v", "price": 1300, "stock": 50}])
        st, hdrs, body, raw = self.c.patch("/cart/%s/items/%s" % (cart["id"], item), {"quantity": 2}, headers=u)
        self.assertEqual(st, 200, raw)
        self.assertEqual((body["version"], hdrs["etag"]), (cart["version"], '"%d"' % cart["version"]))
        self.assertEqual((body["items"][0]["quantity"], body["items"][0]["unitPrice"]), (2, 1000))
        got = self.get_cart(u, cart["id"])
        self.assertEqual((got["version"], got["items"][0]["unitPrice"]), (cart["version"], 1000))


# =============================================================================================
# GET /cart/{id} with If-None-Match.


class IfNoneMatchTest(StorefrontTest):
    def test_304_while_unchanged_and_200_after_a_change(self):
        u = new_user()
        pid = self.product()
        cart = new_cart(self.c, u)
        tag = {"If-None-Match": '"%d"' % cart["version"]}
        st, _, _, raw = self.c.get("/cart/" + cart["id"], headers=dict(u, **tag))
        self.assertEqual((st, raw), (304, b""))
        self.added(u, cart["id"], pid)
        st, hdrs, body, raw = self.c.get("/cart/" + cart["id"], headers=dict(u, **tag))
        self.assertEqual(st, 200, raw)
        self.assertEqual(body["version"], cart["version"] + 1)
        st, _, _, raw = self.c.get("/cart/" + cart["id"], headers=dict(u, **{"If-None-Match": hdrs["etag"]}))
        self.assertEqual((st, raw), (304, b""))

    def test_someone_else_gets_404_not_304(self):
        u = new_user()
        cart = new_cart(self.c, u)
        tag = {"If-None-Match": '"%d"' % cart["version"]}
        self.assertProblem(self.c.get("/cart/" + cart["id"], headers=dict(new_user(), **tag)), 404, "not_found")


# =============================================================================================
# Merge: self-merge refused at once; region, shipping and codes; mergedInto.


class MergeTest(StorefrontTest):
    def setUp(self):
        self.u = new_user()
        self.guest = new_session(self.c)
        self.tok = {"X-Session-Token": self.guest["token"]}
        self.both = dict(self.u, **self.tok)
        self.pid = self.product([{"id": "v", "price": 1000, "stock": 1000}])

    def merge(self, target, source):
        return self.c.post("/cart/%s/merge" % target, {"sourceCartId": source}, headers=self.both)

    def merged(self, target, source):
        st, _, body, raw = self.merge(target, source)
        self.assertEqual(st, 200, raw)
        return body

    def test_a_cart_merged_into_itself_is_validation_failed(self):
        cart = self.cart_with(self.u, self.pid)
        self.assertProblem(self.c.post("/cart/%s/merge" % cart["id"], {"sourceCartId": cart["id"]}, headers=self.u),
                           400, "validation_failed")
        got = self.get_cart(self.u, cart["id"])
        self.assertEqual((got["status"], got["version"]), ("active", cart["version"]))

    def test_the_target_keeps_its_region_and_shipping_method(self):
        ship_t, ship_s = self.shipping(), self.shipping()
        target = self.cart_with(self.u, self.pid, 1, body={"region": "DE"})
        self.patched(self.u, target["id"], {"shippingMethod": ship_t})
        source = self.cart_with(self.tok, self.pid, 1, body={"region": "US-CA"})
        self.patched(self.tok, source["id"], {"shippingMethod": ship_s})
        body = self.merged(target["id"], source["id"])
        self.assertEqual((body["region"], body["shippingMethod"]), ("DE", ship_t))

    def test_the_source_region_and_shipping_method_when_the_target_has_none(self):
        ship_s = self.shipping()
        target = self.cart_with(self.u, self.pid, 1)
        source = self.cart_with(self.tok, self.pid, 1, body={"region": "US-CA"})
        self.patched(self.tok, source["id"], {"shippingMethod": ship_s})
        body = self.merged(target["id"], source["id"])
        self.assertEqual((body["region"], body["shippingMethod"]), ("US-CA", ship_s))

    def test_source_codes_the_target_lacks_are_added_while_they_apply(self):
        shared, extra, retired = self.code(), self.code(), self.code()
        self.discount(code=shared, type="percentage", value="5")
        self.discount(code=extra, type="fixed", value=100, currency="USD")
        r = self.discount(code=retired, type="percentage", value="3")
        target = self.cart_with(self.u, self.pid, 1)
        self.patched(self.u, target["id"], {"discountCodes": [shared]})
        source = self.cart_with(self.tok, self.pid, 1)
        self.patched(self.tok, source["id"], {"discountCodes": [shared, extra, retired]})
        self.assertEqual(self.c.delete("/admin/discounts/" + r["id"], headers=ADMIN)[0], 204)
        body = self.merged(target["id"], source["id"])
        # The target's codes first, then the source's it lacked that apply; no repeats.
        self.assertEqual([c.lower() for c in body["discountCodes"]], [shared.lower(), extra.lower()])
        self.assertTrue(all(s["applies"] for s in body["codeStatus"]), body["codeStatus"])

    def test_the_merged_source_shows_merged_into(self):
        target = self.cart_with(self.u, self.pid, 1)
        source = self.cart_with(self.tok, self.pid, 1)
        self.merged(target["id"], source["id"])
        src = self.get_cart(self.tok, source["id"])
        self.assertEqual((src["status"], src["mergedInto"]), ("merged", target["id"]))


# =============================================================================================
# A session created with a JWT is bound to its user.


class BoundSessionTest(StorefrontTest):
    def test_carts_of_the_session_belong_to_the_user_on_every_device(self):
        sub, u = user_sub()
        s = new_session(self.c, headers=u)
        self.assertEqual(s["userId"], sub)
        tok = {"X-Session-Token": s["token"]}
        st, _, cart, raw = self.c.post("/cart", {}, headers=tok)
        self.assertEqual(st, 201, raw)
        self.assertEqual((cart["userId"], cart["sessionId"]), (sub, s["id"]))
        device2 = self.server.client()
        try:
            st, _, lst, raw = device2.get("/cart", headers=bearer(jwt(sub)))
            self.assertEqual(st, 200, raw)
            self.assertIn(cart["id"], [c["id"] for c in lst["items"]])
            st, _, got, raw = device2.get("/cart/" + cart["id"], headers=bearer(jwt(sub)))
            self.assertEqual((st, got["id"]), (200, cart["id"]), raw)
        finally:
            device2.conn.close()

    def test_the_session_token_does_not_reach_the_users_other_carts(self):
        sub, u = user_sub()
        s = new_session(self.c, headers=u)
        tok = {"X-Session-Token": s["token"]}
        own = new_cart(self.c, tok)
        other = new_cart(self.c, u)  # made with the JWT alone
        pid = self.product()
        # Foreign carts are 404 in this API (existence is not revealed).
        self.assertProblem(self.c.get("/cart/" + other["id"], headers=tok), 404, "not_found")
        self.assertProblem(self.add(tok, other["id"], pid), 404, "not_found")
        self.assertProblem(self.patch_cart(tok, other["id"], {"region": "DE"}), 404, "not_found")
        st, _, lst, raw = self.c.get("/cart", headers=tok)
        self.assertEqual(st, 200, raw)
        ids = [c["id"] for c in lst["items"]]
        self.assertIn(own["id"], ids)
        self.assertNotIn(other["id"], ids)
        self.assertEqual(self.get_cart(u, other["id"])["items"], [])


# =============================================================================================
# Variants take name and options (at most 8 string pairs); discounts take name.


class VariantOptionsTest(StorefrontTest):
    def put(self, pid, variants):
        return self.c.put("/admin/products/" + pid, {"name": "Tee", "currency": "USD", "variants": variants},
                          headers=ADMIN)

    def test_name_and_options_round_trip_into_the_cart(self):
        pid = "p-" + hexid(12)
        opts = {"k%d" % i: "v%d" % i for i in range(8)}  # 8 pairs: the maximum
        st, _, p, raw = self.put(pid, [{"id": "v", "price": 100, "stock": 9, "name": "Eight", "options": opts}])
        self.assertEqual(st, 201, raw)
        st, _, p, raw = self.c.get("/products/" + pid)
        self.assertEqual(st, 200, raw)
        self.assertEqual((p["variants"][0]["name"], p["variants"][0]["options"]), ("Eight", opts))
        u = new_user()
        item = self.cart_with(u, pid)["items"][0]
        self.assertEqual((item["variantName"], item["options"]), ("Eight", opts))

    def test_too_many_or_non_string_options_are_validation_failed(self):
        for opts in ({"k%d" % i: "v" for i in range(9)}, {"size": 1}, {"size": None}, {"size": {"a": "b"}},
                     {"size": ["M"]}, ["size", "M"], "size=M"):
            pid = "p-" + hexid(12)
            prob = self.assertProblem(self.put(pid, [{"id": "v", "price": 100, "stock": 1, "options": opts}]),
                                      400, "validation_failed")
            self.assertTrue(any("options" in e["field"] for e in prob["errors"]), (opts, prob))
            self.assertProblem(self.c.get("/products/" + pid), 404, "not_found")
        prob = self.assertProblem(self.put("p-" + hexid(12), [{"id": "v", "price": 100, "stock": 1, "name": 5}]),
                                  400, "validation_failed")
        self.assertTrue(any("name" in e["field"] for e in prob["errors"]), prob)

    def test_discounts_take_an_optional_name(self):
        d = self.discount(code=self.code(), type="percentage", value="10", name="Summer")
        self.assertEqual(d["name"], "Summer")
        st, _, got, raw = self.c.get("/admin/discounts/" + d["id"], headers=ADMIN)
        self.assertEqual((st, got["name"]), (200, "Summer"), raw)
        plain = self.discount(code=self.code(), type="percentage", value="10")
        self.assertIsNone(plain.get("name"))


# =============================================================================================
# GET /products?q=&limit=&cursor= and GET /cart paging.


def pages(client, path, limit, headers=None, bound=1000):
    """Every page of a list route: (ids in order, number of pages)."""
    ids, cursor, n = [], None, 0
    for _ in range(bound):
        sep = "&" if "?" in path else "?"
        q = path + sep + "limit=%d" % limit + ("&cursor=" + urllib.parse.quote(cursor) if cursor else "")
        st, _, body, raw = client.get(q, headers=headers)
        assert st == 200, (q, st, raw)
        assert set(body) >= {"items", "nextCursor"}, body
        assert len(body["items"]) <= limit, (q, len(body["items"]))
        ids += [x["id"] for x in body["items"]]
        n += 1
        cursor = body["nextCursor"]
        if cursor is None:
            return ids, n
    raise AssertionError("%s never ends" % path)


class ProductListTest(StorefrontTest):
    def make(self, names):
        pids = []
        for name, active in names:
            pids.append(self.product(name=name, active=active))
            time.sleep(0.003)  # distinct creation milliseconds: "newest first" needs no tie-break
        return pids

    def test_active_products_matching_q_newest_first_over_pages(self):
        tag = hexid(8)
        made = self.make([("Shirt %s one" % tag, True), ("MUG %s two" % tag.upper(), True), ("hidden %s" % tag, False),
                          ("Other thing", True), ("cap %s three" % tag, True), ("Bag %s four" % tag, True),
                          ("Hat %s five" % tag, True)])
        want = [made[6], made[5], made[4], made[1], made[0]]
        for q in (tag, tag.upper()):
            ids, n = pages(self.c, "/products?q=" + q, 2)
            self.assertEqual(ids, want, q)
            self.assertGreaterEqual(n, 3)
        st, _, body, raw = self.c.get("/products?q=" + tag + "&limit=100")
        self.assertEqual(st, 200, raw)
        self.assertEqual([p["id"] for p in body["items"]], want)
        self.assertIsNone(body["nextCursor"])
        self.assertEqual(body["items"][0]["name"], "Hat %s five" % tag)
        self.assertIn("variants", body["items"][0])

    def test_without_q_every_active_product_once_newest_first(self):
        made = self.make([("A", True), ("B", False), ("C", True)])
        ids, _ = pages(self.c, "/products", 3)
        self.assertEqual(len(ids), len(set(ids)))
        self.assertNotIn(made[1], ids)
        self.assertLess(ids.index(made[2]), ids.index(made[0]))
        # A product made inactive later leaves the list.
        self.reput(made[2], [{"id": "v", "sku": "S", "price": 1000, "stock": 1000}], active=False, name="C")
        self.assertNotIn(made[2], pages(self.c, "/products", 50)[0])

    def test_limit_out_of_range_is_validation_failed(self):
        # API.md gives no bounds; GET /orders takes 1..100. These are out of any sensible range.
        for bad in ("0", "-1", "abc", "1000000"):
            self.assertProblem(self.c.get("/products?limit=" + bad), 400, "validation_failed")


class CartListTest(StorefrontTest):
    def test_active_first_each_group_newest_first_over_pages(self):
        u = new_user()
        pid = self.product()
        carts = []
        for _ in range(6):
            carts.append(new_cart(self.c, u)["id"])
            time.sleep(0.003)  # distinct creation milliseconds
        c1, c2, c3, c4, c5, c6 = carts
        st, _, _, raw = self.c.post("/cart/%s/merge" % c6, {"sourceCartId": c1}, headers=u)  # c1 merged
        self.assertEqual(st, 200, raw)
        self.added(u, c2, pid)
        self.checked_out(u, c2)  # c2 checked_out
        want = [c6, c5, c4, c3, c2, c1]
        ids, n = pages(self.c, "/cart", 2, headers=u)
        self.assertEqual(ids, want)
        self.assertGreaterEqual(n, 3)
        st, _, body, raw = self.c.get("/cart?limit=100", headers=u)
        self.assertEqual(st, 200, raw)
        self.assertEqual([c["id"] for c in body["items"]], want)
        self.assertEqual([c["status"] for c in body["items"]],
                         ["active"] * 4 + ["checked_out", "merged"])
        self.assertIsNone(body["nextCursor"])

    def test_limit_out_of_range_is_validation_failed(self):
        for bad in ("0", "-1", "abc", "1000000"):
            self.assertProblem(self.c.get("/cart?limit=" + bad, headers=new_user()), 400, "validation_failed")


# =============================================================================================
# cartd token: signs with the server's secret; with none, fails and says where it looked.


class NoSecretServer(Server):
    """A server with no CARTD_AUTH_JWT_SECRET, run in its own directory (on PostgreSQL the data
    directory is ./data of the working directory; on SQLite the database file's directory)."""

    def work_dir(self):
        return self.dir

    def start(self, attempts=3):
        self.env.pop("CARTD_AUTH_JWT_SECRET", None)
        return super().start(attempts)


def token_env(store):
    env = dict(os.environ)
    env.pop("CARTD_AUTH_JWT_SECRET", None)
    env["CARTD_STORE_URL"] = store
    return env


class TokenCliTest(unittest.TestCase):
    def test_without_a_secret_it_fails_and_says_where_it_looked(self):
        data = tempfile.mkdtemp(prefix="cartd-data-")
        elsewhere = tempfile.mkdtemp(prefix="cartd-cwd-")
        # The store URL only names the data directory here (token opens no store), so SQLite's
        # form is used on either test store: the directory is then exact.
        out = subprocess.run([BIN, "token", "--sub", "u1"], env=token_env("sqlite://%s/cartd.db" % data),
                             cwd=elsewhere, capture_output=True, text=True, timeout=60)
        self.assertNotEqual(out.returncode, 0, out.stdout)
        self.assertIn(data, out.stdout + out.stderr)
        self.assertFalse(os.path.exists(os.path.join(data, "jwt_secret")), "it made a secret")
        self.assertEqual(os.listdir(elsewhere), [], "it wrote into the working directory")
        self.assertIsNone(re.search(r"[\w-]{8,}\.[\w-]{8,}\.[\w-]{8,}", out.stdout), "it printed a token")

    def test_it_signs_with_the_secret_the_server_keeps(self):
        srv = NoSecretServer()
        try:
            url = srv.env["CARTD_STORE_URL"]
            if url.startswith("sqlite://"):
                kept, cwd = os.path.join(srv.dir, "jwt_secret"), tempfile.mkdtemp(prefix="cartd-cwd-")
            else:
                kept, cwd = os.path.join(srv.dir, "data", "jwt_secret"), srv.dir
            self.assertTrue(os.path.exists(kept), "the server kept no secret at %s" % kept)
            env = token_env(url)
            out = subprocess.run([BIN, "token", "--sub", "u1"], env=env, cwd=cwd, capture_output=True, text=True,
                                 timeout=60)
            self.assertEqual(out.returncode, 0, out.stderr)
            c = srv.client()
            st, _, _, raw = c.get("/cart", headers=bearer(out.stdout.strip()))
            self.assertEqual(st, 200, raw)
            admin = subprocess.run([BIN, "token", "--sub", "ops", "--role", "admin"], env=env, cwd=cwd,
                                   capture_output=True, text=True, timeout=60)
            self.assertEqual(admin.returncode, 0, admin.stderr)
            st, _, _, raw = c.put("/admin/tax-rates/" + region(), {"rate": "1"}, headers=bearer(admin.stdout.strip()))
            self.assertIn(st, (200, 201), raw)
            # The harness's fixed secret is not the server's here.
            self.assertEqual(c.get("/cart", headers=new_user())[0], 401)
            self.assertEqual(os.path.exists(kept), True)
            c.conn.close()
        finally:
            self.assertEqual(srv.stop(), 0)


# =============================================================================================
# Issue 10: quotes and stock, admins on any cart, PUT/DELETE repeats.


class Issue10Test(StorefrontTest):
    def test_a_quote_does_not_check_stock(self):
        pid = self.product([{"id": "v", "price": 100, "stock": 2}])
        st, _, t, raw = self.quote(pid, 50)
        self.assertEqual(st, 200, raw)
        self.assertEqual(t["subtotal"], 5000)

    def test_an_admin_acts_on_any_cart(self):
        u = new_user()
        pid = self.product()
        cart = new_cart(self.c, u)
        st, _, got, raw = self.c.get("/cart/" + cart["id"], headers=ADMIN)
        self.assertEqual((st, got["id"]), (200, cart["id"]), raw)
        st, _, body, raw = self.c.patch("/cart/" + cart["id"], {"region": "DE"}, headers=ADMIN)
        self.assertEqual((st, body["region"]), (200, "DE"), raw)
        st, _, body, raw = self.add(ADMIN, cart["id"], pid, 2)
        self.assertEqual(st, 201, raw)
        mine = self.get_cart(u, cart["id"])
        self.assertEqual((mine["region"], [i["quantity"] for i in mine["items"]]), ("DE", [2]))

    def test_put_twice_is_201_then_200(self):
        pid, r, sid = "p-" + hexid(12), region(), "sm-" + hexid(8)
        for path, body in (("/admin/products/" + pid, {"name": "X", "currency": "USD",
                                                       "variants": [{"id": "v", "price": 1, "stock": 1}]}),
                           ("/admin/tax-rates/" + r, {"rate": "4"}),
                           ("/admin/shipping-methods/" + sid, {"name": "S", "price": 1})):
            self.assertEqual(self.c.put(path, body, headers=ADMIN)[0], 201, path)
            self.assertEqual(self.c.put(path, body, headers=ADMIN)[0], 200, path)

    def test_delete_twice_is_204_then_404(self):
        # Discounts are left out: DELETE retires one, which stays (admins still GET it).
        u = new_user()
        r, sid = self.tax("4", False), self.shipping()
        cart = self.cart_with(u, self.product())
        item = cart["items"][0]["id"]
        for path, headers in (("/admin/tax-rates/" + r, ADMIN), ("/admin/shipping-methods/" + sid, ADMIN),
                              ("/cart/%s/items/%s" % (cart["id"], item), u), ("/cart/" + cart["id"], u)):
            st, _, _, raw = self.c.delete(path, headers=headers)
            self.assertEqual((st, raw), (204, b""), path)
            self.assertProblem(self.c.delete(path, headers=headers), 404, "not_found")


if __name__ == "__main__":
    unittest.main(verbosity=2)
