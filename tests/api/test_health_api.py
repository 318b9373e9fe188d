"""Health, readiness, details, Prometheus metrics, the OpenAPI document and the route table."""
import json
import os
import subprocess
import unittest

from cartd_api import BIN, ROOT, ServerTest, new_cart, new_user, put_product

OPENAPI = os.path.join(ROOT, "http", "openapi.json")


class HealthTest(ServerTest):
    def test_liveness_and_readiness(self):
        st, _, body, _ = self.c.get("/health")
        self.assertEqual((st, body), (200, {"status": "ok"}))
        st, _, body, _ = self.c.get("/health/ready")
        self.assertEqual(st, 200)

    def test_detailed(self):
        user = new_user()
        new_cart(self.c, user)
        st, _, d, _ = self.c.get("/health/detailed")
        self.assertEqual(st, 200)
        self.assertEqual(d["status"], "ok")
        for key in ("node", "version", "uptimeSeconds", "components"):
            self.assertIn(key, d)
        comps = d["components"]
        for key in ("store", "redis", "cluster", "actors", "bulkheads", "circuitBreakers", "memory"):
            self.assertIn(key, comps)
        # Memory as the kernel, the allocator and SQLite see it (tcmalloc is absent from the
        # sanitized builds: -1 there).
        mem = comps["memory"]
        self.assertGreater(mem["rssBytes"], 1 << 20)
        self.assertGreater(mem["rssAnonBytes"], 0)
        self.assertLessEqual(mem["rssAnonBytes"], mem["rssBytes"])
        self.assertTrue(mem["allocatedBytes"] == -1 or mem["allocatedBytes"] > 0, mem)
        self.assertTrue(mem["allocatorFreeBytes"] >= -1, mem)
        if comps["store"]["kind"] == "sqlite":
            self.assertGreater(mem["sqliteBytes"], 0)
        self.assertGreaterEqual(mem["cachedSessions"], 0)
        self.assertEqual(comps["store"]["status"], "ok")
        self.assertEqual(comps["store"]["kind"], self.server.env["CARTD_STORE_URL"].split(":")[0])
        self.assertGreaterEqual(comps["actors"]["cart"]["live"], 1)
        self.assertGreaterEqual(comps["actors"]["cart"]["spawned"], 1)
        # Every connection pool of the store, each bounded and in use by now.
        pools = {p["name"]: p for p in comps["pools"]}
        kind = "postgresql" if comps["store"]["kind"] == "postgresql" else "sqlite"
        self.assertIn(kind, pools, comps["pools"])
        p = pools[kind]
        self.assertGreater(p["maxSize"], 0)
        self.assertGreater(p["acquired"], 0)
        self.assertLessEqual(p["open"], p["maxSize"])
        self.assertLessEqual(p["idle"], p["open"])

    def test_metrics_at_both_paths(self):
        user = new_user()
        pid = put_product(self.c)
        cart = new_cart(self.c, user)
        self.c.post("/cart/%s/items" % cart["id"], {"productId": pid, "variantId": "v-red", "quantity": 1}, headers=user)
        for path, base in (("/metrics", False), ("/health/metrics", True)):
            st, hdrs, _, raw = self.c.get(path, base=base)
            self.assertEqual(st, 200)
            self.assertTrue(hdrs["content-type"].startswith("text/plain"))
            text = raw.decode()
            for name in ("cartd_http_requests_total", "cartd_http_request_duration_seconds_bucket",
                         "cartd_actors_live", "cartd_actor_restarts_total", "cartd_actor_mailbox_depth",
                         "cartd_snapshot_batch_size", "cartd_snapshot_commit_seconds",
                         "cartd_version_conflicts_total", "cartd_actor_message_seconds"):
                self.assertTrue(name in text, name + " missing from " + path)
            self.assertTrue(
                'cartd_http_requests_total{method="POST",route="/api/v1/cart/{cartId}/items",status="201"}' in text,
                "add-item request not counted")
            self.assertRegex(text, r'cartd_memory_bytes\{kind="rss"\} [1-9]')
            self.assertRegex(text, r'cartd_memory_bytes\{kind="sqlite"\} [0-9]')

    def test_openapi_is_served(self):
        st, _, doc, _ = self.c.get("/openapi.json")
        self.assertEqual(st, 200)
        with open(OPENAPI) as f:
            self.assertEqual(doc, json.load(f))


class RouterMatchesOpenApi(unittest.TestCase):
    def test_every_route_is_documented_and_every_documented_route_exists(self):
        out = subprocess.run([BIN, "routes"], capture_output=True, text=True, check=True).stdout
        routes = {tuple(line.split(" ", 1)) for line in out.splitlines() if line.strip()}
        with open(OPENAPI) as f:
            spec = json.load(f)
        base = spec["servers"][0]["url"].rstrip("/")
        documented = set()
        for path, item in spec["paths"].items():
            prefix = item.get("servers", [{"url": base}])[0]["url"].rstrip("/")
            for method in item:
                if method in ("get", "put", "post", "patch", "delete"):
                    documented.add((method.upper(), prefix + path))
        self.assertEqual(routes - documented, set(), "routes missing from openapi.json")
        self.assertEqual(documented - routes, set(), "documented routes the router lacks")


if __name__ == "__main__":
    unittest.main(verbosity=2)
