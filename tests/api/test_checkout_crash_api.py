"""Nothing acknowledged is lost, and no charge is left without its order: the process dies
right after the provider authorized (a fault point only a test setting enables), and the
restarted node's reconciliation completes the order from the provider's record, once."""
import time
import unittest

from cartd_api import Server, new_cart, new_user, put_product

ADDRESS = {"name": "Ada", "line1": "1 Main St", "city": "Springfield", "postalCode": "12345",
           "country": "US"}


def until(predicate, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    return predicate()


def checkout_then_crash(test, server, flag, price, qty):
    """A session for a fresh cart, processed into the fault point `flag`; then a restart
    without it. Returns the new client, the user, the product and the session."""
    c = server.client()
    user = new_user()
    pid = put_product(c, [{"id": "v", "sku": "S", "price": price, "stock": 5}])
    cart = new_cart(c, user)
    st, _, _, raw = c.post("/cart/%s/items" % cart["id"],
                           {"productId": pid, "variantId": "v", "quantity": qty}, headers=user)
    test.assertEqual(st, 201, raw)
    st, _, s, raw = c.post("/checkout/session", {"cartId": cart["id"], "shippingAddress": ADDRESS},
                           headers=user)
    test.assertEqual(st, 201, raw)
    with test.assertRaises(OSError):
        c.post("/checkout/process", {"sessionId": s["id"], "payment": {"method": "card", "token": "tok_visa"}},
               headers=user)
    test.assertEqual(server.proc.wait(timeout=15), 137)
    server.proc = None
    server.log.close()
    server.env.pop(flag)
    server.start()
    return server.client(), user, pid, s


class CrashAfterAuthorizeTest(unittest.TestCase):
    def test_a_payment_authorized_before_a_crash_becomes_its_order_after_restart(self):
        server = Server(CARTD_TESTING_CRASH_AFTER_AUTHORIZE="true",
                        CARTD_CHECKOUT_RECONCILE_INTERVAL="300ms")
        try:
            c, user, pid, s = checkout_then_crash(self, server, "CARTD_TESTING_CRASH_AFTER_AUTHORIZE", 900, 2)

            def completed():
                st, _, body, _ = c.get("/checkout/session/" + s["id"], headers=user)
                return st == 200 and body["status"] == "completed" and body
            session = until(completed)
            self.assertTrue(session, "reconciliation did not complete the order")
            _, _, orders, _ = c.get("/orders", headers=user)
            self.assertEqual(len(orders["items"]), 1)
            order = orders["items"][0]
            self.assertEqual(order["id"], session["orderId"])
            self.assertEqual(order["payment"]["amount"], order["total"])
            self.assertTrue(until(lambda: c.get("/orders/" + order["id"], headers=user)[2]["payment"]["status"]
                                  == "captured"))
            _, _, product, _ = c.get("/products/" + pid)
            self.assertEqual(product["variants"][0]["stock"], 3)
            self.assertEqual(product["variants"][0]["available"], 3)
            # Processing again answers the same order.
            st, _, again, raw = c.post("/checkout/process",
                                       {"sessionId": s["id"], "payment": {"method": "card", "token": "tok_visa"}},
                                       headers=user)
            self.assertEqual(st, 200, raw)
            self.assertEqual(again["id"], order["id"])
        finally:
            self.assertEqual(server.stop(), 0)


class CrashAfterOrderTest(unittest.TestCase):
    def test_an_order_left_authorized_by_a_crash_is_captured_after_restart(self):
        server = Server(CARTD_TESTING_CRASH_AFTER_ORDER="true", CARTD_PAYMENTS_TIMEOUT="500ms",
                        CARTD_CHECKOUT_RECONCILE_INTERVAL="300ms")
        try:
            c, user, pid, s = checkout_then_crash(self, server, "CARTD_TESTING_CRASH_AFTER_ORDER", 400, 1)
            _, _, orders, _ = c.get("/orders", headers=user)
            self.assertEqual(len(orders["items"]), 1, "the order committed before the crash")
            order_id = orders["items"][0]["id"]
            captured = until(lambda: c.get("/orders/" + order_id, headers=user)[2]["payment"]["status"] == "captured")
            self.assertTrue(captured, "reconciliation did not capture the order's payment")
            _, _, d, _ = c.get("/health/detailed")
            self.assertGreaterEqual(d["components"]["checkout"]["reconciliation"]["settled"], 1)
        finally:
            self.assertEqual(server.stop(), 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
