"""A rolling restart of three nodes behind nginx under steady load (deploy/cluster-local
restart): each node in turn gets SIGTERM, leaves the cluster's placement (the others take its
carts), drains (not ready, still serving by forwarding, responses closing their connections),
stops accepting, finishes, exits 0 and comes back on the same addresses. Shoppers keep adding
items and reading their carts through nginx the whole time.

What is held: no request fails (every answer a 2xx; a storefront that follows Retry-After may
retry a 503 with the same Idempotency-Key, and the test counts those retries separately), every
acknowledged add is in the cart afterwards, exactly once, and every node logged a clean stop.
"""
import http.client
import json
import os
import subprocess
import tempfile
import threading
import time
import unittest
import uuid

import cartd_api
from cartd_api import read_env
from cartd_api import Client, new_user, put_product

SCRIPT = os.path.join(cartd_api.ROOT, "deploy", "cluster-local")


class Shopper(threading.Thread):
    """One shopper: adds one unit at a time to its own cart, reading it back now and then."""

    def __init__(self, port, cart, user, product, stop):
        super().__init__(daemon=True)
        self.port, self.cart, self.user, self.product, self.stop = port, cart, user, product, stop
        self.acked = 0
        self.failed = []  # (what, status, body): answers that were not 2xx after the retries
        self.retried = 0  # 503s with Retry-After, retried with the same Idempotency-Key
        self.requests = 0

    def call(self, method, path, body=None, key=None):
        headers = dict(self.user)
        if body is not None:
            headers["Content-Type"] = "application/json"
        if key:
            headers["Idempotency-Key"] = key
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request(method, "/api/v1" + path, body=json.dumps(body) if body is not None else None,
                         headers=headers)
            resp = conn.getresponse()
            return resp.status, dict((k.lower(), v) for k, v in resp.getheaders()), resp.read()
        except (OSError, http.client.HTTPException) as e:
            return 0, {}, repr(e).encode()
        finally:
            conn.close()

    def run(self):
        n = 0
        while not self.stop.is_set():
            n += 1
            key = uuid.uuid4().hex
            # 20 lines of at most 999 units each: room for a long fast run.
            body = {"productId": self.product, "variantId": "v%d" % (n % 20), "quantity": 1}
            for attempt in range(10):
                self.requests += 1
                st, h, raw = self.call("POST", "/cart/%s/items" % self.cart, body, key)
                if st == 503 and "retry-after" in h:
                    self.retried += 1
                    time.sleep(0.2)
                    continue
                break
            if st == 201 or st == 200:
                self.acked += 1
            else:
                self.failed.append(("add", st, raw[:300]))
            if n % 4 == 0:
                self.requests += 1
                st, _, raw = self.call("GET", "/cart/" + self.cart)
                if st != 200:
                    self.failed.append(("get", st, raw[:300]))


@unittest.skipUnless(cartd_api.STORE == "postgresql", "a cluster shares PostgreSQL only")
class RollingRestartTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="cartd-rolling-")
        self.env = dict(os.environ, CARTD_BIN=cartd_api.BIN,
                        CARTD_STORE_URL=cartd_api.store_url(self.dir), CLUSTER_REDIS="0",
                        CARTD_AUTH_JWT_SECRET=cartd_api.SECRET, CARTD_RATE_LIMIT_ENABLED="false",
                        CARTD_HTTP_DRAIN_PERIOD="2s")
        p = subprocess.run([SCRIPT, "up", self.dir], env=self.env, capture_output=True, timeout=120)
        if p.returncode != 0:
            subprocess.run([SCRIPT, "down", self.dir], env=self.env, timeout=60)
            raise AssertionError("cluster-local up failed: %s %s" % (p.stdout, p.stderr))
        self.lb = int(read_env(os.path.join(self.dir, "cluster.env"))["CLUSTER_LB_PORT"])

    def tearDown(self):
        subprocess.run([SCRIPT, "down", self.dir], env=self.env, capture_output=True, timeout=60)

    def test_a_rolling_restart_under_load_loses_no_request_and_no_write(self):
        c = Client(self.lb)
        pid = put_product(c, [{"id": "v%d" % i, "sku": "S%d" % i, "price": 100, "stock": 1000000}
                              for i in range(20)])
        stop = threading.Event()
        shoppers = []
        for _ in range(6):
            user = new_user()
            st, _, cart, raw = Client(self.lb).post("/cart", {}, headers=user)
            self.assertEqual(st, 201, raw)
            shoppers.append(Shopper(self.lb, cart["id"], user, pid, stop))
        for s in shoppers:
            s.start()
        time.sleep(1)
        for n in (1, 2, 3):
            p = subprocess.run([SCRIPT, "restart", self.dir, str(n)], env=self.env,
                               capture_output=True, timeout=120)
            self.assertEqual(p.returncode, 0, p.stderr)
            time.sleep(1)
        stop.set()
        for s in shoppers:
            s.join(timeout=60)
        failed = [f for s in shoppers for f in s.failed]
        requests = sum(s.requests for s in shoppers)
        retried = sum(s.retried for s in shoppers)
        print("rolling restart: %d requests, %d retried after 503 Retry-After, %d failed"
              % (requests, retried, len(failed)))
        self.assertGreater(requests, 100)
        self.assertEqual(failed, [])
        for s in shoppers:
            st, _, got, _ = Client(self.lb).get("/cart/" + s.cart, headers=s.user)
            self.assertEqual(st, 200)
            self.assertEqual(sum(i["quantity"] for i in got["items"]), s.acked, s.cart)
        for n in (1, 2, 3):
            with open(os.path.join(self.dir, "node%d.log" % n)) as f:
                log = f.read()
            self.assertIn('"msg":"draining"', log, n)
            # It left the placement first: the others took its carts while it still served.
            self.assertIn('"msg":"cluster leaving"', log, n)
            self.assertIn('"msg":"cluster member leaving"', log, n)
            self.assertIn('"msg":"stopped"', log, n)


if __name__ == "__main__":
    unittest.main(verbosity=2)
