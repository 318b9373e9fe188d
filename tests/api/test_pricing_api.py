"""Pricing configuration: tax rates per region and shipping methods (admin writes, public reads)."""
import unittest

from cartd_api import ADMIN, ServerTest, new_user


class TaxRateTest(ServerTest):
    def test_put_list_change_and_delete(self):
        st, _, body, raw = self.c.put("/admin/tax-rates/US-CA", {"rate": "8.875"}, headers=ADMIN)
        # v1.1: a PUT that creates the rate answers 201, one that replaces it 200.
        self.assertEqual((st, body), (201, {"region": "US-CA", "rate": "8.875", "inclusive": False}), raw)
        self.assertEqual(self.c.put("/admin/tax-rates/DE", {"rate": "19.0", "inclusive": True}, headers=ADMIN)[0], 201)
        st, _, lst, _ = self.c.get("/pricing/tax-rates")
        self.assertEqual(st, 200)
        self.assertEqual(lst["items"], [{"region": "US-CA", "rate": "8.875", "inclusive": False},
                                        {"region": "DE", "rate": "19", "inclusive": True}])
        st, _, body, raw = self.c.put("/admin/tax-rates/US-CA", {"rate": "9.25"}, headers=ADMIN)
        self.assertEqual((st, body), (200, {"region": "US-CA", "rate": "9.25", "inclusive": False}), raw)
        self.assertEqual(self.c.get("/pricing/tax-rates")[2]["items"][0]["rate"], "9.25")
        self.assertEqual(self.c.delete("/admin/tax-rates/DE", headers=ADMIN)[0], 204)
        self.assertProblem(self.c.delete("/admin/tax-rates/DE", headers=ADMIN), 404, "not_found")
        self.assertEqual([r["region"] for r in self.c.get("/pricing/tax-rates")[2]["items"]], ["US-CA"])

    def test_rates_are_exact_decimal_strings(self):
        for bad in ("8.8.8", "-1", "101", "12.34567", "", "1e3", 8.875, 8, None):
            body = {"rate": bad} if bad is not None else {}
            prob = self.assertProblem(self.c.put("/admin/tax-rates/FR", body, headers=ADMIN), 400, "validation_failed")
            self.assertEqual(prob["errors"][0]["field"], "rate", bad)
        self.assertProblem(self.c.put("/admin/tax-rates/FR", {"rate": "5", "inclusive": "yes"}, headers=ADMIN), 400, "validation_failed")
        self.assertProblem(self.c.put("/admin/tax-rates/france", {"rate": "5"}, headers=ADMIN), 404, "not_found")
        self.assertNotIn("FR", [r["region"] for r in self.c.get("/pricing/tax-rates")[2]["items"]])

    def test_admin_only(self):
        self.assertProblem(self.c.put("/admin/tax-rates/IT", {"rate": "22"}), 401, "unauthorized")
        self.assertProblem(self.c.put("/admin/tax-rates/IT", {"rate": "22"}, headers=new_user()), 403, "forbidden")
        self.assertProblem(self.c.delete("/admin/tax-rates/IT", headers=new_user()), 403, "forbidden")


class ShippingMethodTest(ServerTest):
    def test_put_list_change_and_retire(self):
        st, _, body, raw = self.c.put("/admin/shipping-methods/std", {"name": "Standard", "price": 499, "freeOver": 5000}, headers=ADMIN)
        # v1.1: a PUT that creates the method answers 201, one that replaces it 200.
        self.assertEqual((st, body), (201, {"id": "std", "name": "Standard", "price": 499, "freeOver": 5000,
                                            "currency": None}), raw)
        self.assertEqual(self.c.put("/admin/shipping-methods/express", {"name": "Express", "price": 1299}, headers=ADMIN)[0], 201)
        st, _, lst, _ = self.c.get("/checkout/shipping-methods")
        self.assertEqual(st, 200)
        self.assertEqual([m["id"] for m in lst["items"]], ["std", "express"])
        self.assertIsNone(lst["items"][1]["freeOver"])
        st, _, body, raw = self.c.put("/admin/shipping-methods/std", {"name": "Standard", "price": 599}, headers=ADMIN)
        self.assertEqual((st, body), (200, {"id": "std", "name": "Standard", "price": 599, "freeOver": None,
                                            "currency": None}), raw)
        self.assertEqual(self.c.get("/checkout/shipping-methods")[2]["items"][0]["price"], 599)
        self.assertEqual(self.c.delete("/admin/shipping-methods/express", headers=ADMIN)[0], 204)
        self.assertEqual([m["id"] for m in self.c.get("/checkout/shipping-methods")[2]["items"]], ["std"])

    def test_invalid_methods_are_refused_with_every_error(self):
        prob = self.assertProblem(self.c.put("/admin/shipping-methods/bad", {"price": -1, "freeOver": "100"}, headers=ADMIN), 400, "validation_failed")
        self.assertEqual({e["field"] for e in prob["errors"]}, {"name", "price", "freeOver"})
        self.assertProblem(self.c.put("/admin/shipping-methods/bad", {"name": "X", "price": 1.5}, headers=ADMIN), 400, "validation_failed")
        self.assertProblem(self.c.put("/admin/shipping-methods/a%2Fb", {"name": "X", "price": 1}, headers=ADMIN), 404, "not_found")
        self.assertProblem(self.c.put("/admin/shipping-methods/x", {"name": "X", "price": 1}, headers=new_user()), 403, "forbidden")
        self.assertNotIn("bad", [m["id"] for m in self.c.get("/checkout/shipping-methods")[2]["items"]])


