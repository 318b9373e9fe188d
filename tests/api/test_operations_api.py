"""Operations: `cartd config --print/--check`, the graceful drain on SIGTERM, JSON log lines with
the W3C trace context, and the audit line of every admin write."""
import http.client
import json
import os
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest
import uuid

import sys

from cartd_api import (ADMIN, BIN, SECRET, Client, Server, bearer, jwt, new_cart, new_session,
                       new_user, put_product)

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fakes"))
from fake_payments import FakePayments  # noqa: E402


def run(*args, env=None):
    e = {k: v for k, v in os.environ.items() if not k.startswith("CARTD_") or k == "CARTD_BIN"}
    e.update(env or {})
    return subprocess.run([BIN, *args], capture_output=True, text=True, env=e, timeout=60)


def log_lines(server):
    if not server.log.closed:
        server.log.flush()
    with open(os.path.join(server.dir, "cartd.log"), "rb") as f:
        text = f.read().decode(errors="replace")
    return [json.loads(l) for l in text.splitlines() if l.startswith("{")]


class ConfigCommandTest(unittest.TestCase):
    def test_print_shows_every_key_with_its_variable_and_masks_secrets(self):
        env = {"CARTD_AUTH_JWT_SECRET": "jwt-secret-that-must-not-show",
               "CARTD_AUTH_OPERATOR_TOKEN": "operator-token-must-not-show",
               "CARTD_PAYMENTS_API_KEY": "sk_live_must_not_show",
               "CARTD_PAYMENTS_WEBHOOK_SECRET": "whsec_must_not_show",
               "CARTD_STORE_URL": "postgresql://cartd:pg-password-hidden@db:5432/cartd",
               "CARTD_HTTP_PORT": "9123", "CARTD_HTTP_DRAIN_PERIOD": "10s"}
        out = run("config", "--print", "--json", env=env)
        self.assertEqual(out.returncode, 0, out.stderr)
        keys = {k["key"]: k for k in json.loads(out.stdout)["keys"]}
        self.assertEqual(keys["http.port"]["value"], "9123")
        self.assertEqual(keys["http.port"]["env"], "CARTD_HTTP_PORT")
        self.assertEqual(keys["http.drain_period"]["value"], "10s")
        self.assertEqual(keys["store.url"]["value"], "postgresql://cartd:********@db:5432/cartd")
        for k in ("auth.jwt_secret", "auth.operator_token", "payments.api_key",
                  "payments.webhook_secret"):
            self.assertTrue(keys[k]["secret"], k)
            self.assertEqual(keys[k]["value"], "********", k)
        self.assertFalse(keys["http.port"]["secret"])
        text = run("config", "--print", env=env)
        self.assertEqual(text.returncode, 0, text.stderr)
        for secret in [v for k, v in env.items() if "PORT" not in k and "DRAIN" not in k]:
            for piece in ("must-not-show", "must_not_show", "pg-password-hidden"):
                self.assertNotIn(piece, out.stdout + text.stdout + text.stderr)
        self.assertIn("[http]\n", text.stdout)
        self.assertIn('drain_period = "10s"  # CARTD_HTTP_DRAIN_PERIOD', text.stdout)
        self.assertIn("port = 9123  # CARTD_HTTP_PORT", text.stdout)

    def test_print_round_trips_through_check(self):
        out = run("config", "--print")
        self.assertEqual(out.returncode, 0, out.stderr)
        path = os.path.join(tempfile.mkdtemp(), "printed.toml")
        # The printed JWT secret is empty (unset); a TOML file may not hold an empty one.
        with open(path, "w") as f:
            f.write("\n".join(l for l in out.stdout.splitlines()
                              if not l.startswith("jwt_secret")) + "\n")
        check = run("config", "--check", path)
        self.assertEqual(check.returncode, 0, check.stderr)
        self.assertIn("is valid", check.stdout)

    def test_check_lists_every_error_and_exits_2(self):
        path = os.path.join(tempfile.mkdtemp(), "bad.toml")
        with open(path, "w") as f:
            f.write('[http]\nport = 70000\nbogus = 1\n[cart]\nidle_timeout = "soon"\n')
        out = run("config", "--check", path)
        self.assertEqual(out.returncode, 2)
        self.assertIn("unknown key http.bogus", out.stderr)
        self.assertIn("http.port", out.stderr)
        self.assertIn("cart.idle_timeout", out.stderr)
        missing = run("config", "--check", path + ".nope")
        self.assertEqual(missing.returncode, 2)
        self.assertIn("no such file", missing.stderr)
        self.assertEqual(run("config").returncode, 2)

    def test_check_reads_the_file_alone(self):
        path = os.path.join(tempfile.mkdtemp(), "ok.toml")
        with open(path, "w") as f:
            f.write("[http]\nport = 9000\n")
        out = run("config", "--check", path, env={"CARTD_HTTP_PORT": "nonsense"})
        self.assertEqual(out.returncode, 0, out.stderr)


