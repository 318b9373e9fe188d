"""Domain events: written to the outbox with each change and relayed to the Redis stream
cartd:events, at least once and in order per cart, also across a Redis outage."""
import json
import time
import unittest

from cartd_api import Server, new_cart, new_session, new_user, put_product
from private_servers import PrivateRedis


def events(redis):
    import subprocess
    raw = subprocess.run(["redis-cli", "-p", str(redis.port), "--json", "XRANGE", "cartd:events", "-", "+"],
                         capture_output=True, text=True).stdout
    data = json.loads(raw) if raw.strip() else []
    out = []
    for _, fields in data:
        f = dict(zip(fields[0::2], fields[1::2]))
        out.append((int(f["eventId"]), f["type"], json.loads(f["payload"])))
    return out


def wait_for(pred, timeout=15):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return True
        time.sleep(0.1)
    return False


class EventsTest(unittest.TestCase):
    def test_changes_flow_in_order_and_survive_a_redis_outage(self):
        redis = PrivateRedis()
        server = None
        try:
            server = Server(CARTD_REDIS_URL=redis.url())
            c = server.client()
            user = new_user()
            guest = new_session(c)
            tok = {"X-Session-Token": guest["token"]}
            pid = put_product(c, [{"id": "v", "price": 100, "stock": 1000}, {"id": "w", "price": 50, "stock": 1000}])
            cart = new_cart(c, user)["id"]
            add = lambda v, q=1, h=user, cid=cart: c.post("/cart/%s/items" % cid, {"productId": pid, "variantId": v, "quantity": q}, headers=h)
            _, _, body, _ = add("v", 2)
            item = body["items"][0]["id"]
            c.patch("/cart/%s/items/%s" % (cart, item), {"quantity": 5}, headers=user)
            add("w")
            c.delete("/cart/%s/items/%s" % (cart, item), headers=user)
            source = new_cart(c, tok)["id"]
            add("v", 1, tok, source)
            c.post("/cart/%s/merge" % cart, {"sourceCartId": source}, headers=dict(user, **tok))
            self.assertTrue(wait_for(lambda: len(events(redis)) >= 9), events(redis))
            mine = [(t, p["version"]) for _, t, p in events(redis) if p["cartId"] == cart]
            self.assertEqual(mine, [("cart_created", 1), ("item_added", 2), ("item_changed", 3),
                                    ("item_added", 4), ("item_removed", 5), ("cart_merged", 6)])
            theirs = [(t, p["version"]) for _, t, p in events(redis) if p["cartId"] == source]
            self.assertEqual(theirs, [("cart_created", 1), ("item_added", 2), ("cart_merged", 3)])
            ids = [i for i, _, _ in events(redis)]
            self.assertEqual(ids, sorted(ids))

            redis.stop()
            self.assertTrue(wait_for(lambda: c.get("/health/detailed")[2]["components"]["events"]["status"] == "waiting"))
            for _ in range(10):
                st, _, _, _ = add("w")
                self.assertEqual(st, 201)  # carts keep working without Redis
            _, _, d, _ = c.get("/health/detailed")
            self.assertEqual(d["status"], "degraded")
            redis.start()  # an empty Redis: what was published before is gone, the rest arrives
            self.assertTrue(wait_for(lambda: len(events(redis)) >= 10), events(redis))
            after = [(t, p["version"]) for _, t, p in events(redis) if p["cartId"] == cart]
            self.assertEqual(after, [("item_added", v) for v in range(7, 17)])
        finally:
            if server and server.proc:
                self.assertEqual(server.stop(), 0)
            redis.destroy()

    def test_without_redis_nothing_is_written_to_the_outbox(self):
        server = Server()
        try:
            c = server.client()
            new_cart(c, new_user())
            _, _, d, _ = c.get("/health/detailed")
            self.assertEqual(d["components"]["events"]["status"], "disabled")
        finally:
            self.assertEqual(server.stop(), 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
