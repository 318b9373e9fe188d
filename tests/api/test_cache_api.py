"""Redis as cache-aside for catalog reads and session lookups, shared by two nodes on one
PostgreSQL: a write on one node is seen by the other at once, and Redis going away changes
nothing but speed."""
import contextlib
import subprocess
import time
import unittest

from cartd_api import ADMIN, Server, new_session
from private_servers import PrivatePostgres, PrivateRedis


@contextlib.contextmanager
def two_nodes(test):
    """Two cartd nodes on one private PostgreSQL and one private Redis: (a, b, redis)."""
    pg, redis = PrivatePostgres(), PrivateRedis()
    nodes = []
    try:
        env = {"CARTD_STORE_URL": pg.url(), "CARTD_REDIS_URL": redis.url()}
        nodes = [Server(**env), Server(**env)]
        yield nodes[0].client(), nodes[1].client(), redis
    finally:
        for n in nodes:
            test.assertEqual(n.stop(), 0)
        redis.destroy()
        pg.destroy()


class CacheTest(unittest.TestCase):
    def test_two_nodes_never_serve_a_value_past_its_invalidation(self):
        with two_nodes(self) as (a, b, redis):
            body = {"name": "Mug", "currency": "USD", "variants": [{"id": "v", "price": 100, "stock": 5}]}
            self.assertEqual(a.put("/admin/products/mug", body, headers=ADMIN)[0], 201)
            self.assertEqual(b.get("/products/mug")[2]["variants"][0]["price"], 100)  # cached now
            self.assertTrue(redis.cli("GET", "cartd:product:mug").strip())
            for price in (150, 175, 200):
                body["variants"][0]["price"] = price
                self.assertEqual(a.put("/admin/products/mug", body, headers=ADMIN)[0], 200)
                self.assertEqual(b.get("/products/mug")[2]["variants"][0]["price"], price)

            s = new_session(a)
            tok = {"X-Session-Token": s["token"]}
            self.assertEqual(b.post("/cart", {}, headers=tok)[0], 201)
            self.assertEqual(a.delete("/session/" + s["id"], headers=tok)[0], 204)
            deadline = time.time() + 10  # node b's in-process entry lives 5 s at most
            while time.time() < deadline and b.post("/cart", {}, headers=tok)[0] != 401:
                time.sleep(0.2)
            self.assertEqual(b.post("/cart", {}, headers=tok)[0], 401)

            redis.stop()
            body["variants"][0]["price"] = 300  # a write Redis cannot hear about
            self.assertEqual(a.put("/admin/products/mug", body, headers=ADMIN)[0], 200)
            self.assertEqual(b.get("/products/mug")[2]["variants"][0]["price"], 300)
            redis.start()
            time.sleep(0.6)  # past the client's reconnect delay
            self.assertEqual(b.get("/products/mug")[2]["variants"][0]["price"], 300)
            self.assertEqual(a.get("/products/mug")[2]["variants"][0]["price"], 300)

    def test_pricing_rules_are_read_through_redis_and_retired_by_admin_writes(self):
        with two_nodes(self) as (a, b, redis):
            self.assertEqual(a.put("/admin/tax-rates/US-NY", {"rate": "8.875"}, headers=ADMIN)[0], 201)  # v1.1: created
            # Node b's pricing book reads the rules each second, through Redis.
            deadline = time.time() + 10
            while time.time() < deadline and not redis.cli("GET", "cartd:pricing:tax").strip():
                time.sleep(0.2)
            cached = redis.cli("GET", "cartd:pricing:tax")
            self.assertIn("8.875", cached)
            body = {"name": "Mug", "currency": "USD", "variants": [{"id": "v", "price": 1000, "stock": 5}]}
            self.assertEqual(a.put("/admin/products/mug", body, headers=ADMIN)[0], 201)
            quote = {"currency": "USD", "region": "US-NY", "items": [{"productId": "mug", "variantId": "v", "quantity": 1}]}
            deadline = time.time() + 10  # node b's book refreshes each second
            while time.time() < deadline and b.post("/pricing/calculate", quote)[2]["taxTotal"] != 89:
                time.sleep(0.2)
            self.assertEqual(b.post("/pricing/calculate", quote)[2]["taxTotal"], 89)
            # A write on node a retires the cached list; node b prices with the new rate soon after.
            self.assertEqual(a.put("/admin/tax-rates/US-NY", {"rate": "4"}, headers=ADMIN)[0], 200)
            deadline = time.time() + 10
            while time.time() < deadline and b.post("/pricing/calculate", quote)[2]["taxTotal"] != 40:
                time.sleep(0.2)
            self.assertEqual(b.post("/pricing/calculate", quote)[2]["taxTotal"], 40)
            self.assertEqual(a.post("/pricing/calculate", quote)[2]["taxTotal"], 40)

    def test_a_discount_changed_or_retired_on_one_node_prices_so_on_the_other(self):
        with two_nodes(self) as (a, b, redis):
            body = {"name": "Mug", "currency": "USD", "variants": [{"id": "v", "price": 1000, "stock": 5}]}
            self.assertEqual(a.put("/admin/products/mug", body, headers=ADMIN)[0], 201)
            st, _, d, raw = a.post("/admin/discounts", {"type": "percentage", "value": "10"}, headers=ADMIN)
            self.assertEqual(st, 201, raw)
            quote = {"currency": "USD", "items": [{"productId": "mug", "variantId": "v", "quantity": 1}]}

            def b_discount_becomes(amount):
                deadline = time.time() + 10  # node b's book refreshes each second, through Redis
                while time.time() < deadline and b.post("/pricing/calculate", quote)[2]["discountTotal"] != amount:
                    time.sleep(0.2)
                self.assertEqual(b.post("/pricing/calculate", quote)[2]["discountTotal"], amount)

            b_discount_becomes(100)
            self.assertIn(d["id"], redis.cli("GET", "cartd:pricing:discount"))
            self.assertEqual(a.patch("/admin/discounts/" + d["id"], {"value": "25"}, headers=ADMIN)[0], 200)
            self.assertEqual(a.post("/pricing/calculate", quote)[2]["discountTotal"], 250)  # at once on a
            b_discount_becomes(250)
            self.assertEqual(b.delete("/admin/discounts/" + d["id"], headers=ADMIN)[0], 204)
            self.assertEqual(b.post("/pricing/calculate", quote)[2]["discountTotal"], 0)  # at once on b
            deadline = time.time() + 10
            while time.time() < deadline and a.post("/pricing/calculate", quote)[2]["discountTotal"] != 0:
                time.sleep(0.2)
            self.assertEqual(a.post("/pricing/calculate", quote)[2]["discountTotal"], 0)
            st, _, lst, raw = a.get("/pricing/discounts", headers=ADMIN)
            self.assertEqual([x["active"] for x in lst["items"] if x["id"] == d["id"]], [False], raw)


if __name__ == "__main__":
    unittest.main(verbosity=2)
