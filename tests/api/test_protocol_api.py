"""What every route shares: errors as problem+json, request ids, limits, JWT checks, 404/405."""
import json
import time
import unittest
import uuid

from cartd_api import ADMIN, SECRET, ServerTest, bearer, jwt, new_cart, new_user, put_product

# Every route with a path that exists, for the checks that apply to all of them.
CART = "00000000-0000-7000-8000-000000000000"
BODY_ROUTES = [
    ("PUT", "/admin/products/p1"), ("POST", "/cart"), ("PATCH", "/cart/" + CART),
    ("POST", "/cart/%s/items" % CART), ("PATCH", "/cart/%s/items/i1" % CART),
    ("POST", "/cart/%s/merge" % CART), ("POST", "/session"), ("PATCH", "/session/s1"),
    ("PUT", "/admin/tax-rates/US-CA"), ("PUT", "/admin/shipping-methods/std"),
    ("POST", "/admin/discounts"), ("PATCH", "/admin/discounts/d1"), ("POST", "/pricing/calculate"),
]


class ErrorsTest(ServerTest):
    def test_request_id_is_echoed_or_generated(self):
        st, hdrs, _, _ = self.c.get("/health", headers={"X-Request-Id": "trace-123"})
        self.assertEqual(hdrs["x-request-id"], "trace-123")
        st, hdrs, _, _ = self.c.get("/health")
        self.assertEqual(len(hdrs["x-request-id"]), 36)

    def test_unknown_route_and_wrong_method(self):
        self.assertProblem(self.c.get("/nope"), 404, "not_found")
        resp = self.c.request("PUT", "/cart")
        self.assertProblem(resp, 405, "method_not_allowed")
        self.assertIn("POST", resp[1]["allow"])
        self.assertProblem(self.c.delete("/health"), 405, "method_not_allowed")

    def test_malformed_json_on_every_body_route(self):
        headers = dict(ADMIN)
        for method, path in BODY_ROUTES:
            for raw in (b"{", b'{"a":"\xff"}', b"[1,", b"nul"):
                resp = self.c.request(method, path, raw=raw, headers=headers)
                self.assertProblem(resp, 400, "invalid_json")

    def test_json_that_is_not_an_object(self):
        for method, path in BODY_ROUTES:
            prob = self.assertProblem(self.c.request(method, path, raw=b"[1]", headers=ADMIN), 400, "validation_failed")
            self.assertTrue(prob["errors"])

    def test_oversize_bodies(self):
        big = json.dumps({"pad": "x" * (65 * 1024)}).encode()
        for method, path in BODY_ROUTES:
            self.assertProblem(self.c.request(method, path, raw=big, headers=ADMIN), 413, "payload_too_large")

    def test_wrong_content_type(self):
        for method, path in BODY_ROUTES:
            resp = self.c.request(method, path, raw=b"{}", headers=dict(ADMIN, **{"Content-Type": "text/plain"}))
            self.assertProblem(resp, 415, "unsupported_media_type")

    def test_idempotency_key_too_long(self):
        resp = self.c.post("/cart", {}, headers=dict(new_user(), **{"Idempotency-Key": "k" * 256}))
        self.assertProblem(resp, 400, "validation_failed")

    def test_unknown_fields_are_ignored_and_null_is_omitted(self):
        user = new_user()
        st, _, cart, raw = self.c.post("/cart", {"currency": "USD", "region": None, "extra": [1, 2]}, headers=user)
        self.assertEqual(st, 201, raw)
        self.assertIsNone(cart["region"])


class AuthTest(ServerTest):
    def setUp(self):
        self.cart_owner = "u-" + uuid.uuid4().hex[:8]
        self.cart = new_cart(self.c, bearer(jwt(self.cart_owner)))

    def attempt(self, token):
        return self.c.get("/cart/" + self.cart["id"], headers={"Authorization": "Bearer " + token})

    def test_valid_token_and_skew(self):
        st, _, _, _ = self.attempt(jwt(self.cart_owner))
        self.assertEqual(st, 200)
        st, _, _, _ = self.attempt(jwt(self.cart_owner, exp_delta=-30))  # within 60 s of skew
        self.assertEqual(st, 200)

    def test_attacks_are_refused(self):
        header, payload, sig = jwt(self.cart_owner).split(".")
        tampered_payload = jwt("someone-else").split(".")[1]
        attacks = {
            "alg none": jwt(self.cart_owner, alg="none"),
            "alg HS512": jwt(self.cart_owner, alg="HS512"),
            "alg RS256": jwt(self.cart_owner, alg="RS256"),
            "bad signature": jwt(self.cart_owner, secret="another-secret-entirely"),
            "swapped payload": ".".join([header, tampered_payload, sig]),
            "expired": jwt(self.cart_owner, exp_delta=-120),
            "not yet valid": jwt(self.cart_owner, nbf=int(time.time()) + 120),
            "no sub": jwt(None),
            "no exp": jwt(self.cart_owner, claims={"exp": None}),
            "garbage": "not.a.jwt",
            "two parts": "abc.def",
        }
        for name, token in attacks.items():
            self.assertProblem(self.attempt(token), 401, "unauthorized")
        self.assertProblem(self.c.get("/cart/" + self.cart["id"], headers={"Authorization": "Basic abc"}), 401, "unauthorized")

    def test_admin_role_comes_only_from_a_signed_token(self):
        forged = jwt("mallory", roles=["admin"], secret="wrong-secret-wrong-secret")
        self.assertProblem(self.c.get("/cart/" + self.cart["id"], headers=bearer(forged)), 401, "unauthorized")
        self.assertProblem(self.c.get("/cart/" + self.cart["id"], headers=bearer(jwt("mallory", roles=["user"]))), 404, "not_found")