class DrainTest(unittest.TestCase):
    def test_sigterm_turns_not_ready_keeps_serving_for_the_drain_then_exits_0(self):
        s = Server(CARTD_HTTP_DRAIN_PERIOD="1500ms")
        c = s.client()
        user = new_user()
        cart = new_cart(c, user)
        pid = put_product(c, [{"id": "v", "sku": "S", "price": 100, "stock": 1000}])
        self.assertEqual(c.get("/health/ready")[0], 200)
        started = time.time()
        s.proc.send_signal(signal.SIGTERM)
        time.sleep(0.2)
        st, h, body, _ = Client(s.port).get("/health/ready")
        self.assertEqual(st, 503)
        self.assertEqual(body["reason"], "draining")
        self.assertTrue(Client(s.port).get("/health/detailed")[2]["components"]["http"]["draining"])
        self.assertIn("retry-after", h)
        # Still serving, and asking clients to reconnect (to another node).
        added = 0
        while time.time() - started < 1.2 and added < 900:  # a line holds at most 999
            st, h, _, raw = Client(s.port).post("/cart/%s/items" % cart["id"],
                                                {"productId": pid, "variantId": "v", "quantity": 1},
                                                headers=user)
            self.assertEqual(st, 201, raw)
            self.assertEqual(h.get("connection", "").lower(), "close")
            added += 1
        code = s.proc.wait(timeout=15)
        took = time.time() - started
        s.proc = None
        s.log.close()
        self.assertEqual(code, 0)
        self.assertGreaterEqual(took, 1.4)
        lines = log_lines(s)
        self.assertTrue(any(l.get("msg") == "draining" and l.get("drainMillis") == 1500
                            for l in lines), lines[-5:])
        # Every acknowledged add is in the store.
        s.start()
        st, _, got, _ = s.client().get("/cart/" + cart["id"], headers=user)
        self.assertEqual(sum(i["quantity"] for i in got["items"]), added)
        s.stop()

    def test_without_a_drain_period_sigterm_stops_at_once(self):
        s = Server()
        started = time.time()
        self.assertEqual(s.stop(), 0)
        self.assertLess(time.time() - started, 10)


class LogTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.s = Server(CARTD_HTTP_ACCESS_LOG="true")

    @classmethod
    def tearDownClass(cls):
        cls.s.stop()

    def test_every_line_is_json_and_an_incoming_traceparent_is_continued(self):
        c = self.s.client()
        trace = "4bf92f3577b34da6a3ce929d0e0e4736"
        parent = "00f067aa0ba902b7"
        st, _, _, _ = c.get("/health", headers={"traceparent": "00-%s-%s-01" % (trace, parent),
                                                 "X-Request-Id": "req-trace-1"})
        self.assertEqual(st, 200)
        st, _, _, _ = c.get("/health", headers={"traceparent": "00-%s-%s-01" % ("0" * 32, parent),
                                                 "X-Request-Id": "req-trace-2"})
        st, _, _, _ = c.get("/health", headers={"X-Request-Id": "req-trace-3"})
        lines = log_lines(self.s)
        by_id = {l.get("requestId"): l for l in lines if l.get("msg") == "access"}
        first = by_id["req-trace-1"]
        self.assertEqual(first["traceId"], trace)
        self.assertEqual(first["parentSpanId"], parent)
        self.assertRegex(first["spanId"], "^[0-9a-f]{16}$")
        self.assertNotEqual(first["spanId"], parent)
        # An invalid one (all-zero trace id) starts a new trace, as does none.
        for rid in ("req-trace-2", "req-trace-3"):
            self.assertRegex(by_id[rid]["traceId"], "^[0-9a-f]{32}$")
            self.assertNotEqual(by_id[rid]["traceId"], "0" * 32)
            self.assertNotIn("parentSpanId", by_id[rid])
        self.assertNotEqual(by_id["req-trace-2"]["traceId"], by_id["req-trace-3"]["traceId"])

    def test_admin_writes_leave_an_audit_line_and_reads_do_not(self):
        c = self.s.client()
        admin = bearer(jwt("ops-alice", roles=["admin"]))
        pid = put_product(c, [{"id": "v", "sku": "S", "price": 100, "stock": 10}])
        product = {"name": "Renamed", "currency": "USD", "active": True,
                   "variants": [{"id": "v", "sku": "S", "price": 100, "stock": 10}]}
        st, _, _, raw = c.put("/admin/products/" + pid, product,
                              headers=dict(admin, **{"X-Request-Id": "audit-patch"}))
        self.assertEqual(st, 200, raw)
        st, _, _, _ = c.get("/products/" + pid, headers=dict(admin, **{"X-Request-Id": "audit-get"}))
        self.assertEqual(st, 200)
        user = new_user()
        st, _, _, _ = c.put("/admin/products/" + pid, product,
                            headers=dict(user, **{"X-Request-Id": "audit-refused"}))
        self.assertEqual(st, 403)
        audits = {l["requestId"]: l for l in log_lines(self.s) if l.get("msg") == "audit"}
        patch = audits["audit-patch"]
        self.assertEqual(patch["who"], "ops-alice")
        self.assertEqual(patch["method"], "PUT")
        self.assertEqual(patch["route"], "/api/v1/admin/products/{productId}")
        self.assertEqual(patch["status"], 200)
        self.assertRegex(patch["traceId"], "^[0-9a-f]{32}$")
        self.assertIn("before", patch)
        self.assertIn("after", patch)
        self.assertNotIn("audit-get", audits)
        refused = audits["audit-refused"]
        self.assertEqual(refused["status"], 403)
        self.assertFalse(refused["admin"])
        for l in audits.values():
            self.assertNotIn(SECRET, json.dumps(l))

    def test_an_order_change_is_audited_with_versions_before_and_after(self):
        # Orders carry versions: an admin status change logs the one it replaced and the new one.
        c = self.s.client()
        user = new_user()
        pid = put_product(c, [{"id": "v", "sku": "S", "price": 500, "stock": 10}])
        cart = new_cart(c, user)
        st, _, _, raw = c.post("/cart/%s/items" % cart["id"],
                               {"productId": pid, "variantId": "v", "quantity": 1}, headers=user)
        self.assertEqual(st, 201, raw)
        order = self._checkout(c, cart["id"], user)
        st, _, changed, raw = c.request("PATCH", "/orders/" + order["id"], body={"status": "fulfilled"},
                                        headers=dict(ADMIN, **{"X-Request-Id": "audit-order"}))
        self.assertEqual(st, 200, raw)
        audit = [l for l in log_lines(self.s) if l.get("requestId") == "audit-order"
                 and l.get("msg") == "audit"][0]
        self.assertEqual(audit["after"], changed["version"])
        self.assertEqual(audit["before"], changed["version"] - 1)

    def _checkout(self, c, cart_id, user):
        address = {"name": "A", "line1": "1 St", "city": "X", "postalCode": "1", "country": "US"}
        st, _, session, raw = c.post("/checkout/session", {"cartId": cart_id,
                                                           "shippingAddress": address}, headers=user)
        self.assertEqual(st, 201, raw)
        st, _, order, raw = c.post("/checkout/process", {"sessionId": session["id"], "payment":
                                                         {"method": "card", "token": "tok_visa"}},
                                   headers=user)
        self.assertEqual(st, 201, raw)
        return order

