"""The cart lifecycle (DESIGN.md): active carts unchanged for cart.abandon_after count as
abandoned (the cartd_carts_abandoned gauge, /health/detailed, and one cart_abandoned event per
idle spell on the Redis stream); carts unchanged for cart.expire_after are purged.

The server runs with second-scale settings; the test waits for the sweeper with deadlines,
never asserting how long anything took (the machine is shared and noisy).
"""
import os
import subprocess
import tempfile
import time
import unittest

from cartd_api import BIN, SECRET, Server, free_port, new_cart, new_user, put_product, store_url
from private_servers import PrivateRedis
from test_events_api import events, wait_for

# expire_after leaves the test ample time (on a busy machine) to see the cart abandoned twice
# before it is purged.
FAST = {"CARTD_CART_ABANDON_AFTER": "1s", "CARTD_CART_EXPIRE_AFTER": "20s",
        "CARTD_CART_SWEEP_INTERVAL": "200ms", "CARTD_CART_IDLE_TIMEOUT": "300ms"}


def metric(client, name):
    text = client.get("/metrics", base=False)[3].decode()
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{}"):
            return float(line.split()[-1])
    raise AssertionError("no metric %s in /metrics" % name)


def lifecycle(client):
    st, _, body, raw = client.get("/health/detailed")
    assert st in (200, 503), raw
    return body["components"]["lifecycle"]


class LifecycleTest(unittest.TestCase):
    def test_idle_carts_are_reported_once_per_spell_then_purged(self):
        redis = PrivateRedis()
        server = None
        try:
            server = Server(CARTD_REDIS_URL=redis.url(), **FAST)
            c = server.client()
            user = new_user()
            pid = put_product(c, [{"id": "v", "price": 100, "stock": 1000}])
            cart = new_cart(c, user)["id"]
            st, _, _, raw = c.post("/cart/%s/items" % cart, {"productId": pid, "variantId": "v", "quantity": 2},
                                   headers=user)
            self.assertEqual(st, 201, raw)
            h = lifecycle(c)
            self.assertEqual((h["abandonAfterSeconds"], h["expireAfterSeconds"], h["sweepIntervalMillis"],
                              h["events"]), (1, 20, 200, True))

            def abandoned_events():
                return [p for _, t, p in events(redis) if t == "cart_abandoned" and p["cartId"] == cart]

            self.assertTrue(wait_for(lambda: len(abandoned_events()) >= 1), events(redis))
            first = abandoned_events()[0]
            self.assertEqual((first["userId"], first["status"], first["version"]), (user_id(user), "active", 2))
            self.assertTrue(wait_for(lambda: lifecycle(c)["abandoned"] == 1), lifecycle(c))
            self.assertGreaterEqual(metric(c, "cartd_carts_abandoned"), 1)
            self.assertGreaterEqual(metric(c, "cartd_carts_abandoned_total"), 1)
            # More sweeps go by, and the relay empties the outbox: the spell is not reported again.
            sweeps = lifecycle(c)["sweeps"]
            self.assertTrue(wait_for(lambda: lifecycle(c)["sweeps"] >= sweeps + 3))
            self.assertTrue(wait_for(lambda: c.get("/health/detailed")[2]["components"]["events"]["waiting"] == 0))
            self.assertEqual(len(abandoned_events()), 1, abandoned_events())

            # A change starts a new spell: no longer abandoned, then abandoned (and reported) again.
            st, _, _, raw = c.patch("/cart/" + cart, {"metadata": {"back": True}}, headers=user)
            self.assertEqual(st, 200, raw)
            self.assertTrue(wait_for(lambda: len(abandoned_events()) == 2), abandoned_events())
            self.assertEqual(abandoned_events()[1]["version"], 3)

            # Unchanged past expire_after: purged; its actor passivated long before, so it is gone.
            self.assertTrue(wait_for(lambda: lifecycle(c)["purged"] >= 1, timeout=60), lifecycle(c))
            self.assertGreaterEqual(metric(c, "cartd_carts_purged_total"), 1)
            self.assertEqual(c.get("/cart/" + cart, headers=user)[0], 404)
            self.assertNotIn(cart, [x["id"] for x in c.get("/cart", headers=user)[2]["items"]])
            self.assertTrue(wait_for(lambda: lifecycle(c)["abandoned"] == 0), lifecycle(c))
            self.assertEqual(lifecycle(c)["status"], "ok")
        finally:
            if server:
                self.assertEqual(server.stop(), 0)
            redis.destroy()

    def test_a_cart_changed_within_abandon_after_is_neither_abandoned_nor_purged(self):
        server = Server(CARTD_CART_ABANDON_AFTER="1h", CARTD_CART_EXPIRE_AFTER="2h",
                        CARTD_CART_SWEEP_INTERVAL="100ms")
        try:
            c = server.client()
            user = new_user()
            cart = new_cart(c, user)["id"]
            self.assertTrue(wait_for(lambda: lifecycle(c)["sweeps"] >= 3), lifecycle(c))
            h = lifecycle(c)
            self.assertEqual((h["abandoned"], h["reported"], h["purged"], h["events"]), (0, 0, 0, False))
            self.assertEqual(c.get("/cart/" + cart, headers=user)[0], 200)
        finally:
            self.assertEqual(server.stop(), 0)


def user_id(headers):
    """The `sub` of the JWT in these headers."""
    import base64
    import json
    payload = headers["Authorization"].split()[1].split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["sub"]


class LifecycleConfigTest(unittest.TestCase):
    def test_invalid_lifecycle_settings_are_refused(self):
        for env in ({"CARTD_CART_SWEEP_INTERVAL": "10ms"}, {"CARTD_CART_SWEEP_INTERVAL": "soon"},
                    {"CARTD_CART_ABANDON_AFTER": "0s"}, {"CARTD_CART_EXPIRE_AFTER": "-1h"},
                    {"CARTD_CART_ABANDON_AFTER": "48h", "CARTD_CART_EXPIRE_AFTER": "24h"}):
            with self.subTest(env=env):
                d = tempfile.mkdtemp(prefix="cartd-api-")
                e = dict(os.environ, CARTD_HTTP_PORT=str(free_port()), CARTD_STORE_URL=store_url(d),
                         CARTD_AUTH_JWT_SECRET=SECRET, CARTD_HTTP_ACCESS_LOG="false", **env)
                try:
                    out = subprocess.run([BIN, "serve"], capture_output=True, text=True, env=e, timeout=30)
                except subprocess.TimeoutExpired:
                    self.fail("cartd serve with %r did not exit (it started?)" % env)
                self.assertEqual(out.returncode, 2, out.stderr)
                self.assertIn(list(env)[-1], out.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
