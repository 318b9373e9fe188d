"""The `http` payment provider against the fake payment server (tests/fakes): its protocol,
timeouts, the circuit breaker, pending payments confirmed by signed webhooks, and the webhook's
signature rules. Each test class runs its own fake and its own cartd."""
import json
import os
import sys
import threading
import time
import unittest
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fakes"))
from cartd_api import ServerTest, Server, new_cart, new_user, put_product  # noqa: E402
from fake_payments import FakePayments  # noqa: E402

API_KEY = "sk_test_" + uuid.uuid4().hex
HOOK_SECRET = "whsec_" + uuid.uuid4().hex
ADDRESS = {"name": "Ada", "line1": "1 Main St", "city": "Springfield", "postalCode": "12345",
           "country": "US"}


def until(predicate, timeout=15):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    return predicate()


class ProviderCase(ServerTest):
    extra_env = {}

    @classmethod
    def setUpClass(cls):
        cls.fake = FakePayments(API_KEY, HOOK_SECRET).start()
        env = dict(cls.fake.cartd_env())
        env.update({"CARTD_PAYMENTS_TIMEOUT": "1s", "CARTD_CHECKOUT_RECONCILE_INTERVAL": "300ms"})
        env.update(cls.extra_env)
        try:
            cls.server = Server(**env)
        except BaseException:  # SkipTest without PostgreSQL too: the fake must not outlive us
            cls.fake.stop()
            raise
        cls.c = cls.server.client()
        cls.fake.set_webhook_url("http://127.0.0.1:%d/api/v1/payments/webhook" % cls.server.port)

    @classmethod
    def tearDownClass(cls):
        try:
            super().tearDownClass()
        finally:
            cls.fake.stop()

    def setUp(self):
        self.fake.set_mode("normal")

    def session(self, qty=1, stock=10):
        user = new_user()
        pid = put_product(self.c, [{"id": "v", "sku": "S", "price": 1250, "stock": stock}])
        cart = new_cart(self.c, user)
        st, _, _, raw = self.c.post("/cart/%s/items" % cart["id"],
                                    {"productId": pid, "variantId": "v", "quantity": qty}, headers=user)
        self.assertEqual(st, 201, raw)
        st, _, s, raw = self.c.post("/checkout/session", {"cartId": cart["id"], "shippingAddress": ADDRESS},
                                    headers=user)
        self.assertEqual(st, 201, raw)
        return user, pid, cart, s

    def process(self, user, s, token="tok_visa", client=None):
        return (client or self.c).post("/checkout/process",
                                       {"sessionId": s["id"], "payment": {"method": "card", "token": token}},
                                       headers=user)

    def calls_for(self, reference):
        return [c for c in self.fake.calls()
                if reference in json.dumps(c.get("body") or {}) or reference in c["path"]]

    def orders(self, user):
        st, _, body, raw = self.c.get("/orders", headers=user)
        self.assertEqual(st, 200, raw)
        return body["items"]

    def breaker(self):
        _, _, d, _ = self.c.get("/health/detailed")
        return d["components"]["circuitBreakers"]["payments"]


class HttpProviderTest(ProviderCase):
    def test_a_purchase_speaks_the_protocol_and_captures_the_amount_authorized(self):
        user, _, _, s = self.session(qty=2)
        st, hdrs, order, raw = self.process(user, s)
        self.assertEqual(st, 201, raw)
        self.assertEqual(order["payment"]["provider"], "http")
        self.assertEqual(order["payment"]["status"], "captured")
        self.assertEqual(order["payment"]["amount"], order["total"])
        self.assertEqual(order["total"], s["totals"]["total"])
        calls = self.calls_for(s["id"]) + [c for c in self.fake.calls() if order["payment"]["id"] in c["path"]]
        posts = [c for c in calls if c["method"] == "POST"]
        self.assertTrue(any(c["path"] == "/v1/payments" for c in posts), calls)
        self.assertTrue(any(c["path"].endswith("/capture") for c in posts), calls)
        for c in posts:
            self.assertEqual(c["authorization"], "Bearer " + API_KEY)
            self.assertTrue(c["idempotencyKey"])
        paid = [p for p in self.fake.payments() if p["reference"] == s["id"]]
        self.assertEqual([p["status"] for p in paid], ["captured"])

    def test_a_decline_is_402_and_a_new_card_is_a_new_operation(self):
        user, _, _, s = self.session()
        self.assertProblem(self.process(user, s, "tok_declined"), 402, "payment_declined")
        _, _, again, _ = self.c.get("/checkout/session/" + s["id"], headers=user)
        self.assertEqual(again["status"], "open")
        st, _, order, raw = self.process(user, s)
        self.assertEqual(st, 201, raw)
        keys = [c["idempotencyKey"] for c in self.calls_for(s["id"]) if c["path"] == "/v1/payments"]
        self.assertEqual(len(keys), 2)
        self.assertNotEqual(keys[0], keys[1])

    def test_a_timeout_is_504_once_and_the_retry_never_charges_twice(self):
        user, _, _, s = self.session()
        self.fake.set_mode("slow", delay=3)
        self.assertProblem(self.process(user, s), 504, "upstream_timeout")
        _, _, again, _ = self.c.get("/checkout/session/" + s["id"], headers=user)
        self.assertEqual(again["status"], "open")
        self.fake.set_mode("normal")
        # The slow call finished at the fake meanwhile (it authorized); the retry carries the
        # same key, so the fake replays that payment instead of making a second one.
        until(lambda: [p for p in self.fake.payments() if p["reference"] == s["id"]], 10)
        st, _, order, raw = self.process(user, s)
        self.assertEqual(st, 201, raw)
        keys = {c["idempotencyKey"] for c in self.calls_for(s["id"]) if c["path"] == "/v1/payments"}
        self.assertEqual(len(keys), 1, keys)
        paid = [p for p in self.fake.payments() if p["reference"] == s["id"]]
        self.assertEqual(len(paid), 1, paid)
        self.assertEqual(len(self.orders(user)), 1)


