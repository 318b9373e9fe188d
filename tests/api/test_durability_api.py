"""Nothing acknowledged is lost: kill -9 under load, restart, count. Many clients, one cart."""
import threading
import unittest

from cartd_api import ADMIN, Server, new_cart, new_user, put_product


class DurabilityTest(unittest.TestCase):
    def test_every_acknowledged_add_survives_kill_9(self):
        server = Server()
        try:
            c = server.client()
            user = new_user()
            variants = [{"id": "v%d" % i, "price": 100 + i, "stock": 1000000} for i in range(8)]
            pid = put_product(c, variants)
            shared = new_cart(c, user)["id"]
            own = [new_cart(c, user)["id"] for _ in range(8)]
            acked = {}  # (cart, variant) -> acknowledged quantity
            lock = threading.Lock()
            stop = threading.Event()

            def writer(n):
                client = server.client()
                for i in range(400):
                    if stop.is_set():
                        return
                    cart = shared if i % 2 else own[n]
                    try:
                        st, _, _, _ = client.post("/cart/%s/items" % cart, {"productId": pid, "variantId": "v%d" % n, "quantity": 1}, headers=user)
                    except Exception:
                        return  # the server died under us: this add was never acknowledged
                    if st == 201:
                        with lock:
                            acked[(cart, n)] = acked.get((cart, n), 0) + 1

            threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
            for t in threads:
                t.start()
            # Kill once a good number of adds were acknowledged, mid-stream.
            while sum(acked.values()) < 600 and any(t.is_alive() for t in threads):
                threading.Event().wait(0.01)
            server.kill9()
            stop.set()
            for t in threads:
                t.join()
            self.assertGreater(sum(acked.values()), 0)
            server.start()
            c = server.client()
            for (cart, n), qty in acked.items():
                st, _, body, raw = c.get("/cart/" + cart, headers=user)
                self.assertEqual(st, 200, raw)
                line = [i for i in body["items"] if i["variantId"] == "v%d" % n]
                self.assertTrue(line, "acknowledged line v%d lost from %s" % (n, cart))
                # At least what was acknowledged; at most one more (an add committed whose
                # answer the kill swallowed).
                self.assertGreaterEqual(line[0]["quantity"], qty)
                self.assertLessEqual(line[0]["quantity"], qty + 1)
        finally:
            if server.proc is not None:
                self.assertEqual(server.stop(), 0)


class IdempotentRetryAfterCrashTest(unittest.TestCase):
    def test_retrying_every_key_after_kill_9_does_each_add_exactly_once(self):
        server = Server()
        try:
            c = server.client()
            user = new_user()
            pid = put_product(c, [{"id": "v%d" % i, "price": 100, "stock": 1000000} for i in range(6)])
            carts = [new_cart(c, user)["id"] for _ in range(6)]
            sent = {n: [] for n in range(6)}  # keys sent, answered or not
            count = [0]
            stop = threading.Event()

            def body(n):
                return {"productId": pid, "variantId": "v%d" % n, "quantity": 1}

            def writer(n):
                client = server.client()
                for i in range(300):
                    if stop.is_set():
                        return
                    key = "k-%d-%d" % (n, i)
                    sent[n].append(key)
                    try:
                        client.post("/cart/%s/items" % carts[n], body(n), headers=dict(user, **{"Idempotency-Key": key}))
                        count[0] += 1
                    except Exception:
                        return

            threads = [threading.Thread(target=writer, args=(n,)) for n in range(6)]
            for t in threads:
                t.start()
            while count[0] < 300 and any(t.is_alive() for t in threads):
                threading.Event().wait(0.01)
            server.kill9()
            stop.set()
            for t in threads:
                t.join()
            server.start()
            c = server.client()
            for n in range(6):
                for key in sent[n]:
                    st, _, _, raw = c.post("/cart/%s/items" % carts[n], body(n), headers=dict(user, **{"Idempotency-Key": key}))
                    self.assertEqual(st, 201, raw)
                st, _, cart, _ = c.get("/cart/" + carts[n], headers=user)
                self.assertEqual(cart["items"][0]["quantity"], len(sent[n]), "cart %d: %d keys" % (n, len(sent[n])))
        finally:
            if server.proc is not None:
                self.assertEqual(server.stop(), 0)


