"""deploy/: the local three-node cluster behind nginx (deploy/cluster-local) serves the API
through one address, spreads requests over the nodes, and keeps serving reads when a node is
killed (nginx's passive health checks and retries of idempotent requests)."""
import http.client
import os
import signal
import subprocess
import tempfile
import time
import unittest
import uuid

import cartd_api
from cartd_api import read_env
from cartd_api import ADMIN, Client, new_user, put_product

SCRIPT = os.path.join(cartd_api.ROOT, "deploy", "cluster-local")


def raw_get(port, path, headers):
    """A GET outside the OpenAPI check: nginx's own 502 is no answer of cartd's."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", "/api/v1" + path, headers=headers)
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


@unittest.skipUnless(cartd_api.STORE == "postgresql", "a cluster shares PostgreSQL only")
class LocalClusterTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="cartd-deploy-")
        env = dict(os.environ, CARTD_BIN=cartd_api.BIN,
                   CARTD_STORE_URL=cartd_api.store_url(cls.dir), CLUSTER_REDIS="0",
                   CARTD_AUTH_JWT_SECRET=cartd_api.SECRET, CARTD_RATE_LIMIT_ENABLED="false")
        p = subprocess.run([SCRIPT, "up", cls.dir], env=env, capture_output=True, timeout=120)
        if p.returncode != 0:
            subprocess.run([SCRIPT, "down", cls.dir], env=env, timeout=60)
            raise AssertionError("cluster-local up failed: %s %s" % (p.stdout, p.stderr))
        cls.env = env
        cls.cluster = read_env(os.path.join(cls.dir, "cluster.env"))
        cls.lb = int(cls.cluster["CLUSTER_LB_PORT"])

    @classmethod
    def tearDownClass(cls):
        p = subprocess.run([SCRIPT, "down", cls.dir], env=cls.env, capture_output=True, timeout=60)
        assert p.returncode == 0, p.stderr

    def test_nginx_configuration_is_valid(self):
        nginx = "/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else "nginx"
        p = subprocess.run([nginx, "-t", "-p", self.dir, "-c", os.path.join(self.dir, "nginx.conf")],
                           capture_output=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)
        with open(os.path.join(self.dir, "nginx.conf")) as f:
            conf = f.read()
        self.assertEqual(conf.count("max_fails="), 3)
        self.assertIn("proxy_next_upstream error timeout http_502 http_503 http_504;", conf)
        # Non-idempotent retries only in the location for requests with an Idempotency-Key.
        plain, _, idempotent = conf.partition("location @idempotent")
        directives = [l.strip() for l in plain.splitlines() if not l.strip().startswith("#")]
        self.assertFalse([d for d in directives if "non_idempotent" in d])
        self.assertIn("http_504 non_idempotent;", idempotent)
        self.assertIn('if ($http_idempotency_key != "")', plain)

    def test_one_address_serves_carts_and_spreads_over_nodes(self):
        c = Client(self.lb)
        # Ready means joined (one member answered); every node seeing all three may take a
        # gossip round more.
        deadline = time.time() + 15
        while time.time() < deadline:
            views = [c.get("/health/detailed")[2]["components"]["cluster"]["membersUp"]
                     for _ in range(6)]
            if views == [3] * 6:
                break
            time.sleep(0.2)
        nodes = set()
        for _ in range(12):
            st, _, h, _ = c.get("/health/detailed")
            self.assertEqual(st, 200)
            self.assertEqual(h["components"]["cluster"]["membersUp"], 3)
            nodes.add(h["node"])
        self.assertEqual(len(nodes), 3)
        pid = put_product(c, [{"id": "v", "sku": "S", "price": 300, "stock": 100}])
        user = new_user()
        st, _, cart, raw = c.post("/cart", {}, headers=user)
        self.assertEqual(st, 201, raw)
        for _ in range(6):
            st, _, _, raw = Client(self.lb).post("/cart/%s/items" % cart["id"],
                                                 {"productId": pid, "variantId": "v", "quantity": 1}, headers=user)
            self.assertEqual(st, 201, raw)
        st, _, got, _ = Client(self.lb).get("/cart/" + cart["id"], headers=user)
        self.assertEqual(sum(i["quantity"] for i in got["items"]), 6)

    def test_zz_reads_keep_answering_when_a_node_is_killed(self):
        c = Client(self.lb)
        user = new_user()
        carts = []
        for _ in range(10):
            st, _, cart, _ = c.post("/cart", {}, headers=user)
            self.assertEqual(st, 201)
            carts.append(cart["id"])
        with open(os.path.join(self.dir, "node2.pid")) as f:
            victim = int(f.read())
        os.kill(victim, signal.SIGKILL)
        failures = 0
        deadline = time.time() + 3
        rounds = 0
        refusals = 0
        while time.time() < deadline or rounds < 3:
            rounds += 1
            for cid in carts:
                for attempt in range(20):
                    st, h, got = raw_get(self.lb, "/cart/" + cid, user)
                    if st == 200:
                        break
                    # Until the survivors see the death (cluster.connection_timeout), both may
                    # answer 503 with Retry-After for a cart the dead node owned; nginx has
                    # retried it on each of them, and answers 502 when the dead node came last
                    # in its tries. The client retries.
                    self.assertIn(st, (502, 503), got)
                    if st == 503:
                        self.assertIn("retry-after", h)
                    refusals += 1
                    time.sleep(0.1)
                if st != 200:
                    failures += 1
        # nginx retries a failed GET on another node; a node that answers 503 (its view still
        # has the dead owner) is retried too; nothing is left unanswered past the detection.
        self.assertEqual(failures, 0)
        self.assertLess(refusals, 60, "503s went on past the failure detection bound")
        # A write with an Idempotency-Key, retried by the client after a 5xx, lands once.
        key = uuid.uuid4().hex
        for _ in range(20):
            st, _, _, _ = Client(self.lb).request("PATCH", "/cart/" + carts[0], body={"region": "US"},
                                                  headers=dict(user, **{"Idempotency-Key": key}))
            if st == 200:
                break
            time.sleep(0.1)
        self.assertEqual(st, 200)


if __name__ == "__main__":
    unittest.main(verbosity=2)