class BreakerTest(ProviderCase):
    extra_env = {"CARTD_PAYMENTS_BREAKER_FAILURES": "2", "CARTD_PAYMENTS_BREAKER_COOLDOWN": "1500ms"}

    def test_a_dead_provider_opens_the_breaker_carts_go_on_and_it_closes_again(self):
        user, pid, cart, s = self.session()
        self.fake.set_mode("failing")
        for _ in range(2):
            st, hdrs, body, raw = self.process(user, s)
            self.assertEqual(st, 503, raw)
        self.assertEqual(self.breaker()["state"], "open")
        self.fake.reset()
        st, hdrs, body, raw = self.process(user, s)
        self.assertProblem((st, hdrs, body, raw), 503, "unavailable")
        self.assertGreaterEqual(int(hdrs["retry-after"]), 1)
        self.assertEqual(self.fake.calls(), [], "an open breaker sends nothing")
        # Carts are not touched by the payment outage.
        other = new_user()
        c2 = new_cart(self.c, other)
        st, _, _, raw = self.c.post("/cart/%s/items" % c2["id"], {"productId": pid, "variantId": "v", "quantity": 1},
                                    headers=other)
        self.assertEqual(st, 201, raw)
        self.fake.set_mode("normal")
        self.assertEqual(until(lambda: self.breaker()["state"] == "half_open" and "half_open", 10), "half_open")
        st, _, order, raw = self.process(user, s)
        self.assertEqual(st, 201, raw)
        self.assertEqual(self.breaker()["state"], "closed")
        _, _, text, metrics_raw = self.c.get("/metrics", base=False)
        self.assertIn('cartd_circuit_breaker_state{name="payments"} 0', metrics_raw.decode())