class IdempotencyTest(ServerTest):
    def setUp(self):
        self.user = new_user()
        self.pid = put_product(self.c, [{"id": "v", "price": 700, "stock": 100000}])
        self.cart = new_cart(self.c, self.user)

    def add(self, key, qty=1, headers=None):
        h = dict(headers or self.user, **{"Idempotency-Key": key})
        return self.c.post("/cart/%s/items" % self.cart["id"], {"productId": self.pid, "variantId": "v", "quantity": qty}, headers=h)

    def quantity(self):
        _, _, cart, _ = self.c.get("/cart/" + self.cart["id"], headers=self.user)
        return sum(i["quantity"] for i in cart["items"])

    def test_replay_returns_the_first_answer_and_does_the_work_once(self):
        st1, h1, b1, raw1 = self.add("k-1", 2)
        st2, h2, b2, raw2 = self.add("k-1", 2)
        self.assertEqual((st1, st2), (201, 201))
        self.assertEqual(raw1, raw2)
        self.assertEqual(h2.get("idempotent-replayed"), "true")
        self.assertEqual(h1["etag"], h2["etag"])
        self.assertEqual(self.quantity(), 2)

    def test_same_key_other_body_is_refused(self):
        self.add("k-2", 1)
        self.assertProblem(self.add("k-2", 5), 422, "idempotency_key_reused")
        self.assertEqual(self.quantity(), 1)

    def test_keys_are_scoped_to_the_caller(self):
        self.add("k-3", 1)
        other = new_user()
        cart = new_cart(self.c, other)
        st, hdrs, _, _ = self.c.post("/cart/%s/items" % cart["id"], {"productId": self.pid, "variantId": "v", "quantity": 1}, headers=dict(other, **{"Idempotency-Key": "k-3"}))
        self.assertEqual(st, 201)
        self.assertNotIn("idempotent-replayed", hdrs)

    def test_errors_are_replayed_too(self):
        st, _, _, raw1 = self.add("k-4", 100001)
        self.assertEqual(st, 400)
        st, _, _, _ = self.c.post("/cart/%s/items" % self.cart["id"], {"productId": self.pid, "variantId": "nope", "quantity": 1}, headers=dict(self.user, **{"Idempotency-Key": "k-5"}))
        self.assertEqual(st, 422)
        st2, _, _, _ = self.c.post("/cart/%s/items" % self.cart["id"], {"productId": self.pid, "variantId": "nope", "quantity": 1}, headers=dict(self.user, **{"Idempotency-Key": "k-5"}))
        self.assertEqual(st2, 422)

    def test_parallel_retries_never_add_twice(self):
        import threading
        results = []

        def go():
            c = self.server.client()
            st, hdrs, body, raw = c.post("/cart/%s/items" % self.cart["id"], {"productId": self.pid, "variantId": "v", "quantity": 3},
                                         headers=dict(self.user, **{"Idempotency-Key": "k-par"}))
            results.append((st, body["code"] if st == 409 else None))

        threads = [threading.Thread(target=go) for _ in range(12)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for st, code in results:
            self.assertIn(st, (201, 409))
            if st == 409:
                self.assertEqual(code, "idempotency_key_in_use")
        self.assertEqual(sum(1 for st, _ in results if st == 201), len(results) - sum(1 for st, _ in results if st == 409))
        self.assertEqual(self.quantity(), 3)

    def test_create_cart_and_session_honour_keys(self):
        h = dict(self.user, **{"Idempotency-Key": "k-cart"})
        st1, _, c1, _ = self.c.post("/cart", {}, headers=h)
        st2, _, c2, _ = self.c.post("/cart", {}, headers=h)
        self.assertEqual((st1, st2, c1["id"]), (201, 201, c2["id"]))
        st1, _, s1, _ = self.c.post("/session", {}, headers={"Idempotency-Key": "k-sess-" + uuid.uuid4().hex})
        self.assertEqual(st1, 201)


class IdempotencyLeakTest(unittest.TestCase):
    """A request with an Idempotency-Key must end when it is answered (it once stayed alive)."""

    def test_keyed_requests_leave_nothing_in_flight_and_sigterm_is_prompt(self):
        from cartd_api import Server
        server = Server(CARTD_HTTP_REQUEST_TIMEOUT="20s")
        try:
            c = server.client()
            user = new_user()
            pid = put_product(c, [{"id": "v", "price": 700, "stock": 1000}])
            cart = new_cart(c, user)

            def in_flight():
                st, _, body, raw = c.get("/health/detailed")
                self.assertEqual(st, 200, raw)
                return body["components"]["http"]["inFlight"]

            before = in_flight()
            for i in range(20):
                st, _, _, raw = c.post("/cart/%s/items" % cart["id"],
                                       {"productId": pid, "variantId": "v", "quantity": 1},
                                       headers=dict(user, **{"Idempotency-Key": "leak-%d" % i}))
                self.assertEqual(st, 201, raw)
                st, _, _, raw = c.post("/cart", {}, headers=dict(user, **{"Idempotency-Key": "leak-c-%d" % i}))
                self.assertEqual(st, 201, raw)
            # The exchanges end after their answers are written; give the last ones a moment
            # (a loaded machine can take seconds; a leak never ends).
            deadline = time.time() + 20
            while in_flight() > before and time.time() < deadline:
                time.sleep(0.05)
            self.assertEqual(in_flight(), before)
        finally:
            # A leaked exchange made SIGTERM wait the whole request timeout: 20 s here, past
            # the 15 s that stop() allows.
            code = server.stop()
        self.assertEqual(code, 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
