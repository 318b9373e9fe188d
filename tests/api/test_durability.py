"""Durability: whatever cartd acknowledged survives kill -9 and a restart on the same data dir."""
import os
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import ApiTest, bearer, jwt, session_headers  # noqa: E402


def setUpModule():
    harness.module_setup(__name__)


def tearDownModule():
    harness.module_teardown(__name__)


THREADS = 8
SHARED_PER_THREAD = 12          # 8 x 12 = 96 lines on the shared cart (max_lines is 100)
OWN_PER_THREAD = 100            # one line per variant on each thread's own cart
VARIANTS = 100


class DurabilityTest(ApiTest):
    def setUp(self):
        if not self.server.running():
            self.server.start()
        self.c = self.server.client()

    def tearDown(self):
        self.c.close()

    def restart(self, kill=True):
        self.c.close()
        self.server.restart(kill=kill)
        self.c = self.server.client()

    def test_every_acknowledged_add_survives_kill_9(self):
        variants = [{"id": "v%02d" % i, "sku": "S%02d" % i, "price": 100 + i, "stock": 10 ** 9}
                    for i in range(VARIANTS)]
        p = self.product(variants)["id"]
        shared_sub, shared_h = self.user("shared")
        shared = self.cart(shared_h)["id"]
        users = [self.user("writer") for _ in range(THREADS)]
        own = [self.cart(h)["id"] for _, h in users]

        lock = threading.Lock()
        acked = {}       # (cart, variant) -> quantity acknowledged with 201
        attempted = {}   # (cart, variant) -> quantity sent
        errors = []

        def writer(n):
            c = self.server.client(retry=False)  # never resend: a resend could double an add
            plan = []
            shared_vs = ["v%02d" % (n * SHARED_PER_THREAD + j) for j in range(SHARED_PER_THREAD)]
            own_vs = ["v%02d" % ((n * 7 + j) % VARIANTS) for j in range(OWN_PER_THREAD)]
            for j in range(OWN_PER_THREAD):
                plan.append((own[n], users[n][1], own_vs[j], 1 + (j + n) % 5))
                if j < SHARED_PER_THREAD:
                    plan.append((shared, shared_h, shared_vs[j], 1 + (j + n) % 3))
            try:
                for cart, h, v, q in plan:
                    with lock:
                        attempted[(cart, v)] = q
                    try:
                        resp = c.post("/cart/%s/items" % cart, {"productId": p, "variantId": v, "quantity": q},
                                      headers=h)
                    except Exception:
                        return  # the server died under us: this add was not acknowledged
                    if resp[0] == 201:
                        with lock:
                            acked[(cart, v)] = q
                    else:
                        with lock:
                            errors.append((cart, v, resp[0], resp[3][:300]))
                        return
            finally:
                c.close()

        threads = [threading.Thread(target=writer, args=(n,)) for n in range(THREADS)]
        for t in threads:
            t.start()
        total = THREADS * (OWN_PER_THREAD + SHARED_PER_THREAD)
        deadline = time.time() + 120
        while len(acked) < total // 2 and any(t.is_alive() for t in threads) and time.time() < deadline:
            time.sleep(0.005)
        self.server.kill9()
        self.c.close()
        for t in threads:
            t.join(timeout=60)
        self.assertEqual(errors, [], "adds answered other than 201 before the kill")
        self.assertGreater(len(acked), 0, "nothing was acknowledged before the kill")
        sys.stderr.write("\n  %d of %d adds acknowledged before kill -9\n" % (len(acked), total))

        self.server.start()
        self.c = self.server.client()
        carts = {shared: self.get_cart(shared, shared_h)}
        for (_, h), cid in zip(users, own):
            carts[cid] = self.get_cart(cid, h)
        unacked_present = 0
        for cid, cart in carts.items():
            lines = {i["variantId"]: i for i in cart["items"]}
            for (c_id, v), q in acked.items():
                if c_id != cid:
                    continue
                self.assertIn(v, lines, "acknowledged add %s lost from cart %s" % (v, cid))
                self.assertEqual(lines[v]["quantity"], q, "acknowledged quantity of %s in %s" % (v, cid))
                self.assertEqual(lines[v]["lineTotal"], q * lines[v]["unitPrice"])
            for v, item in lines.items():
                if (cid, v) in acked:
                    continue
                # Committed but its answer lost with the kill: allowed, exactly as sent.
                self.assertIn((cid, v), attempted, "a line nobody added: %s in %s" % (v, cid))
                self.assertEqual(item["quantity"], attempted[(cid, v)])
                unacked_present += 1
            self.assertEqual(cart["version"], 1 + len(cart["items"]),
                             "version of %s is not 1 + one change per line" % cid)
            self.assertEqual(cart["totals"]["total"], sum(i["lineTotal"] for i in cart["items"]))
        self.assertLessEqual(unacked_present, THREADS, "more unacknowledged lines than requests in flight")

    def test_cart_state_survives_kill_9(self):
        p = self.product([{"id": "a", "sku": "A", "price": 1999, "stock": 100},
                          {"id": "b", "sku": "B", "price": 450, "stock": 100}])["id"]
        sub, u = self.user()
        cart = self.cart(u, {"region": "US-CA"})["id"]
        self.add(cart, p, "a", 2, u)
        body = self.add(cart, p, "b", 3, u)[2]
        item_b = [i for i in body["items"] if i["variantId"] == "b"][0]["id"]
        self.c.patch("/cart/%s/items/%s" % (cart, item_b), {"quantity": 4}, headers=u)
        self.c.patch("/cart/" + cart, {"metadata": {"note": "gift"}, "shippingMethod": "express"}, headers=u)
        gone = self.cart(u)["id"]
        self.assertStatus(self.c.delete("/cart/" + gone, headers=u), 204)
        token, sid = self.session()
        g = session_headers(token)
        guest = self.cart(g)["id"]
        self.add(guest, p, "a", 1, g)
        target = self.cart(u)["id"]
        self.assertStatus(self.c.post("/cart/%s/merge" % target, {"sourceCartId": guest}, headers=dict(u, **g)), 200)
        before = {cid: self.get_cart(cid, dict(u, **g)) for cid in (cart, guest, target)}
        list_before = self.c.get("/cart", headers=u)[2]

        self.restart(kill=True)

        for cid, want in before.items():
            self.assertEqual(self.get_cart(cid, dict(u, **g)), want, "cart %s differs after kill -9" % cid)
        self.assertProblem(self.c.get("/cart/" + gone, headers=u), 404, "not_found")
        self.assertEqual(self.c.get("/cart", headers=u)[2], list_before)
        self.assertEqual(before[guest]["status"], "merged")
        self.assertStatus(self.c.get("/session/" + sid, headers=g), 200, "the session token survives a restart")

    def test_versions_continue_after_restart(self):
        p = self.product()["id"]
        _, u = self.user()
        cart = self.cart(u)["id"]
        self.add(cart, p, "v-red", 1, u)
        self.restart(kill=True)
        resp = self.add(cart, p, "v-red", 1, u)
        self.assertStatus(resp, 201)
        self.assertEqual(resp[2]["version"], 3)
        self.assertEqual(resp[2]["items"][0]["quantity"], 2)

    def test_idempotency_key_survives_kill_9(self):
        p = self.product()["id"]
        _, u = self.user()
        cart = self.cart(u)["id"]
        h = dict(u, **{"Idempotency-Key": "durable-key-1"})
        first = self.add(cart, p, "v-red", 2, h)
        self.assertStatus(first, 201)
        self.restart(kill=True)
        again = self.add(cart, p, "v-red", 2, h)
        self.assertStatus(again, 201, "replay after restart")
        self.assertEqual(again[2], first[2])
        self.assertEqual(self.get_cart(cart, u)["items"][0]["quantity"], 2, "the replay added again")

    def test_products_survive_kill_9(self):
        prod = self.product(name="Durable Mug")
        self.restart(kill=True)
        resp = self.c.get("/products/" + prod["id"])
        self.assertStatus(resp, 200)
        self.assertEqual(resp[2], prod)

    def test_sigterm_exits_0_and_keeps_everything(self):
        p = self.product()["id"]
        _, u = self.user()
        cart = self.cart(u)["id"]
        body = self.add(cart, p, "v-red", 3, u)[2]
        self.restart(kill=False)  # stop() asserts exit code 0 within 15 s
        self.assertEqual(self.get_cart(cart, u), body)

    def test_restart_keeps_the_jwt_secret_configuration(self):
        _, u = self.user()
        cart = self.cart(u)["id"]
        self.restart(kill=True)
        self.get_cart(cart, u)
        self.assertProblem(self.c.get("/cart/" + cart, headers=bearer(jwt("x", secret="other-secret-123456"))),
                           401, "unauthorized")


if __name__ == "__main__":
    unittest.main(verbosity=2)
