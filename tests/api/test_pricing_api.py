"""Pricing configuration: tax rates per region and shipping methods (admin writes, public reads)."""
import unittest

from cartd_api import ADMIN, ServerTest, new_user


class TaxRateTest(ServerTest):
    def test_put_list_change_and_delete(self):
        st, _, body, raw = self.c.put("/admin/tax-rates/US-CA", {"rate": "8.875"}, headers=ADMIN)
        self.assertEqual((st, body), (200, {"region": "US-CA", "rate": "8.875", "inclusive": False}), raw)
        self.c.put("/admin/tax-rates/DE", {"rate": "19.0", "inclusive": True}, headers=ADMIN)
        st, _, lst, _ = self.c.get("/pricing/tax-rates")
        self.assertEqual(st, 200)
        self.assertEqual(lst["items"], [{"region": "US-CA", "rate": "8.875", "inclusive": False},
                                        {"region": "DE", "rate": "19", "inclusive": True}])
        self.c.put("/admin/tax-rates/US-CA", {"rate": "9.25"}, headers=ADMIN)
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
        self.assertEqual((st, body), (200, {"id": "std", "name": "Standard", "price": 499, "freeOver": 5000}), raw)
        self.c.put("/admin/shipping-methods/express", {"name": "Express", "price": 1299}, headers=ADMIN)
        st, _, lst, _ = self.c.get("/checkout/shipping-methods")
        self.assertEqual(st, 200)
        self.assertEqual([m["id"] for m in lst["items"]], ["std", "express"])
        self.assertIsNone(lst["items"][1]["freeOver"])
        self.c.put("/admin/shipping-methods/std", {"name": "Standard", "price": 599}, headers=ADMIN)
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


if __name__ == "__main__":
    unittest.main(verbosity=2)
