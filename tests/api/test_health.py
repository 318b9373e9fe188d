"""Health, readiness, detailed health, Prometheus metrics, OpenAPI document."""
import os
import re
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import ApiTest  # noqa: E402


def setUpModule():
    harness.module_setup(__name__)


def tearDownModule():
    harness.module_teardown(__name__)


REQUIRED_METRICS = ["cartd_http_requests_total", "cartd_http_request_duration_seconds_bucket",
                    "cartd_actors_live", "cartd_actor_restarts_total", "cartd_actor_mailbox_depth",
                    "cartd_snapshot_batch_size", "cartd_snapshot_commit_seconds",
                    "cartd_version_conflicts_total"]

SAMPLE_RE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[^"}]|"(?:[^"\\]|\\.)*")*\})?\s+(\S+)(\s+-?\d+)?$')


def parse_metrics(text):
    """{(name, labels-string): float}; raises on a line that is not exposition format."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE_RE.match(line)
        if not m:
            raise ValueError("not Prometheus text format: %r" % line)
        out[(m.group(1), m.group(2) or "")] = float(m.group(3))
    return out


def labels(s):
    return dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', s))


class HealthTest(ApiTest):
    def test_liveness(self):
        resp = self.c.get("/health")
        self.assertStatus(resp, 200)
        self.assertEqual(resp[2], {"status": "ok"})
        self.assertTrue(resp[1].get("content-type", "").startswith("application/json"))

    def test_readiness(self):
        self.assertStatus(self.c.get("/health/ready"), 200, "ready with SQLite and no Redis")

    def test_detailed(self):
        resp = self.c.get("/health/detailed")
        self.assertStatus(resp, 200)
        d = resp[2]
        for k in ("status", "node", "version", "uptimeSeconds", "components"):
            self.assertIn(k, d, "detailed health lacks %s" % k)
        self.assertEqual(d["status"], "ok")
        self.assertTrue(isinstance(d["node"], str) and d["node"])
        self.assertTrue(isinstance(d["version"], str) and d["version"])
        self.assertIsInstance(d["uptimeSeconds"], (int, float))
        self.assertGreaterEqual(d["uptimeSeconds"], 0)
        self.assertIn("store", d["components"])
        self.assertIn("actors", d["components"])

    def test_detailed_store_is_up(self):
        store = self.c.get("/health/detailed")[2]["components"]["store"]
        status = store.get("status") if isinstance(store, dict) else store
        self.assertIn(status, ("ok", "up"), "store component: %r" % (store,))

    def test_uptime_grows(self):
        a = self.c.get("/health/detailed")[2]["uptimeSeconds"]
        time.sleep(1.1)
        b = self.c.get("/health/detailed")[2]["uptimeSeconds"]
        self.assertGreater(b, a)

    def test_health_needs_no_credentials(self):
        for path in ("/health", "/health/ready", "/health/detailed", "/health/metrics"):
            with self.subTest(path=path):
                self.assertStatus(self.c.get(path), 200, path)

    def test_health_carries_a_request_id(self):
        self.assertTrue(self.c.get("/health")[1].get("x-request-id"))

    def test_post_to_health_is_405(self):
        self.assertProblem(self.c.post("/health", {}), 405, "method_not_allowed")


class NodeNameTest(ApiTest):
    server_env = {"CARTD_NODE_NAME": "node-test-7"}

    def test_detailed_names_the_configured_node(self):
        self.assertEqual(self.c.get("/health/detailed")[2]["node"], "node-test-7")


class MetricsTest(ApiTest):
    def fetch(self, path="/metrics", base=False):
        resp = self.c.get(path, base=base)
        self.assertStatus(resp, 200, path)
        ctype = resp[1].get("content-type", "")
        self.assertTrue(ctype.startswith("text/plain"), "metrics content-type %r" % ctype)
        self.assertIn("0.0.4", ctype, "exposition format version 0.0.4 in %r" % ctype)
        return resp[3].decode()

    def test_root_metrics_has_every_required_family(self):
        text = self.fetch("/metrics")
        for name in REQUIRED_METRICS:
            self.assertIn(name, text, "/metrics lacks %s" % name)

    def test_base_path_metrics_has_every_required_family(self):
        text = self.fetch("/health/metrics", base=True)
        for name in REQUIRED_METRICS:
            self.assertIn(name, text, "/api/v1/health/metrics lacks %s" % name)

    def test_metrics_parse_as_exposition_format(self):
        parse_metrics(self.fetch())

    def test_metric_types_are_declared(self):
        text = self.fetch()
        for name, kind in (("cartd_http_requests_total", "counter"),
                           ("cartd_http_request_duration_seconds", "histogram"),
                           ("cartd_actors_live", "gauge"),
                           ("cartd_snapshot_batch_size", "histogram"),
                           ("cartd_snapshot_commit_seconds", "histogram"),
                           ("cartd_version_conflicts_total", "counter")):
            with self.subTest(metric=name):
                self.assertRegex(text, r"(?m)^# TYPE %s %s$" % (name, kind))

    def test_requests_total_has_route_method_status_labels(self):
        self.c.get("/health")
        samples = parse_metrics(self.fetch())
        rows = [labels(l) for (n, l) in samples if n == "cartd_http_requests_total"]
        self.assertTrue(rows, "no cartd_http_requests_total samples")
        for row in rows:
            self.assertTrue({"route", "method", "status"} <= set(row), "labels %r" % row)

    def test_requests_total_counts_requests(self):
        def count():
            samples = parse_metrics(self.fetch())
            return sum(v for (n, l), v in samples.items()
                       if n == "cartd_http_requests_total" and labels(l).get("method") == "GET"
                       and labels(l).get("status") == "200" and "health/ready" in labels(l).get("route", ""))
        before = count()
        for _ in range(5):
            self.c.get("/health/ready")
        self.assertGreaterEqual(count() - before, 5)

    def test_route_label_is_the_template_not_the_path(self):
        _, user = self.user()
        cart = self.cart(user)
        self.c.get("/cart/" + cart["id"], headers=user)
        text = self.fetch()
        self.assertNotIn(cart["id"], text, "route labels must not carry ids (unbounded cardinality)")

    def test_actors_live_counts_cart_actors(self):
        _, user = self.user()
        self.cart(user)
        samples = parse_metrics(self.fetch())
        carts = [v for (n, l), v in samples.items() if n == "cartd_actors_live" and labels(l).get("kind") == "cart"]
        self.assertTrue(carts, "no cartd_actors_live{kind=\"cart\"}")
        self.assertGreaterEqual(carts[0], 1)

    def test_snapshot_batches_are_observed(self):
        _, user = self.user()
        self.cart(user)
        samples = parse_metrics(self.fetch())
        count = [v for (n, _), v in samples.items() if n == "cartd_snapshot_batch_size_count"]
        self.assertTrue(count and count[0] >= 1, "cartd_snapshot_batch_size_count %r" % count)


class OpenApiTest(ApiTest):
    def test_openapi_document(self):
        resp = self.c.get("/openapi.json")
        self.assertStatus(resp, 200)
        self.assertTrue(resp[1].get("content-type", "").startswith("application/json"))
        doc = resp[2]
        self.assertIsInstance(doc, dict)
        self.assertIn("openapi", doc)
        self.assertTrue(str(doc["openapi"]).startswith("3."), doc["openapi"])

    def test_openapi_lists_the_cart_routes(self):
        paths = self.c.get("/openapi.json")[2].get("paths", {})
        for p in ("/cart", "/cart/{cartId}", "/cart/{cartId}/items", "/cart/{cartId}/items/{itemId}",
                  "/cart/{cartId}/totals", "/cart/{cartId}/merge", "/session", "/session/{sessionId}",
                  "/products/{productId}", "/admin/products/{productId}", "/health"):
            with self.subTest(path=p):
                self.assertTrue(p in paths or harness.BASE + p in paths, "OpenAPI lacks %s" % p)


if __name__ == "__main__":
    unittest.main(verbosity=2)
