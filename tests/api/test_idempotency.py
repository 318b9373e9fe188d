"""Idempotency-Key on POST: replay, reuse with another body, scope per caller, in-flight claims."""
import os
import sys
import threading
import unittest
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import ApiTest, session_headers  # noqa: E402


def setUpModule():
    harness.module_setup(__name__)


def tearDownModule():
    harness.module_teardown(__name__)


def key():
    return "key-" + uuid.uuid4().hex


class IdempotencyTestBase(ApiTest):
    def setUp(self):
        self.sub, self.u = self.user()
        self.p = self.product([{"id": "v", "sku": "S", "price": 1234, "stock": 100},
                               {"id": "w", "sku": "W", "price": 10, "stock": 100},
                               {"id": "few", "sku": "F", "price": 10, "stock": 2}])["id"]
        self.cid = self.cart(self.u)["id"]

    def add_k(self, k, variant="v", qty=1, headers=None):
        h = dict(headers or self.u)
        h["Idempotency-Key"] = k
        return self.c.post("/cart/%s/items" % self.cid, {"productId": self.p, "variantId": variant, "quantity": qty},
                           headers=h)

    def quantity(self, variant="v"):
        cart = self.get_cart(self.cid, self.u)
        return sum(i["quantity"] for i in cart["items"] if i["variantId"] == variant), cart["version"]


class ReplayTest(IdempotencyTestBase):
    def test_replay_returns_the_same_status_and_body(self):
        k = key()
        first = self.add_k(k, qty=2)
        self.assertStatus(first, 201)
        second = self.add_k(k, qty=2)
        self.assertStatus(second, 201, "replay")
        self.assertEqual(second[2], first[2], "the replay's body differs from the first answer")

    def test_replay_does_the_work_once(self):
        k = key()
        for _ in range(3):
            self.assertStatus(self.add_k(k, qty=2), 201)
        self.assertEqual(self.quantity(), (2, 2), "a replayed add was applied again")

    def test_replay_after_later_changes_returns_the_first_answer(self):
        k = key()
        first = self.add_k(k, qty=1)
        self.assertStatus(self.add(self.cid, self.p, "w", 1, self.u), 201)
        again = self.add_k(k, qty=1)
        self.assertEqual(again[2], first[2], "replay must return the stored answer, not the current cart")
        self.assertEqual(self.quantity(), (1, 3))

    def test_a_new_key_does_the_work_again(self):
        self.add_k(key(), qty=1)
        self.add_k(key(), qty=1)
        self.assertEqual(self.quantity(), (2, 3))

    def test_same_key_different_body_is_422(self):
        k = key()
        self.assertStatus(self.add_k(k, qty=1), 201)
        self.assertProblem(self.add_k(k, qty=5), 422, "idempotency_key_reused")
        self.assertProblem(self.add_k(k, variant="w", qty=1), 422, "idempotency_key_reused")
        self.assertEqual(self.quantity(), (1, 2))

    def test_stored_4xx_is_replayed(self):
        k = key()
        first = self.add_k(k, variant="few", qty=3)
        self.assertProblem(first, 409, "insufficient_stock")
        harness.put_product(self.c, product_id=self.p, variants=[
            {"id": "v", "sku": "S", "price": 1234, "stock": 100},
            {"id": "w", "sku": "W", "price": 10, "stock": 100},
            {"id": "few", "sku": "F", "price": 10, "stock": 50}])
        resp = self.add_k(k, variant="few", qty=3)
        self.assertProblem(resp, 409, "insufficient_stock", "a stored 4xx must be replayed", replay=True)
        self.assertEqual(resp[2], first[2], "the replayed 4xx body differs from the first answer")
        self.assertStatus(self.add_k(key(), variant="few", qty=3), 201, "a new key acts again")

    def test_key_of_255_characters_is_accepted(self):
        k = "k" * 255
        k = k[:-32] + uuid.uuid4().hex
        self.assertStatus(self.add_k(k), 201)
        self.assertStatus(self.add_k(k), 201)
        self.assertEqual(self.quantity(), (1, 2))

    def test_key_over_255_characters_is_400(self):
        prob = self.assertProblem(self.add_k("k" * 256), 400, "validation_failed")
        self.assertTrue(prob["errors"])
        self.assertEqual(self.quantity(), (0, 1))

    def test_empty_key_is_400(self):
        h = dict(self.u)
        h["Idempotency-Key"] = ""
        resp = self.c.post("/cart/%s/items" % self.cid, {"productId": self.p, "variantId": "v", "quantity": 1},
                           headers=h)
        # An empty header is either ignored (no key) or refused; it must never replay.
        self.assertIn(resp[0], (201, 400), resp[3])

    def test_key_on_post_cart_replays_the_same_cart(self):
        k = key()
        h = dict(self.u, **{"Idempotency-Key": k})
        a = self.c.post("/cart", {}, headers=h)
        b = self.c.post("/cart", {}, headers=h)
        self.assertStatus(a, 201)
        self.assertStatus(b, 201)
        self.assertEqual(a[2]["id"], b[2]["id"], "a replayed POST /cart made a second cart")
        ids = [c["id"] for c in self.c.get("/cart", headers=self.u)[2]["items"]]
        self.assertEqual(ids.count(a[2]["id"]), 1)
        self.assertEqual(len(ids), 2)

    def test_key_on_post_session_replays_the_same_session(self):
        token, _ = self.session()  # a guest: keys are scoped to the session
        h = dict(session_headers(token), **{"Idempotency-Key": key()})
        a = self.c.post("/session", {"deviceInfo": {"a": 1}}, headers=h)
        b = self.c.post("/session", {"deviceInfo": {"a": 1}}, headers=h)
        self.assertStatus(a, 201)
        self.assertStatus(b, 201)
        self.assertEqual(a[2], b[2])

    def test_key_on_merge_replays(self):
        other = self.cart(self.u)["id"]
        self.add(other, self.p, "w", 2, self.u)
        h = dict(self.u, **{"Idempotency-Key": key()})
        a = self.c.post("/cart/%s/merge" % self.cid, {"sourceCartId": other}, headers=h)
        b = self.c.post("/cart/%s/merge" % self.cid, {"sourceCartId": other}, headers=h)
        self.assertStatus(a, 200)
        self.assertStatus(b, 200, "a replayed merge must answer the stored 200, not 409 cart_not_active")
        self.assertEqual(a[2], b[2])


