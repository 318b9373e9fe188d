"""Two cartd processes sharing one PostgreSQL: the last units of a variant raced by shoppers on
both nodes sell exactly once, and one session processed on both nodes at once makes one order."""
import os
import threading
import unittest

import cartd_api
from cartd_api import Server, new_cart, new_user, put_product

ADDRESS = {"name": "Ada", "line1": "1 Main St", "city": "Springfield", "postalCode": "12345",
           "country": "US"}


@unittest.skipUnless(cartd_api.STORE == "postgresql", "two nodes share PostgreSQL only")
class TwoNodesTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.a = Server()
        cls.b = Server(CARTD_STORE_URL=cls.a.env["CARTD_STORE_URL"])

    @classmethod
    def tearDownClass(cls):
        assert cls.a.stop() == 0
        assert cls.b.stop() == 0

    def shopper_session(self, node, pid, qty=1):
        c = node.client()
        user = new_user()
        cart = new_cart(c, user)
        st, _, _, raw = c.post("/cart/%s/items" % cart["id"], {"productId": pid, "variantId": "v", "quantity": qty},
                               headers=user)
        self.assertEqual(st, 201, raw)
        return c, user, cart

    def test_the_last_units_sell_exactly_once_across_nodes(self):
        pid = put_product(self.a.client(), [{"id": "v", "sku": "S", "price": 500, "stock": 4}])
        shoppers = [self.shopper_session(self.a if i % 2 else self.b, pid) for i in range(12)]
        results = [None] * len(shoppers)

        def buy(i):
            c, user, cart = shoppers[i]
            c = cartd_api.Client(c.port)
            st, _, s, _ = c.post("/checkout/session", {"cartId": cart["id"], "shippingAddress": ADDRESS}, headers=user)
            if st != 201:
                results[i] = ("session", st, s.get("code") if s else None)
                return
            st, _, o, _ = c.post("/checkout/process", {"sessionId": s["id"], "payment": {"method": "card", "token": "tok_visa"}},
                                 headers=user)
            results[i] = ("order", st, None)

        threads = [threading.Thread(target=buy, args=(i,)) for i in range(len(shoppers))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        sold = [r for r in results if r == ("order", 201, None)]
        refused = [r for r in results if r == ("session", 409, "insufficient_stock")]
        self.assertEqual(len(sold), 4, results)
        self.assertEqual(len(refused), 8, results)
        for node in (self.a, self.b):
            _, _, p, _ = node.client().get("/products/" + pid)
            self.assertEqual((p["variants"][0]["stock"], p["variants"][0]["available"]), (0, 0))

    def test_one_session_processed_on_both_nodes_makes_one_order(self):
        pid = put_product(self.a.client(), [{"id": "v", "sku": "S", "price": 500, "stock": 10}])
        c, user, cart = self.shopper_session(self.a, pid, qty=2)
        st, _, s, raw = c.post("/checkout/session", {"cartId": cart["id"], "shippingAddress": ADDRESS}, headers=user)
        self.assertEqual(st, 201, raw)
        answers = []

        def go(node):
            cl = node.client()
            st, _, o, raw = cl.post("/checkout/process",
                                    {"sessionId": s["id"], "payment": {"method": "card", "token": "tok_visa"}},
                                    headers=user)
            answers.append((st, o.get("id") if o else None, o.get("code") if o else None))

        threads = [threading.Thread(target=go, args=(n,)) for n in (self.a, self.b) * 4]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        ids = {a[1] for a in answers if a[0] in (200, 201)}
        self.assertEqual(len(ids), 1, answers)
        self.assertEqual(len([a for a in answers if a[0] == 201]), 1, answers)
        for a in answers:
            self.assertIn(a[0], (200, 201, 202, 409), answers)
        _, _, orders, _ = self.b.client().get("/orders", headers=user)
        self.assertEqual(len(orders["items"]), 1)
        _, _, p, _ = self.a.client().get("/products/" + pid)
        self.assertEqual(p["variants"][0]["stock"], 8)


if __name__ == "__main__":
    unittest.main(verbosity=2)