class SecretsInLogsTest(unittest.TestCase):
    """A run through every credentialled path with the access log on: the log never holds the
    JWT secret, a JWT, a session token, the operator token, the payment key or the webhook
    secret."""

    def test_no_secret_reaches_the_log(self):
        api_key = "sk_live_" + uuid.uuid4().hex
        hook = "whsec_" + uuid.uuid4().hex
        operator = "op-" + uuid.uuid4().hex
        fake = FakePayments(api_key, hook).start()
        env = dict(fake.cartd_env())
        env.update({"CARTD_HTTP_ACCESS_LOG": "true", "CARTD_AUTH_OPERATOR_TOKEN": operator,
                    "CARTD_PAYMENTS_TIMEOUT": "1s"})
        s = Server(**env)
        try:
            fake.set_webhook_url("http://127.0.0.1:%d/api/v1/payments/webhook" % s.port)
            c = s.client()
            user_jwt = jwt("secret-test-user")
            user = bearer(user_jwt)
            pid = put_product(c, [{"id": "v", "sku": "S", "price": 700, "stock": 50}])
            sess = new_session(c)
            guest = {"X-Session-Token": sess["token"]}
            for who in (user, guest):
                cart = new_cart(c, who)
                c.post("/cart/%s/items" % cart["id"], {"productId": pid, "variantId": "v",
                                                        "quantity": 1}, headers=who)
            address = {"name": "A", "line1": "1 St", "city": "X", "postalCode": "1", "country": "US"}
            cart = new_cart(c, user)
            c.post("/cart/%s/items" % cart["id"], {"productId": pid, "variantId": "v", "quantity": 2},
                   headers=user)
            st, _, checkout, raw = c.post("/checkout/session", {"cartId": cart["id"],
                                                                "shippingAddress": address},
                                          headers=user)
            self.assertEqual(st, 201, raw)
            fake.set_mode("pending")
            trace = uuid.uuid4().hex
            st, _, _, raw = c.post("/checkout/process", {"sessionId": checkout["id"], "payment":
                                                         {"method": "card", "token": "tok_visa"}},
                                   headers=dict(user, traceparent="00-%s-%s-01" % (trace, "ab" * 8)))
            self.assertEqual(st, 202, raw)
            # The shopper's trace goes on to the provider: same trace id, cartd's span as parent.
            calls = [x for x in fake.calls() if x["path"] == "/v1/payments"]
            self.assertRegex(calls[-1]["traceparent"] or "", "^00-%s-[0-9a-f]{16}-01$" % trace)
            self.assertNotIn("ab" * 8, calls[-1]["traceparent"])
            paid = [p for p in fake.payments() if p["reference"] == checkout["id"]]
            fake.confirm(paid[0]["id"], "authorized")  # a signed webhook to cartd
            fake.set_mode("failing")  # failed provider calls are logged: without the key
            cart2 = new_cart(c, user)
            c.post("/cart/%s/items" % cart2["id"], {"productId": pid, "variantId": "v", "quantity": 1},
                   headers=user)
            st, _, checkout2, _ = c.post("/checkout/session", {"cartId": cart2["id"],
                                                               "shippingAddress": address},
                                         headers=user)
            c.post("/checkout/process", {"sessionId": checkout2["id"], "payment":
                                         {"method": "card", "token": "tok_visa"}},
                   headers=dict(user, **{"X-Request-Id": "secrets-failing"}))
            fake.set_mode("normal")
            # Refused credentials: a JWT signed with another secret, a wrong session token, a
            # wrong operator token, a webhook with a bad signature.
            c.get("/cart", headers=bearer(jwt("x", secret="another-secret-0123456789")))
            c.get("/cart", headers={"X-Session-Token": "not-a-token-" + sess["token"]})
            c.get("/dashboard", base=False, headers=bearer(operator + "x"))
            c.get("/dashboard/data", base=False, headers=bearer(operator))
            c.post("/payments/webhook", {"id": "evt", "type": "payment.authorized"},
                   headers={"Cartd-Signature": "t=1,v1=" + "0" * 64})
            c.request("PATCH", "/orders/nope", body={"status": "shipped"}, headers=ADMIN)
            self.assertEqual(s.stop(), 0)
        finally:
            fake.stop()
            if s.proc is not None:
                s.stop()
        with open(os.path.join(s.dir, "cartd.log"), "rb") as f:
            log = f.read().decode(errors="replace")
        self.assertIn('"msg":"access"', log)
        self.assertIn('"msg":"audit"', log)
        for name, secret in (("JWT secret", SECRET), ("user JWT", user_jwt),
                             ("admin JWT", ADMIN["Authorization"][7:]),
                             ("session token", sess["token"]), ("operator token", operator),
                             ("payment key", api_key), ("webhook secret", hook)):
            self.assertNotIn(secret, log, name)
        # JSON lines, every one; the failed provider call carries its request's trace id.
        lines = [json.loads(l) for l in log.splitlines() if l.startswith("{")]
        access = [l for l in lines if l.get("requestId") == "secrets-failing"][0]
        failed = [l for l in lines if l.get("msg") == "payment call failed"]
        self.assertIn(access["traceId"], [l.get("traceId") for l in failed], failed)


