"""Self-test of fake_payments.py: runs it as a subprocess and exercises every mode.

    python3 tests/fakes/test_fake_payments.py
"""
import hashlib
import hmac
import http.client
import json
import os
import sys
import threading
import time
import unittest
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fake_payments import FakePayments  # noqa: E402

API_KEY = "pk_test_" + uuid.uuid4().hex[:8]
SECRET = "whsec_test_123"


class Receiver(BaseHTTPRequestHandler):
    """Stands in for cartd's webhook endpoint: checks the signature the way API.md says, on its
    own (independent of fake_payments.sign), and answers 200 or 400 invalid_signature."""
    protocol_version = "HTTP/1.1"
    got = []

    def log_message(self, *args):
        pass

    def do_POST(self):
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        header = self.headers.get("Cartd-Signature") or ""
        parts = [p.split("=", 1) for p in header.split(",") if "=" in p]
        t = next((v for k, v in parts if k == "t"), None)
        valid = False
        if t is not None and t.isdigit() and abs(time.time() - int(t)) <= 300:
            want = hmac.new(SECRET.encode(), t.encode() + b"." + raw, hashlib.sha256).hexdigest()
            valid = any(k == "v1" and hmac.compare_digest(v, want) for k, v in parts)
        Receiver.got.append({"path": self.path, "header": header, "raw": raw, "valid": valid})
        out = json.dumps({"received": True} if valid else {"error": "invalid_signature"}).encode()
        self.send_response(200 if valid else 400)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)


def v1(fake, method, path, body=None, key="auto", auth=True, ctype="application/json", timeout=30):
    """One provider call as cartd makes it; returns (status, json-or-None, raw bytes)."""
    headers = {}
    if auth:
        headers["Authorization"] = "Bearer " + (API_KEY if auth is True else auth)
    if ctype:
        headers["Content-Type"] = ctype
    if method == "POST" and key:
        headers["Idempotency-Key"] = uuid.uuid4().hex if key == "auto" else key
    conn = http.client.HTTPConnection("127.0.0.1", fake.port, timeout=timeout)
    try:
        conn.request(method, path, body=None if body is None else json.dumps(body).encode(),
                     headers=headers)
        resp = conn.getresponse()
        raw = resp.read()
        return resp.status, (json.loads(raw) if raw else None), raw
    finally:
        conn.close()


def pay(fake, token="tok_visa", amount=1999, reference=None, key="auto"):
    return v1(fake, "POST", "/v1/payments", {"amount": amount, "currency": "USD", "token": token,
                                             "reference": reference or "cs_" + uuid.uuid4().hex},
              key=key)


class FakePaymentsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.receiver = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
        threading.Thread(target=cls.receiver.serve_forever, daemon=True).start()
        cls.hook = "http://127.0.0.1:%d/api/v1/payments/webhook" % cls.receiver.server_address[1]
        cls.fake = FakePayments(API_KEY, SECRET).start()  # webhook URL set later, as with cartd

    @classmethod
    def tearDownClass(cls):
        cls.fake.stop()
        cls.receiver.shutdown()
        cls.receiver.server_close()

    def setUp(self):
        self.fake.set_mode("normal")
        self.fake.set_webhook_url(self.hook)
        self.fake.reset()
        Receiver.got.clear()

    def test_start_and_url(self):
        self.assertEqual(self.fake.url, "http://127.0.0.1:%d" % self.fake.port)
        env = self.fake.cartd_env()
        self.assertEqual(env["CARTD_PAYMENTS_URL"], self.fake.url)
        self.assertEqual(env["CARTD_PAYMENTS_PROVIDER"], "http")

    def test_auth_refused(self):
        for auth in (False, "wrong-key"):
            status, body, _ = v1(self.fake, "GET", "/v1/payments?reference=x", auth=auth)
            self.assertEqual(status, 401)
            self.assertEqual(body["error"], "unauthorized")
            status, _, _ = v1(self.fake, "POST", "/v1/payments", {
                "amount": 1, "currency": "USD", "token": "tok_visa", "reference": "r"}, auth=auth)
            self.assertEqual(status, 401)
        self.assertEqual([p for p in self.fake.payments() if p["reference"] == "r"], [])
        auths = [c["authorization"] for c in self.fake.calls()]
        self.assertEqual(auths, [None, None, "Bearer wrong-key", "Bearer wrong-key"])

    def test_authorize_decline_pending(self):
        for token, want in (("tok_visa", "authorized"), ("tok_declined", "declined"),
                            ("tok_pending", "pending")):
            status, p, _ = pay(self.fake, token, amount=4200, reference="ref-" + token)
            self.assertEqual(status, 201, p)
            self.assertEqual(p["status"], want)
            self.assertTrue(p["id"].startswith("pay_"))
            self.assertEqual((p["amount"], p["currency"], p["reference"]), (4200, "USD", "ref-" + token))

    def test_bad_requests(self):
        good = {"amount": 100, "currency": "USD", "token": "tok_visa", "reference": "r"}
        for bad in ({**good, "amount": -1}, {**good, "amount": "100"}, {**good, "currency": 5},
                    {k: v for k, v in good.items() if k != "reference"}, {**good, "token": "tok_nope"}, [1]):
            self.assertEqual(v1(self.fake, "POST", "/v1/payments", bad)[0], 400, bad)
        self.assertEqual(v1(self.fake, "POST", "/v1/payments", good, key=None)[0], 400)
        self.assertEqual(v1(self.fake, "POST", "/v1/payments", good, ctype="text/plain")[0], 415)
        for action in ("capture", "void", "refunds"):
            self.assertEqual(v1(self.fake, "POST", "/v1/payments/pay_nope/" + action, {"amount": 1})[0], 404)

    def test_idempotent_replay(self):
        ref, key = "ref-" + uuid.uuid4().hex, uuid.uuid4().hex
        s1, p1, raw1 = pay(self.fake, reference=ref, key=key)
        s2, p2, raw2 = pay(self.fake, reference=ref, key=key)
        self.assertEqual((s1, s2), (201, 201))
        self.assertEqual(p1["id"], p2["id"])
        self.assertEqual(raw1, raw2)
        self.assertEqual(len([p for p in self.fake.payments() if p["reference"] == ref]), 1)
        # the replay is the first answer even after the payment moved on
        self.assertEqual(v1(self.fake, "POST", "/v1/payments/%s/capture" % p1["id"], {"amount": 1999})[0], 200)
        self.assertEqual(pay(self.fake, reference=ref, key=key)[2], raw1)
        # a new key is a new payment
        self.assertNotEqual(pay(self.fake, reference=ref)[1]["id"], p1["id"])
        self.assertEqual([c["idempotencyKey"] for c in self.fake.calls()][:2], [key, key])

    def test_racing_retries_charge_once(self):
        self.fake.set_mode("slow", delay=0.5)
        ref, key, out = "ref-" + uuid.uuid4().hex, uuid.uuid4().hex, []
        threads = [threading.Thread(target=lambda: out.append(pay(self.fake, reference=ref, key=key)))
                   for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(len({r[1]["id"] for r in out}), 1)
        self.assertEqual(len([p for p in self.fake.payments() if p["reference"] == ref]), 1)

    def test_capture_void_refund(self):
        pid = pay(self.fake, amount=1000)[1]["id"]
        status, p, _ = v1(self.fake, "POST", "/v1/payments/%s/capture" % pid, {"amount": 1000})
        self.assertEqual((status, p["status"], p["id"]), (200, "captured", pid))
        self.assertEqual(v1(self.fake, "POST", "/v1/payments/%s/capture" % pid, {"amount": 1000})[1]["status"],
                         "captured")  # again, new key: still 200
        self.assertEqual(v1(self.fake, "POST", "/v1/payments/%s/void" % pid, {})[0], 409)
        status, r, _ = v1(self.fake, "POST", "/v1/payments/%s/refunds" % pid, {"amount": 400})
        self.assertEqual(status, 201)
        self.assertTrue(r["id"].startswith("re_"))
        self.assertEqual((r["paymentId"], r["amount"], r["status"]), (pid, 400, "succeeded"))
        self.assertEqual(v1(self.fake, "GET", "/v1/payments/" + pid)[1]["status"], "captured")
        self.assertEqual(v1(self.fake, "POST", "/v1/payments/%s/refunds" % pid, {"amount": 601})[0], 400)
        self.assertEqual(v1(self.fake, "POST", "/v1/payments/%s/refunds" % pid, {"amount": 600})[0], 201)
        self.assertEqual(v1(self.fake, "GET", "/v1/payments/" + pid)[1]["status"], "refunded")
        self.assertEqual(len([r for r in self.fake.refunds() if r["paymentId"] == pid]), 2)

        vid = pay(self.fake)[1]["id"]
        status, p, _ = v1(self.fake, "POST", "/v1/payments/%s/void" % vid, {})
        self.assertEqual((status, p["status"]), (200, "voided"))
        self.assertEqual(v1(self.fake, "POST", "/v1/payments/%s/void" % vid, {})[0], 200)  # idempotent
        self.assertEqual(v1(self.fake, "POST", "/v1/payments/%s/capture" % vid, {"amount": 1999})[0], 409)
        did = pay(self.fake, "tok_declined")[1]["id"]
        self.assertEqual(v1(self.fake, "POST", "/v1/payments/%s/capture" % did, {"amount": 1999})[0], 409)
        self.assertEqual(v1(self.fake, "POST", "/v1/payments/%s/refunds" % vid, {"amount": 1})[0], 409)

    def test_lookup_by_reference(self):
        ref = "cs_" + uuid.uuid4().hex
        ids = {pay(self.fake, reference=ref)[1]["id"], pay(self.fake, "tok_declined", reference=ref)[1]["id"]}
        pay(self.fake)  # another reference
        status, body, _ = v1(self.fake, "GET", "/v1/payments?reference=" + ref)
        self.assertEqual(status, 200)
        self.assertEqual({p["id"] for p in body["items"]}, ids)
        self.assertEqual(v1(self.fake, "GET", "/v1/payments?reference=none")[1], {"items": []})
        self.assertEqual(self.fake.calls()[-1]["path"], "/v1/payments?reference=none")

    def test_failing_mode(self):
        self.fake.set_mode("failing")
        key, ref = uuid.uuid4().hex, "ref-" + uuid.uuid4().hex
        self.assertEqual(pay(self.fake, reference=ref, key=key)[0], 503)
        self.assertEqual(v1(self.fake, "GET", "/v1/payments?reference=x")[0], 503)
        self.assertEqual([p for p in self.fake.payments() if p["reference"] == ref], [])
        self.fake.set_mode("normal")  # a 503 is not replayed: the retry does the work
        self.assertEqual(pay(self.fake, reference=ref, key=key)[0], 201)

    def test_down_mode(self):
        self.fake.set_mode("down")
        with self.assertRaises((http.client.RemoteDisconnected, ConnectionError)):
            pay(self.fake)
        self.assertEqual(len(self.fake.calls()), 1)

    def test_slow_mode_does_not_block_control(self):
        self.fake.set_mode("slow", delay=1.5)
        out = []
        t0 = time.time()
        worker = threading.Thread(target=lambda: out.append((pay(self.fake), time.time() - t0)))
        worker.start()
        time.sleep(0.2)
        t1 = time.time()
        self.assertEqual(len(self.fake.calls()), 1)  # seen while still sleeping
        self.fake.payments()
        self.assertLess(time.time() - t1, 0.5)
        worker.join()
        (status, p, _), took = out[0]
        self.assertEqual((status, p["status"]), (201, "authorized"))
        self.assertGreaterEqual(took, 1.5)
        self.assertEqual(self.fake.set_mode("slow")["delaySeconds"], 30)  # the default
        self.fake.set_mode("slow", delay=0.3)
        with self.assertRaises(OSError):  # a client timing out first; the fake survives it
            v1(self.fake, "GET", "/v1/payments?reference=x", timeout=0.1)
        time.sleep(0.4)  # the fake has now answered into a closed connection
        self.fake.set_mode("normal")
        self.assertEqual(v1(self.fake, "GET", "/v1/payments?reference=x")[0], 200)

    def test_pending_mode(self):
        self.fake.set_mode("pending")
        self.assertEqual(pay(self.fake)[1]["status"], "pending")
        self.assertEqual(pay(self.fake, "tok_declined")[1]["status"], "declined")

    def test_confirm_sends_signed_webhook(self):
        pid = pay(self.fake, "tok_pending")[1]["id"]
        out = self.fake.confirm(pid, "authorized")
        self.assertEqual(out["status"], 200, out)
        self.assertEqual(len(Receiver.got), 1)
        got = Receiver.got[0]
        self.assertTrue(got["valid"])
        self.assertEqual(got["path"], "/api/v1/payments/webhook")
        event = json.loads(got["raw"])
        self.assertEqual(event, out["event"])
        self.assertTrue(event["id"].startswith("evt_"))
        self.assertEqual((event["type"], event["data"]["id"], event["data"]["status"]),
                         ("payment.authorized", pid, "authorized"))
        self.assertLess(abs(event["created"] - time.time()), 5)
        self.assertEqual([p["status"] for p in self.fake.payments() if p["id"] == pid], ["authorized"])
        out = self.fake.confirm(pid, "captured", event_id="evt_fixed")
        self.assertEqual((out["event"]["id"], out["event"]["type"]), ("evt_fixed", "payment.captured"))
        self.assertEqual(v1(self.fake, "POST", "/v1/payments/%s/refunds" % pid, {"amount": 1999})[0], 201)
        out = self.fake.confirm(pay(self.fake, "tok_pending")[1]["id"], "declined", send=False)
        self.assertEqual((out["event"]["type"], out["status"], len(Receiver.got)), ("payment.declined", None, 2))

    def test_webhook_variants(self):
        event = {"id": "evt_x", "type": "refund.succeeded", "created": int(time.time()),
                 "data": {"id": "re_1", "paymentId": "pay_1", "amount": 5, "status": "succeeded"}}
        send = self.fake.send_webhook
        self.assertEqual(send(event)["status"], 200)
        self.assertEqual(json.loads(Receiver.got[-1]["raw"]), event)
        out = send(event, secrets=["old-secret", SECRET])  # rotation: any v1 matches
        self.assertEqual(out["status"], 200)
        self.assertEqual(out["signature"].count("v1="), 2)
        out = send(event, secrets=["wrong"])
        self.assertEqual((out["status"], out["body"]), (400, {"error": "invalid_signature"}))
        self.assertEqual(send(event, secrets=[])["status"], 400)
        self.assertEqual(send(event, timestamp=int(time.time()) - 301)["status"], 400)
        self.assertTrue(send(event, timestamp=1234)["signature"].startswith("t=1234,v1="))
        self.assertEqual(send(event, body_override=json.dumps({**event, "id": "evt_y"}))["status"], 400)
        self.assertEqual(send(event, signature=None)["status"], 400)
        self.assertEqual(Receiver.got[-1]["header"], "")
        self.assertEqual([g["valid"] for g in Receiver.got], [True, True] + [False] * 6)

    def test_no_webhook_url(self):
        self.fake.set_webhook_url(None)
        out = self.fake.send_webhook({"id": "evt_1"})
        self.assertIsNone(out["status"])
        self.assertIn("error", out)

    def test_calls_and_reset(self):
        key = uuid.uuid4().hex
        pid = pay(self.fake, key=key, reference="ref-calls")[1]["id"]
        v1(self.fake, "POST", "/v1/payments/%s/void" % pid, {}, key="k-void")
        calls = self.fake.calls()
        self.assertEqual([(c["method"], c["path"], c["idempotencyKey"]) for c in calls],
                         [("POST", "/v1/payments", key), ("POST", "/v1/payments/%s/void" % pid, "k-void")])
        self.assertEqual(calls[0]["body"]["reference"], "ref-calls")
        self.assertEqual(calls[1]["body"], {})
        self.assertEqual(calls[0]["authorization"], "Bearer " + API_KEY)
        self.fake.reset()
        self.assertEqual(self.fake.calls(), [])
        self.assertIn(pid, [p["id"] for p in self.fake.payments()])  # payments survive a reset

    def test_auto_confirm(self):
        with FakePayments(API_KEY, SECRET, webhook_url=self.hook, auto_confirm_after=0.3) as fake:
            fake.set_mode("pending")
            pid = pay(fake)[1]["id"]
            voided = pay(fake)[1]["id"]
            v1(fake, "POST", "/v1/payments/%s/void" % voided, {})
            deadline = time.time() + 5
            while not Receiver.got and time.time() < deadline:
                time.sleep(0.05)
            time.sleep(0.3)
            self.assertEqual(len(Receiver.got), 1)  # the voided one is left alone
            self.assertTrue(Receiver.got[0]["valid"])
            event = json.loads(Receiver.got[0]["raw"])
            self.assertEqual((event["type"], event["data"]["id"]), ("payment.authorized", pid))
            status = {p["id"]: p["status"] for p in fake.payments()}
            self.assertEqual((status[pid], status[voided]), ("authorized", "voided"))


if __name__ == "__main__":
    unittest.main(verbosity=2)