class QuoteTest(ServerTest):
    def setUp(self):
        from cartd_api import put_product
        self.pid = put_product(self.c, [{"id": "v1", "price": 1999, "stock": 100}, {"id": "v2", "price": 333, "stock": 100}])

    def quote(self, **extra):
        body = {"currency": "USD", "items": [{"productId": self.pid, "variantId": "v1", "quantity": 1},
                                             {"productId": self.pid, "variantId": "v2", "quantity": 3}]}
        body.update(extra)
        return self.c.post("/pricing/calculate", body)

    def test_a_plain_quote_prices_from_the_catalog(self):
        st, _, t, raw = self.quote()
        self.assertEqual(st, 200, raw)
        self.assertEqual((t["subtotal"], t["discountTotal"], t["taxTotal"], t["total"]), (2998, 0, 0, 2998))
        self.assertIsNone(t["taxRate"])

    def test_tax_codes_and_shipping_as_in_api_md(self):
        import uuid
        self.c.put("/admin/tax-rates/US-NY", {"rate": "8.875"}, headers=ADMIN)
        self.c.put("/admin/shipping-methods/std", {"name": "Standard", "price": 499, "freeOver": 100000}, headers=ADMIN)
        code = "SAVE" + uuid.uuid4().hex[:6]
        st, _, d, raw = self.c.post("/admin/discounts", {"code": code, "type": "fixed", "value": 500, "currency": "USD"}, headers=ADMIN)
        self.assertEqual(st, 201, raw)
        st, _, t, raw = self.quote(region="US-NY", discountCodes=[code.lower()], shippingMethod="std")
        self.assertEqual(st, 200, raw)
        # Automatic promotions made by other tests of this server apply first; the code then.
        self.assertEqual(t["discountTotal"], sum(a["amount"] for a in t["appliedDiscounts"]))
        self.assertEqual(sum(l["discount"] for l in t["lines"]), t["discountTotal"])
        self.assertEqual(t["taxRate"], "8.875")
        self.assertEqual(t["taxTotal"], sum(l["tax"] for l in t["lines"]))
        self.assertEqual(t["shippingTotal"], 499)
        self.assertEqual(t["total"], 2998 - t["discountTotal"] + t["taxTotal"] + 499)
        self.assertEqual(t["appliedDiscounts"][-1], {"id": d["id"], "code": code, "name": None, "type": "fixed",
                                                     "amount": 500})

    def test_bad_codes_and_inputs(self):
        prob = self.assertProblem(self.quote(discountCodes=["NOPE"]), 422, "invalid_discount_code")
        self.assertEqual([(e["field"], e["reason"]) for e in prob["errors"]], [("discountCodes[0]", "unknown")], prob)
        st, _, d, _ = self.c.post("/admin/discounts", {"code": "OLDONE", "type": "percentage", "value": "10",
                                                         "startsAt": "2020-01-01T00:00:00Z", "endsAt": "2020-02-01T00:00:00Z"}, headers=ADMIN)
        self.assertEqual(st, 201)
        prob = self.assertProblem(self.quote(discountCodes=["oldone"]), 422, "invalid_discount_code")
        self.assertIn("the code has expired", prob["detail"])
        self.assertEqual([(e["field"], e["reason"]) for e in prob["errors"]], [("discountCodes[0]", "expired")], prob)
        self.assertTrue(all(isinstance(e["message"], str) and e["message"] for e in prob["errors"]), prob)
        self.assertProblem(self.quote(shippingMethod="teleport"), 400, "validation_failed")
        self.assertProblem(self.c.post("/pricing/calculate", {"currency": "USD", "items": [{"productId": "nope", "variantId": "v", "quantity": 1}]}), 422, "unknown_product")
        self.assertProblem(self.c.post("/pricing/calculate", {"currency": "USD", "items": []}), 400, "validation_failed")

    def test_discount_validation_and_admin_only(self):
        bad = [
            {"type": "percentage", "value": 101, "code": "X1"},
            {"type": "percentage", "value": "8.8.8", "code": "X2"},
            {"type": "percentage", "value": "-1", "code": "X3"},
            {"type": "fixed", "value": 100, "currency": "usd", "code": "X4"},
            {"type": "fixed", "value": 100, "code": "X5"},
            {"type": "percentage", "value": 10, "code": "X6", "startsAt": "2030-01-02T00:00:00Z", "endsAt": "2030-01-01T00:00:00Z"},
            {"type": "bogus", "value": 10, "code": "X7"},
        ]
        for b in bad:
            self.assertProblem(self.c.post("/admin/discounts", b, headers=ADMIN), 400, "validation_failed")
        self.assertProblem(self.c.post("/admin/discounts", {"type": "percentage", "value": 10, "code": "Y"}), 401, "unauthorized")
        self.assertProblem(self.c.post("/admin/discounts", {"type": "percentage", "value": 10, "code": "Y"}, headers=new_user()), 403, "forbidden")
        st, _, _, _ = self.c.post("/admin/discounts", {"type": "percentage", "value": 10, "code": "TWICE"}, headers=ADMIN)
        self.assertEqual(st, 201)
        self.assertProblem(self.c.post("/admin/discounts", {"type": "percentage", "value": 5, "code": "twice"}, headers=ADMIN), 409, "conflict")

    def test_automatic_promotions_are_listed_and_applied(self):
        st, _, d, raw = self.c.post("/admin/discounts", {"type": "percentage", "value": "12.5", "priority": 1}, headers=ADMIN)
        self.assertEqual(st, 201, raw)
        self.assertTrue(d["automatic"])
        items = self.c.get("/pricing/discounts")[2]["items"]
        self.assertIn(d["id"], [x["id"] for x in items])
        st, _, t, _ = self.quote()
        applied = [a for a in t["appliedDiscounts"] if a["id"] == d["id"]]
        self.assertEqual(applied[0]["amount"], round(2998 * 0.125 + 1e-9))
        self.assertIsNone(applied[0]["code"])