def raw(port, method, path, headers=None, body=None):
    """Outside the OpenAPI check: preflights are no route of API.md's."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


class SurfaceTest(unittest.TestCase):
    SHOP = "https://shop.example"

    def test_security_headers_on_every_answer(self):
        s = Server()
        try:
            user = new_user()
            for method, path, headers, body in (
                    ("GET", "/api/v1/health", {}, None),
                    ("GET", "/api/v1/nope", {}, None),
                    ("GET", "/api/v1/cart", {}, None),
                    ("POST", "/api/v1/cart", dict(user, **{"Content-Type": "application/json"}),
                     b"{"),
                    ("GET", "/metrics", {}, None)):
                st, h, _ = raw(s.port, method, path, headers, body)
                self.assertEqual(h.get("x-content-type-options"), "nosniff", (method, path, st))
                self.assertEqual(h.get("x-frame-options"), "DENY", (method, path))
                self.assertEqual(h.get("referrer-policy"), "no-referrer", (method, path))
                self.assertNotIn("access-control-allow-origin", h)
            # No CORS by default: a preflight is refused, an answer carries no CORS header.
            st, h, _ = raw(s.port, "OPTIONS", "/api/v1/cart",
                           {"Origin": self.SHOP, "Access-Control-Request-Method": "POST"})
            self.assertEqual(st, 403)
            self.assertNotIn("access-control-allow-origin", h)
        finally:
            s.stop()

    def test_cors_for_the_configured_origins_only(self):
        s = Server(CARTD_HTTP_CORS_ORIGINS=self.SHOP + ",http://localhost:3000")
        try:
            st, h, body = raw(s.port, "OPTIONS", "/api/v1/cart/%s/items" % uuid.uuid4(),
                              {"Origin": self.SHOP, "Access-Control-Request-Method": "POST",
                               "Access-Control-Request-Headers": "idempotency-key, content-type"})
            self.assertEqual(st, 204, body)
            self.assertEqual(h["access-control-allow-origin"], self.SHOP)
            self.assertEqual(h["access-control-allow-methods"], "POST")
            allowed = {x.strip().lower() for x in h["access-control-allow-headers"].split(",")}
            self.assertTrue({"idempotency-key", "if-match", "x-session-token", "authorization",
                             "content-type"} <= allowed)
            self.assertIn("origin", h.get("vary", "").lower())
            # A method the route does not take, and an origin not on the list.
            st, h, _ = raw(s.port, "OPTIONS", "/api/v1/health",
                           {"Origin": self.SHOP, "Access-Control-Request-Method": "DELETE"})
            self.assertEqual(st, 405)
            st, h, _ = raw(s.port, "OPTIONS", "/api/v1/cart",
                           {"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"})
            self.assertEqual(st, 403)
            self.assertNotIn("access-control-allow-origin", h)
            # The real request: allowed origin gets ACAO and sees ETag; another gets nothing.
            user = new_user()
            st, h, body = raw(s.port, "POST", "/api/v1/cart",
                              dict(user, **{"Origin": self.SHOP, "Content-Type": "application/json"}),
                              b"{}")
            self.assertEqual(st, 201, body)
            self.assertEqual(h["access-control-allow-origin"], self.SHOP)
            self.assertIn("etag", h["access-control-expose-headers"].lower())
            st, h, _ = raw(s.port, "GET", "/api/v1/health", {"Origin": "https://evil.example"})
            self.assertEqual(st, 200)
            self.assertNotIn("access-control-allow-origin", h)
        finally:
            s.stop()

    def test_a_slow_client_is_cut_off_and_others_are_served_meanwhile(self):
        s = Server(CARTD_HTTP_HEADER_TIMEOUT="1s", CARTD_HTTP_BODY_TIMEOUT="1s")
        try:
            for head, tail in ((b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\nX-Slow: ", b"a" * 100),
                               (b"POST /api/v1/cart HTTP/1.1\r\nHost: x\r\nContent-Type: "
                                b"application/json\r\nContent-Length: 100\r\n\r\n", b" " * 100)):
                sock = socket.create_connection(("127.0.0.1", s.port))
                sock.settimeout(10)
                started = time.time()
                sock.sendall(head)
                cut = None
                served = 0
                try:
                    for ch in tail:  # a byte every 100 ms: 10 s if nobody stops it
                        sock.send(bytes([ch]))
                        if raw(s.port, "GET", "/api/v1/health")[0] == 200:
                            served += 1
                        time.sleep(0.1)
                except OSError:
                    cut = time.time() - started
                answer = b""
                try:
                    answer = sock.recv(200)
                except OSError:
                    pass
                sock.close()
                cut = cut if cut is not None else time.time() - started
                self.assertLess(cut, 8, head)  # the timeout is 1 s; the machine may be slow
                self.assertTrue(answer == b"" or answer.startswith(b"HTTP/1.1 408"), answer)
                self.assertGreater(served, 0)
        finally:
            s.stop()

    def test_a_malformed_origin_list_is_refused_at_start(self):
        out = run("config", "--print", env={"CARTD_HTTP_CORS_ORIGINS": "https://shop.example/path,*"})
        self.assertEqual(out.returncode, 2)
        self.assertIn("CARTD_HTTP_CORS_ORIGINS", out.stderr)


class EmptyActorsTest(unittest.TestCase):
    def test_requests_for_carts_that_do_not_exist_leave_no_actor_behind(self):
        # Seen on the dashboard: every GET of a random cart id kept an empty cart actor alive
        # until the idle timeout.
        s = Server()
        try:
            c = s.client()
            user = new_user()
            kept = new_cart(c, user)
            gone = new_cart(c, user)
            self.assertEqual(c.delete("/cart/" + gone["id"], headers=user)[0], 204)
            for _ in range(50):
                self.assertEqual(c.get("/cart/" + str(uuid.uuid4()), headers=user)[0], 404)
            self.assertEqual(c.get("/cart/" + gone["id"], headers=user)[0], 404)
            deadline = time.time() + 10
            while time.time() < deadline:
                live = c.get("/health/detailed")[2]["components"]["actors"]["cart"]["live"]
                if live == 1:
                    break
                time.sleep(0.05)
            self.assertEqual(live, 1)  # the cart that exists
            # Creating a cart on an id that answered 404 still works, and it is served.
            self.assertEqual(c.get("/cart/" + kept["id"], headers=user)[0], 200)
        finally:
            s.stop()


if __name__ == "__main__":
    unittest.main(verbosity=2)
