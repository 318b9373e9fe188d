"""What cartd does when PostgreSQL stops and returns (a private server, stopped for real)."""
import time
import unittest

from cartd_api import ADMIN, Server, new_cart, new_user, put_product
from private_servers import PrivatePostgres


class PostgresOutageTest(unittest.TestCase):
    def test_an_outage_answers_503_fast_and_cartd_recovers_by_itself(self):
        pg = PrivatePostgres()
        server = None
        try:
            server = Server(CARTD_STORE_URL=pg.url(), CARTD_HTTP_REQUEST_TIMEOUT="2s")
            c = server.client()
            user = new_user()
            pid = put_product(c, [{"id": "v", "price": 300, "stock": 1000}])
            cart = new_cart(c, user)["id"]
            add = {"productId": pid, "variantId": "v", "quantity": 1}
            for _ in range(3):
                self.assertEqual(c.post("/cart/%s/items" % cart, add, headers=user)[0], 201)

            pg.stop()
            for path, method in (("/cart/%s/items" % cart, "POST"), ("/cart", "POST"), ("/cart", "GET"),
                                 ("/products/" + pid, "GET")):
                started = time.time()
                st, hdrs, body, raw = c.request(method, path, body=add if method == "POST" else None, headers=user)
                took = time.time() - started
                self.assertIn(st, (503,), (path, raw))  # never a hang, never a 500
                self.assertEqual(body["code"], "unavailable")
                self.assertIn("retry-after", hdrs)
                self.assertLess(took, 6, path)
                self.assertNotIn("postgres", raw.decode().lower())  # no internals leak
            st, _, _, _ = c.get("/health/ready")
            self.assertEqual(st, 503)
            st, _, d, _ = c.get("/health/detailed")
            self.assertEqual(d["components"]["store"]["status"], "down")
            self.assertEqual(c.get("/health")[0], 200)  # alive all the same

            pg.start()
            deadline = time.time() + 30
            while time.time() < deadline and c.get("/health/ready")[0] != 200:
                time.sleep(0.2)
            self.assertEqual(c.get("/health/ready")[0], 200)
            st, _, body, raw = c.post("/cart/%s/items" % cart, add, headers=user)
            self.assertEqual(st, 201, raw)
            self.assertEqual(body["items"][0]["quantity"], 4)  # the 3 acknowledged + this one
        finally:
            if server and server.proc:
                self.assertEqual(server.stop(), 0)
            pg.destroy()


class ConcurrentStartTest(unittest.TestCase):
    def test_two_nodes_migrating_one_database_at_once_both_start(self):
        import subprocess
        import threading
        pg = PrivatePostgres()
        servers = []
        try:
            errors = []

            def start():
                try:
                    servers.append(Server(CARTD_STORE_URL=pg.url()))
                except Exception as e:  # noqa: BLE001 - reported below
                    errors.append(e)

            threads = [threading.Thread(target=start) for _ in range(2)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            self.assertEqual(errors, [])
            rows = subprocess.run(["psql", pg.url(), "-tAc",
                                   "SELECT count(*), count(DISTINCT version), max(version) FROM schema_migrations"],
                                  capture_output=True, text=True, check=True).stdout.strip().split("|")
            self.assertEqual(len(set(rows)), 1, rows)  # every migration applied once, none missing
            user = new_user()
            cart = new_cart(servers[0].client(), user)["id"]
            st, _, _, _ = servers[1].client().get("/cart/" + cart, headers=user)
            self.assertEqual(st, 200)  # one database behind both
        finally:
            for s in servers:
                self.assertEqual(s.stop(), 0)
            pg.destroy()



class LifecycleOutageTest(unittest.TestCase):
    def test_the_sweeper_reports_an_outage_and_recovers_and_pricing_writes_answer_503(self):
        pg = PrivatePostgres()
        server = None
        try:
            server = Server(CARTD_STORE_URL=pg.url(), CARTD_HTTP_REQUEST_TIMEOUT="2s",
                            CARTD_CART_SWEEP_INTERVAL="200ms")
            c = server.client()
            lifecycle = lambda: c.get("/health/detailed")[2]["components"]["lifecycle"]

            def wait(pred, timeout=30):
                deadline = time.time() + timeout
                while time.time() < deadline and not pred():
                    time.sleep(0.2)
                return pred()

            self.assertTrue(wait(lambda: lifecycle()["status"] == "ok"), lifecycle())
            st, _, d, raw = c.post("/admin/discounts", {"code": "OUT", "type": "percentage", "value": "5"},
                                   headers=ADMIN)
            self.assertEqual(st, 201, raw)

            pg.stop()
            self.assertTrue(wait(lambda: lifecycle()["status"] == "failing"), lifecycle())
            self.assertGreaterEqual(lifecycle()["failures"], 1)
            for method, path, body in (("PATCH", "/admin/discounts/" + d["id"], {"value": "6"}),
                                       ("DELETE", "/admin/discounts/" + d["id"], None),
                                       ("POST", "/admin/discounts", {"type": "percentage", "value": "1"})):
                st, hdrs, prob, raw = c.request(method, path, body=body, headers=ADMIN)
                self.assertEqual((st, prob["code"]), (503, "unavailable"), (method, path, raw))
                self.assertIn("retry-after", hdrs)

            pg.start()
            self.assertTrue(wait(lambda: lifecycle()["status"] == "ok"), lifecycle())
            st, _, lst, raw = c.get("/pricing/discounts", headers=ADMIN)
            self.assertEqual(st, 200, raw)
            self.assertEqual([(x["value"], x["active"]) for x in lst["items"]], [("5", True)], raw)
        finally:
            if server and server.proc:
                self.assertEqual(server.stop(), 0)
            pg.destroy()

if __name__ == "__main__":
    unittest.main(verbosity=2)