class PricingRulesSurviveKill9Test(unittest.TestCase):
    def test_acknowledged_pricing_writes_survive_kill_9(self):
        server = Server()
        try:
            c = server.client()
            st, _, d, raw = c.post("/admin/discounts", {"code": "KEEP10", "type": "percentage", "value": "10"},
                                   headers=ADMIN)
            self.assertEqual(st, 201, raw)
            st, _, gone, raw = c.post("/admin/discounts", {"type": "fixed", "value": 100, "currency": "USD"},
                                      headers=dict(ADMIN, **{"Idempotency-Key": "durable-1"}))
            self.assertEqual(st, 201, raw)
            self.assertEqual(c.patch("/admin/discounts/" + d["id"], {"value": "15", "priority": 9},
                                     headers=ADMIN)[0], 200)
            self.assertEqual(c.delete("/admin/discounts/" + gone["id"], headers=ADMIN)[0], 204)
            # v1.1: a PUT that creates the rate answers 201.
            self.assertEqual(c.put("/admin/tax-rates/US-NY", {"rate": "8.875"}, headers=ADMIN)[0], 201)
            server.kill9()
            server.start()
            c = server.client()
            st, _, lst, raw = c.get("/pricing/discounts", headers=ADMIN)
            by_id = {x["id"]: x for x in lst["items"]}
            self.assertEqual((by_id[d["id"]]["value"], by_id[d["id"]]["priority"]), ("15", 9), raw)
            self.assertFalse(by_id[gone["id"]]["active"], raw)
            self.assertEqual(c.get("/pricing/tax-rates")[2]["items"][0]["rate"], "8.875")
            # The Idempotency-Key answer survived with its discount: the retry replays it.
            st, hdrs, again, raw = c.post("/admin/discounts", {"type": "fixed", "value": 100, "currency": "USD"},
                                          headers=dict(ADMIN, **{"Idempotency-Key": "durable-1"}))
            self.assertEqual((st, again["id"], hdrs.get("idempotent-replayed")), (201, gone["id"], "true"), raw)
        finally:
            if server.proc is not None:
                self.assertEqual(server.stop(), 0)


class ConcurrencyTest(unittest.TestCase):
    def test_forty_clients_adding_to_one_cart_lose_nothing(self):
        server = Server()
        try:
            c = server.client()
            user = new_user()
            pid = put_product(c, [{"id": "v", "price": 250, "stock": 1000}] + [{"id": "d%d" % i, "price": 10, "stock": 5} for i in range(20)])
            cart = new_cart(c, user)["id"]
            barrier = threading.Barrier(40)
            statuses = []

            def add(variant):
                client = server.client()
                client.get("/health")  # connect first, so the adds start together
                barrier.wait()
                st, _, _, _ = client.post("/cart/%s/items" % cart, {"productId": pid, "variantId": variant, "quantity": 1}, headers=user)
                statuses.append(st)

            threads = [threading.Thread(target=add, args=("v",)) for _ in range(40)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            self.assertEqual(statuses, [201] * 40)
            st, _, body, _ = c.get("/cart/" + cart, headers=user)
            self.assertEqual(body["items"][0]["quantity"], 40)
            self.assertEqual(body["version"], 41)
            self.assertEqual(body["totals"]["total"], 40 * 250)

            barrier = threading.Barrier(20)
            statuses.clear()
            threads = [threading.Thread(target=add, args=("d%d" % i,)) for i in range(20)]
            barrier = threading.Barrier(20)
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            self.assertEqual(statuses, [201] * 20)
            st, _, body, _ = c.get("/cart/" + cart, headers=user)
            self.assertEqual(len(body["items"]), 21)
            self.assertEqual(body["version"], 61)
        finally:
            self.assertEqual(server.stop(), 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
