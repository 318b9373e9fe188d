"""Many clients at once on one cart: no lost update, one version per change, exact stock checks."""
import os
import sys
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import ApiTest, session_headers  # noqa: E402


def setUpModule():
    harness.module_setup(__name__)


def tearDownModule():
    harness.module_teardown(__name__)  # SIGTERM: asserts exit 0 after the load


def parallel(server, n, fn):
    """Run fn(i, client) in n threads released together; returns the results in order."""
    barrier = threading.Barrier(n)
    results = [None] * n
    errors = []

    def run(i):
        c = server.client()
        try:
            barrier.wait(timeout=30)
            results[i] = fn(i, c)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append((i, repr(e)))
        finally:
            c.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    if errors:
        raise AssertionError("client threads failed: %r" % errors[:5])
    return results


class OneCartTest(ApiTest):
    def setUp(self):
        self.sub, self.u = self.user()
        self.cid = self.cart(self.u)["id"]

    def post_item(self, c, p, v, q=1, headers=None):
        return c.post("/cart/%s/items" % self.cid, {"productId": p, "variantId": v, "quantity": q},
                      headers=headers or self.u)

    def test_40_parallel_adds_of_one_variant(self):
        p = self.product([{"id": "v", "sku": "S", "price": 250, "stock": 1000}])["id"]
        results = parallel(self.server, 40, lambda i, c: self.post_item(c, p, "v"))
        statuses = [r[0] for r in results]
        self.assertEqual(statuses, [201] * 40, "every add must succeed: %r" % statuses)
        versions = sorted(r[2]["version"] for r in results)
        self.assertEqual(versions, list(range(2, 42)), "each add is its own version")
        quantities = sorted(r[2]["items"][0]["quantity"] for r in results)
        self.assertEqual(quantities, list(range(1, 41)), "each answer shows its own add applied once")
        cart = self.get_cart(self.cid, self.u)
        self.assertCart(cart, version=41, user_id=self.sub, lines=[(p, "v", 40, 250)])

    def test_20_parallel_adds_of_distinct_variants(self):
        p = self.product([{"id": "v%02d" % i, "sku": "S%d" % i, "price": 100 + i, "stock": 10} for i in range(20)])["id"]
        results = parallel(self.server, 20, lambda i, c: self.post_item(c, p, "v%02d" % i, 1 + i % 3))
        self.assertEqual([r[0] for r in results], [201] * 20)
        cart = self.get_cart(self.cid, self.u)
        self.assertCart(cart, version=21, user_id=self.sub,
                        lines=[(p, "v%02d" % i, 1 + i % 3, 100 + i) for i in range(20)])

    def test_parallel_adds_never_exceed_stock(self):
        p = self.product([{"id": "v", "sku": "S", "price": 100, "stock": 10}])["id"]
        results = parallel(self.server, 20, lambda i, c: self.post_item(c, p, "v"))
        statuses = sorted(r[0] for r in results)
        self.assertEqual(statuses, [201] * 10 + [409] * 10, "exactly the stock may be added")
        for r in results:
            if r[0] == 409:
                self.assertProblem(r, 409, "insufficient_stock")
        cart = self.get_cart(self.cid, self.u)
        self.assertEqual((cart["items"][0]["quantity"], cart["version"]), (10, 11))

    def test_parallel_if_match_lets_exactly_one_win(self):
        def patch(i, c):
            h = dict(self.u, **{"If-Match": '"1"'})
            return c.patch("/cart/" + self.cid, {"metadata": {"writer": i}}, headers=h)
        results = parallel(self.server, 12, patch)
        statuses = [r[0] for r in results]
        self.assertEqual(statuses.count(200), 1, "exactly one conditional write wins: %r" % statuses)
        self.assertEqual(statuses.count(412), 11, statuses)
        winner = [i for i, r in enumerate(results) if r[0] == 200][0]
        cart = self.get_cart(self.cid, self.u)
        self.assertEqual((cart["version"], cart["metadata"]), (2, {"writer": winner}))

    def test_parallel_adds_to_several_lines(self):
        p = self.product([{"id": "v%d" % i, "sku": "S%d" % i, "price": 10 * (i + 1), "stock": 1000}
                          for i in range(4)])["id"]

        def work(i, c):
            out = []
            for j in range(5):
                out.append(self.post_item(c, p, "v%d" % (i % 4), 1)[0])
            return out
        results = parallel(self.server, 8, work)
        self.assertTrue(all(s == 201 for r in results for s in r), results)
        cart = self.get_cart(self.cid, self.u)
        self.assertCart(cart, version=41, user_id=self.sub,
                        lines=[(p, "v%d" % i, 10, 10 * (i + 1)) for i in range(4)])


class ManyCartsTest(ApiTest):
    def test_parallel_writers_on_their_own_carts(self):
        p = self.product([{"id": "v%d" % i, "sku": "S%d" % i, "price": 7 * (i + 1), "stock": 10 ** 6}
                          for i in range(10)])["id"]
        owners = [self.user() for _ in range(12)]
        carts = [self.cart(h)["id"] for _, h in owners]

        def work(i, c):
            h = owners[i][1]
            for j in range(30):
                r = c.post("/cart/%s/items" % carts[i], {"productId": p, "variantId": "v%d" % (j % 10),
                                                          "quantity": 1}, headers=h)
                if r[0] != 201:
                    return r
            return None
        failures = [r for r in parallel(self.server, 12, work) if r is not None]
        self.assertEqual(failures, [], "adds failed")
        for (sub, h), cid in zip(owners, carts):
            self.assertCart(self.get_cart(cid, h), version=31, user_id=sub,
                            lines=[(p, "v%d" % k, 3, 7 * (k + 1)) for k in range(10)])

    def test_one_source_merged_twice_in_parallel(self):
        p = self.product([{"id": "v", "sku": "S", "price": 100, "stock": 1000}])["id"]
        sub, u = self.user()
        token, _ = self.session()
        g = session_headers(token)
        both = dict(u, **g)
        source = self.cart(g)["id"]
        self.add(source, p, "v", 5, g)
        targets = [self.cart(u)["id"] for _ in range(6)]
        results = parallel(self.server, 6, lambda i, c: c.post("/cart/%s/merge" % targets[i],
                                                               {"sourceCartId": source}, headers=both))
        statuses = [r[0] for r in results]
        self.assertEqual(statuses.count(200), 1, "a source may be merged once: %r" % statuses)
        for r in results:
            if r[0] != 200:
                self.assertProblem(r, 409, "cart_not_active")
        total = sum(sum(i["quantity"] for i in self.get_cart(t, u)["items"]) for t in targets)
        self.assertEqual(total, 5, "the source's lines were copied more than once")
        self.assertEqual(self.get_cart(source, g)["status"], "merged")

    def test_parallel_cart_creation_for_one_user(self):
        sub, u = self.user()
        results = parallel(self.server, 20, lambda i, c: c.post("/cart", {}, headers=u))
        self.assertEqual([r[0] for r in results], [201] * 20)
        ids = {r[2]["id"] for r in results}
        self.assertEqual(len(ids), 20)
        listed = {c["id"] for c in self.c.get("/cart", headers=u)[2]["items"]}
        self.assertEqual(listed, ids)


if __name__ == "__main__":
    unittest.main(verbosity=2)