class PendingTest(ProviderCase):
    def test_pending_answers_202_then_the_webhook_places_one_order(self):
        user, _, _, s = self.session()
        self.fake.set_mode("pending")
        st, _, body, raw = self.process(user, s)
        self.assertEqual(st, 202, raw)
        self.assertEqual(body["status"], "processing")
        st, _, body, raw = self.process(user, s)
        self.assertEqual(st, 202, raw)
        payments = [p for p in self.fake.payments() if p["reference"] == s["id"]]
        self.assertEqual(len(payments), 1, "a processing session starts no second payment")
        out = self.fake.confirm(payments[0]["id"], "authorized")
        self.assertEqual(out["status"], 200, out)
        done = until(lambda: self.c.get("/checkout/session/" + s["id"], headers=user)[2]["status"] == "completed")
        self.assertTrue(done)
        _, _, session, _ = self.c.get("/checkout/session/" + s["id"], headers=user)
        self.assertTrue(session["orderId"])
        st, _, order, raw = self.process(user, s)
        self.assertEqual(st, 200, raw)
        self.assertEqual(order["id"], session["orderId"])
        self.assertEqual(len(self.orders(user)), 1)

    def test_the_webhook_racing_process_and_itself_makes_one_order(self):
        user, _, _, s = self.session()
        self.fake.set_mode("pending")
        self.assertEqual(self.process(user, s)[0], 202)
        pay = [p for p in self.fake.payments() if p["reference"] == s["id"]][0]
        self.fake.confirm(pay["id"], "authorized", send=False)
        event = {"id": "evt_" + uuid.uuid4().hex, "type": "payment.authorized", "created": int(time.time()),
                 "data": dict(pay, status="authorized")}
        results = []

        def hook():
            results.append(self.fake.send_webhook(event)["status"])

        def proc():
            results.append(self.process(user, s, client=self.server.client())[0])

        threads = [threading.Thread(target=f) for f in (hook, hook, proc, hook, proc)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertTrue(until(lambda: len(self.orders(user)) == 1))
        time.sleep(0.3)
        self.assertEqual(len(self.orders(user)), 1, results)
        captures = [c for c in self.fake.calls() if c["path"].endswith(pay["id"] + "/capture")]
        self.assertEqual(len({c["idempotencyKey"] for c in captures}), 1)

    def test_a_declined_confirmation_reopens_the_session(self):
        user, _, _, s = self.session()
        self.fake.set_mode("pending")
        self.assertEqual(self.process(user, s)[0], 202)
        pay = [p for p in self.fake.payments() if p["reference"] == s["id"]][0]
        self.assertEqual(self.fake.confirm(pay["id"], "declined")["status"], 200)
        self.assertTrue(until(lambda: self.c.get("/checkout/session/" + s["id"], headers=user)[2]["status"] == "open"))
        self.fake.set_mode("normal")
        self.assertEqual(self.process(user, s)[0], 201)


class GiveBackTest(ProviderCase):
    extra_env = {"CARTD_CHECKOUT_SESSION_TTL": "2s"}

    def failed_voids(self):
        raw = self.c.get("/metrics", base=False)[3].decode()
        return sum(float(line.rsplit(" ", 1)[1]) for line in raw.splitlines()
                   if line.startswith("cartd_payment_calls_total{") and 'operation="void"' in line
                   and 'outcome="ok"' not in line)

    def status_of(self, payment_id):
        return [p for p in self.fake.payments() if p["id"] == payment_id][0]["status"]

    def test_a_give_back_the_provider_refused_is_repeated_by_reconciliation(self):
        user, _, _, s = self.session()
        self.fake.set_mode("pending")
        self.assertEqual(self.process(user, s)[0], 202)
        pay = [p for p in self.fake.payments() if p["reference"] == s["id"]][0]
        self.assertTrue(until(lambda: self.c.get("/checkout/session/" + s["id"], headers=user)[2]["status"]
                              == "expired", timeout=20))
        # A confirmation after expiry makes no order: its payment is voided, and the provider
        # fails that void. The give-back was remembered first, so reconciliation repeats it.
        before = self.failed_voids()
        self.fake.set_mode("failing")
        self.fake.confirm(pay["id"], "authorized")
        # The void call (with the provider's own retries on 5xx) has ended, refused.
        self.assertTrue(until(lambda: self.failed_voids() > before))
        self.assertEqual(self.status_of(pay["id"]), "authorized")
        self.fake.set_mode("normal")
        self.assertTrue(until(lambda: self.status_of(pay["id"]) == "voided", timeout=20))
        voids = {c["idempotencyKey"] for c in self.fake.calls() if c["path"].endswith(pay["id"] + "/void")}
        self.assertEqual(len(voids), 1, "every attempt of one give-back carries one key")
        self.assertEqual(self.orders(user), [])


class WebhookSignatureTest(ProviderCase):
    def event(self, **data):
        return {"id": "evt_" + uuid.uuid4().hex, "type": "payment.voided", "created": int(time.time()),
                "data": dict({"id": "pay_unknown", "status": "voided", "amount": 1, "currency": "USD",
                              "reference": str(uuid.uuid4())}, **data)}

    def test_a_valid_event_for_an_unknown_payment_is_accepted(self):
        out = self.fake.send_webhook(self.event())
        self.assertEqual(out["status"], 200, out)

    def test_a_duplicate_event_is_accepted_again(self):
        ev = self.event()
        self.assertEqual(self.fake.send_webhook(ev)["status"], 200)
        self.assertEqual(self.fake.send_webhook(ev)["status"], 200)

    def test_wrong_secret_stale_time_changed_body_and_no_header_are_refused(self):
        ev = self.event()
        for kw in ({"secrets": ["whsec_wrong"]}, {"timestamp": int(time.time()) - 301},
                   {"timestamp": int(time.time()) + 301}, {"body_override": '{"id":"evt_x","type":"payment.captured","data":{}}'},
                   {"signature": None}, {"signature": "t=abc,v1=00"}, {"secrets": []}):
            out = self.fake.send_webhook(ev, **kw)
            self.assertEqual(out["status"], 400, (kw, out))
            self.assertEqual(out["body"]["code"], "invalid_signature", (kw, out))

    def test_any_of_several_v1_signatures_is_enough(self):
        out = self.fake.send_webhook(self.event(), secrets=["whsec_old_one", HOOK_SECRET])
        self.assertEqual(out["status"], 200, out)

    def test_events_out_of_order_make_one_order(self):
        user, _, _, s = self.session()
        self.fake.set_mode("pending")
        self.assertEqual(self.process(user, s)[0], 202)
        pay = [p for p in self.fake.payments() if p["reference"] == s["id"]][0]
        self.fake.confirm(pay["id"], "captured", send=False)
        captured = {"id": "evt_" + uuid.uuid4().hex, "type": "payment.captured", "created": int(time.time()),
                    "data": dict(pay, status="captured")}
        authorized = {"id": "evt_" + uuid.uuid4().hex, "type": "payment.authorized", "created": int(time.time()) - 5,
                      "data": dict(pay, status="authorized")}
        self.assertEqual(self.fake.send_webhook(captured)["status"], 200)
        self.assertEqual(self.fake.send_webhook(authorized)["status"], 200)
        self.assertTrue(until(lambda: len(self.orders(user)) == 1))
        order = self.orders(user)[0]
        self.assertEqual(order["payment"]["status"], "captured")
        self.assertEqual(len(self.orders(user)), 1)


if __name__ == "__main__":
    unittest.main(verbosity=2)