class ScopeTest(IdempotencyTestBase):
    def test_keys_are_per_user(self):
        k = key()
        alice_sub, alice = self.user()
        bob_sub, bob = self.user()
        a = self.c.post("/cart", {}, headers=dict(alice, **{"Idempotency-Key": k}))
        b = self.c.post("/cart", {}, headers=dict(bob, **{"Idempotency-Key": k}))
        self.assertStatus(a, 201)
        self.assertStatus(b, 201, "another user's key must not be replayed (nor refused)")
        self.assertEqual(b[2]["userId"], bob_sub, "bob got alice's replayed cart")
        self.assertNotEqual(a[2]["id"], b[2]["id"])

    def test_keys_are_per_session(self):
        k = key()
        t1, s1 = self.session()
        t2, s2 = self.session()
        a = self.c.post("/cart", {}, headers=dict(session_headers(t1), **{"Idempotency-Key": k}))
        b = self.c.post("/cart", {}, headers=dict(session_headers(t2), **{"Idempotency-Key": k}))
        self.assertEqual(a[2]["sessionId"], s1)
        self.assertEqual(b[2]["sessionId"], s2, "another session's key must not be replayed")

    def test_another_user_with_the_same_key_on_a_foreign_cart_gets_404(self):
        k = key()
        self.assertStatus(self.add_k(k), 201)
        _, bob = self.user()
        self.assertProblem(self.add_k(k, headers=bob), 404, "not_found",
                           "bob must not receive alice's stored answer")
        self.assertEqual(self.quantity(), (1, 2))


class InFlightTest(IdempotencyTestBase):
    def test_parallel_identical_requests_add_once(self):
        k = key()
        n = 16
        barrier = threading.Barrier(n)
        results = [None] * n

        def run(i):
            c = self.server.client()
            try:
                barrier.wait(timeout=10)
                h = dict(self.u, **{"Idempotency-Key": k})
                results[i] = c.post("/cart/%s/items" % self.cid,
                                    {"productId": self.p, "variantId": "v", "quantity": 3}, headers=h)
            finally:
                c.close()

        threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        statuses = [r[0] for r in results]
        self.assertTrue(set(statuses) <= {201, 409}, "unexpected statuses %r" % statuses)
        self.assertIn(201, statuses)
        bodies = [r[2] for r in results if r[0] == 201]
        for b in bodies[1:]:
            self.assertEqual(b, bodies[0], "two different 201 answers for one key")
        for r in results:
            if r[0] == 409:
                self.assertProblem(r, 409, "idempotency_key_in_use")
        print("\n  parallel identical requests: %d x 201, %d x 409" % (statuses.count(201), statuses.count(409)),
              file=sys.stderr)
        self.assertEqual(self.quantity(), (3, 2), "parallel requests with one key added more than once")


if __name__ == "__main__":
    unittest.main(verbosity=2)