class CartPricingTest(ServerTest):
    def test_a_cart_and_a_quote_with_the_same_content_give_the_same_totals(self):
        import uuid
        from cartd_api import new_cart, put_product
        pid = put_product(self.c, [{"id": "v1", "price": 1999, "stock": 100}, {"id": "v2", "price": 333, "stock": 100}])
        region = "US-T" + uuid.uuid4().hex[:1].upper()
        self.c.put("/admin/tax-rates/" + region, {"rate": "7.25"}, headers=ADMIN)
        self.c.put("/admin/shipping-methods/ground", {"name": "Ground", "price": 799, "freeOver": 999999}, headers=ADMIN)
        code = "C" + uuid.uuid4().hex[:8]
        self.assertEqual(self.c.post("/admin/discounts", {"code": code, "type": "percentage", "value": "15"}, headers=ADMIN)[0], 201)
        user = new_user()
        cart = new_cart(self.c, user)["id"]
        self.c.post("/cart/%s/items" % cart, {"productId": pid, "variantId": "v1", "quantity": 2}, headers=user)
        self.c.post("/cart/%s/items" % cart, {"productId": pid, "variantId": "v2", "quantity": 5}, headers=user)
        self.assertProblem(self.c.patch("/cart/" + cart, {"discountCodes": ["NOPE"]}, headers=user), 422, "invalid_discount_code")
        self.assertProblem(self.c.patch("/cart/" + cart, {"shippingMethod": "teleport"}, headers=user), 400, "validation_failed")
        st, _, body, raw = self.c.patch("/cart/" + cart, {"discountCodes": [code.lower()], "region": region, "shippingMethod": "ground"}, headers=user)
        self.assertEqual(st, 200, raw)
        totals = body["totals"]
        self.assertGreater(totals["discountTotal"], 0)
        self.assertGreater(totals["taxTotal"], 0)
        self.assertEqual(totals["shippingTotal"], 799)
        self.assertEqual(totals["taxRate"], "7.25")
        st, _, quote, raw = self.c.post("/pricing/calculate", {
            "currency": "USD", "region": region, "shippingMethod": "ground", "discountCodes": [code],
            "items": [{"productId": pid, "variantId": "v1", "quantity": 2}, {"productId": pid, "variantId": "v2", "quantity": 5}]})
        self.assertEqual(st, 200, raw)
        for k in ("subtotal", "discountTotal", "taxTotal", "shippingTotal", "total"):
            self.assertEqual(totals[k], quote[k], k)
        self.assertEqual(self.c.get("/cart/%s/totals" % cart, headers=user)[2]["total"], quote["total"])


if __name__ == "__main__":
    unittest.main(verbosity=2)
