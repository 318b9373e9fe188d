"""Carts, items, totals, merge and catalog against the real binary."""
import unittest
import uuid

from cartd_api import ADMIN, ServerTest, new_cart, new_session, new_user, put_product


class CatalogTest(ServerTest):
    def test_put_creates_then_updates_and_get_shows_available(self):
        pid = "p-" + uuid.uuid4().hex[:8]
        body = {"name": "Mug", "currency": "EUR", "variants": [{"id": "v1", "sku": "M1", "price": 1250, "stock": 4}]}
        st, _, p, raw = self.c.put("/admin/products/" + pid, body, headers=ADMIN)
        self.assertEqual(st, 201, raw)
        self.assertEqual(p["variants"][0], {"id": "v1", "sku": "M1", "price": 1250, "stock": 4, "available": 4,
                                             "name": None, "options": {}})
        body["variants"][0]["price"] = 1300
        st, _, p, _ = self.c.put("/admin/products/" + pid, body, headers=ADMIN)
        self.assertEqual(st, 200)
        st, _, p, _ = self.c.get("/products/" + pid)
        self.assertEqual(st, 200)
        self.assertEqual(p["variants"][0]["price"], 1300)
        self.assertEqual(p["currency"], "EUR")

    def test_admin_only(self):
        body = {"name": "X", "currency": "USD", "variants": [{"id": "v", "price": 1, "stock": 1}]}
        self.assertProblem(self.c.put("/admin/products/p-x", body), 401, "unauthorized")
        self.assertProblem(self.c.put("/admin/products/p-x", body, headers=new_user()), 403, "forbidden")

    def test_invalid_products_are_refused_with_every_error(self):
        bad = {"name": "", "currency": "usd", "variants": [{"id": "a/b", "price": -1, "stock": 1.5}]}
        prob = self.assertProblem(self.c.put("/admin/products/p-bad", bad, headers=ADMIN), 400, "validation_failed")
        fields = {e["field"] for e in prob["errors"]}
        self.assertTrue({"name", "currency", "variants[0].id", "variants[0].price", "variants[0].stock"} <= fields, fields)
        self.assertProblem(self.c.get("/products/p-bad"), 404, "not_found")

    def test_inactive_products_are_hidden_from_the_public(self):
        pid = put_product(self.c, active=False)
        self.assertProblem(self.c.get("/products/" + pid), 404, "not_found")
        st, _, _, _ = self.c.get("/products/" + pid, headers=ADMIN)
        self.assertEqual(st, 200)


class CartTest(ServerTest):
    def setUp(self):
        self.user = new_user()
        self.pid = put_product(self.c, [{"id": "v-red", "sku": "R", "price": 1999, "stock": 10},
                                        {"id": "v-blue", "sku": "B", "price": 500, "stock": 1000}])

    def add(self, cart_id, variant="v-red", qty=1, headers=None, **kw):
        return self.c.post("/cart/%s/items" % cart_id, {"productId": self.pid, "variantId": variant, "quantity": qty},
                           headers=headers or self.user, **kw)

    def test_create_get_and_etag(self):
        cart = new_cart(self.c, self.user, {"currency": "USD", "region": "US-CA"})
        self.assertEqual(cart["version"], 1)
        self.assertEqual(cart["status"], "active")
        self.assertEqual(cart["region"], "US-CA")
        self.assertEqual(cart["items"], [])
        self.assertEqual(cart["totals"]["total"], 0)
        st, hdrs, got, _ = self.c.get("/cart/" + cart["id"], headers=self.user)
        self.assertEqual(st, 200)
        self.assertEqual(hdrs["etag"], '"1"')
        self.assertEqual(got["id"], cart["id"])

    def test_add_item_prices_from_the_catalog_and_merges_lines(self):
        cart = new_cart(self.c, self.user)
        st, hdrs, body, raw = self.add(cart["id"], qty=2)
        self.assertEqual(st, 201, raw)
        self.assertEqual(hdrs["etag"], '"2"')
        st, _, body, _ = self.add(cart["id"], qty=3)
        self.assertEqual(len(body["items"]), 1)
        item = body["items"][0]
        self.assertEqual((item["quantity"], item["unitPrice"], item["lineTotal"]), (5, 1999, 9995))
        self.assertEqual(item["name"], "Tee")
        t = body["totals"]
        self.assertEqual((t["subtotal"], t["discountTotal"], t["taxTotal"], t["shippingTotal"], t["total"]),
                         (9995, 0, 0, 0, 9995))
        self.assertEqual(body["version"], 3)

    def test_stock_unknown_products_and_limits(self):
        cart = new_cart(self.c, self.user)
        self.assertProblem(self.add(cart["id"], qty=11), 409, "insufficient_stock")
        self.add(cart["id"], qty=8)
        self.assertProblem(self.add(cart["id"], qty=3), 409, "insufficient_stock")
        self.assertProblem(self.add(cart["id"], variant="v-none"), 422, "unknown_product")
        st, _, body, _ = self.c.post("/cart/%s/items" % cart["id"], {"productId": "p-none", "variantId": "v", "quantity": 1}, headers=self.user)
        self.assertEqual(st, 422)
        self.add(cart["id"], variant="v-blue", qty=999)
        prob = self.assertProblem(self.add(cart["id"], variant="v-blue", qty=1), 400, "validation_failed")
        self.assertTrue(prob["errors"])
        st, _, body, _ = self.c.get("/cart/" + cart["id"], headers=self.user)
        self.assertEqual([i["quantity"] for i in body["items"]], [8, 999])

    def test_quantity_validation(self):
        cart = new_cart(self.c, self.user)
        for q in (0, 1000, -1, 1.5, "2", None, True):
            body = {"productId": self.pid, "variantId": "v-red", "quantity": q}
            prob = self.assertProblem(self.c.post("/cart/%s/items" % cart["id"], body, headers=self.user), 400, "validation_failed")
            self.assertEqual(prob["errors"][0]["field"], "quantity", q)
        st, _, body, _ = self.c.get("/cart/" + cart["id"], headers=self.user)
        self.assertEqual(body["version"], 1)

    def test_patch_and_delete_items(self):
        cart = new_cart(self.c, self.user)
        _, _, body, _ = self.add(cart["id"], qty=2)
        item = body["items"][0]["id"]
        st, _, body, _ = self.c.patch("/cart/%s/items/%s" % (cart["id"], item), {"quantity": 4}, headers=self.user)
        self.assertEqual((st, body["items"][0]["quantity"]), (200, 4))
        self.assertProblem(self.c.patch("/cart/%s/items/%s" % (cart["id"], item), {"quantity": 11}, headers=self.user), 409, "insufficient_stock")
        st, _, body, _ = self.c.patch("/cart/%s/items/%s" % (cart["id"], item), {"quantity": 0}, headers=self.user)
        self.assertEqual((st, body["items"]), (200, []))
        _, _, body, _ = self.add(cart["id"])
        item = body["items"][0]["id"]
        st, _, _, raw = self.c.delete("/cart/%s/items/%s" % (cart["id"], item), headers=self.user)
        self.assertEqual((st, raw), (204, b""))
        self.assertProblem(self.c.delete("/cart/%s/items/%s" % (cart["id"], item), headers=self.user), 404, "not_found")

    def test_if_match(self):
        cart = new_cart(self.c, self.user)
        st, _, _, _ = self.add(cart["id"], headers=dict(self.user, **{"If-Match": '"1"'}))
        self.assertEqual(st, 201)
        self.assertProblem(self.add(cart["id"], headers=dict(self.user, **{"If-Match": '"1"'})), 412, "version_mismatch")
        self.assertProblem(self.add(cart["id"], headers=dict(self.user, **{"If-Match": 'nonsense'})), 400, "validation_failed")
        st, _, body, _ = self.c.get("/cart/" + cart["id"], headers=self.user)
        self.assertEqual((body["version"], body["items"][0]["quantity"]), (2, 1))

    def test_patch_cart(self):
        self.c.put("/admin/shipping-methods/std", {"name": "Standard", "price": 0}, headers=ADMIN)
        cart = new_cart(self.c, self.user)
        st, _, body, _ = self.c.patch("/cart/" + cart["id"], {"region": "DE", "metadata": {"note": "gift"}, "shippingMethod": "std"}, headers=self.user)
        self.assertEqual(st, 200)
        self.assertEqual((body["region"], body["metadata"], body["shippingMethod"]), ("DE", {"note": "gift"}, "std"))
        self.assertProblem(self.c.patch("/cart/" + cart["id"], {"discountCodes": ["SAVE10"]}, headers=self.user), 422, "invalid_discount_code")
        self.assertProblem(self.c.patch("/cart/" + cart["id"], {"region": "california"}, headers=self.user), 400, "validation_failed")
        self.assertProblem(self.c.patch("/cart/" + cart["id"], {"metadata": [1]}, headers=self.user), 400, "validation_failed")
        st, _, body, _ = self.c.get("/cart/" + cart["id"], headers=self.user)
        self.assertEqual((body["version"], body["discountCodes"]), (2, []))

    def test_totals(self):
        cart = new_cart(self.c, self.user)
        self.add(cart["id"], qty=3)
        self.add(cart["id"], variant="v-blue", qty=7)
        st, _, t, _ = self.c.get("/cart/%s/totals" % cart["id"], headers=self.user)
        self.assertEqual(st, 200)
        self.assertEqual((t["subtotal"], t["total"], t["currency"]), (3 * 1999 + 7 * 500, 3 * 1999 + 7 * 500, "USD"))
        self.assertEqual([l["subtotal"] for l in t["lines"]], [5997, 3500])
        self.assertEqual(t["appliedDiscounts"], [])
        self.assertIsNone(t["taxRate"])

    def test_delete_cart(self):
        cart = new_cart(self.c, self.user)
        st, _, _, _ = self.c.delete("/cart/" + cart["id"], headers=self.user)
        self.assertEqual(st, 204)
        self.assertProblem(self.c.get("/cart/" + cart["id"], headers=self.user), 404, "not_found")
        _, _, lst, _ = self.c.get("/cart", headers=self.user)
        self.assertNotIn(cart["id"], [x["id"] for x in lst["items"]])

    def test_ownership_and_credentials(self):
        cart = new_cart(self.c, self.user)
        other = new_user()
        self.assertProblem(self.c.get("/cart/" + cart["id"], headers=other), 404, "not_found")
        self.assertProblem(self.add(cart["id"], headers=other), 404, "not_found")
        self.assertProblem(self.c.get("/cart/" + cart["id"]), 401, "unauthorized")
        self.assertProblem(self.c.post("/cart", {}), 401, "unauthorized")
        self.assertProblem(self.c.get("/cart/not-a-uuid", headers=self.user), 404, "not_found")
        self.assertProblem(self.c.get("/cart/" + str(uuid.uuid4()), headers=self.user), 404, "not_found")
        st, _, _, _ = self.c.get("/cart/" + cart["id"], headers=ADMIN)
        self.assertEqual(st, 200)

    def test_list_is_the_same_on_every_device_active_first(self):
        a = new_cart(self.c, self.user)
        b = new_cart(self.c, self.user)
        guest = new_session(self.c)
        src = new_cart(self.c, {"X-Session-Token": guest["token"]})
        both = dict(self.user, **{"X-Session-Token": guest["token"]})
        self.c.post("/cart/%s/merge" % b["id"], {"sourceCartId": src["id"]}, headers=both)
        device2 = self.server.client()
        _, _, l1, _ = self.c.get("/cart", headers=self.user)
        _, _, l2, _ = device2.get("/cart", headers=self.user)
        self.assertEqual(l1, l2)
        ids = [x["id"] for x in l1["items"]]
        self.assertEqual(set(ids), {a["id"], b["id"]})

    def test_guest_carts_with_a_session_token(self):
        guest = new_session(self.c)
        tok = {"X-Session-Token": guest["token"]}
        cart = new_cart(self.c, tok)
        self.assertEqual((cart["sessionId"], cart["userId"]), (guest["id"], None))
        st, _, _, _ = self.add(cart["id"], headers=tok)
        self.assertEqual(st, 201)
        self.assertProblem(self.c.get("/cart/" + cart["id"], headers={"X-Session-Token": "forged"}), 401, "unauthorized")


class MergeTest(ServerTest):
    def setUp(self):
        self.user = new_user()
        self.guest = new_session(self.c)
        self.tok = {"X-Session-Token": self.guest["token"]}
        self.both = dict(self.user, **self.tok)
        self.pid = put_product(self.c, [{"id": "a", "price": 100, "stock": 5000}, {"id": "b", "price": 250, "stock": 5000}])

    def prepare(self, tq, sq):
        target = new_cart(self.c, self.user)
        source = new_cart(self.c, self.tok)
        self.c.post("/cart/%s/items" % target["id"], {"productId": self.pid, "variantId": "a", "quantity": tq}, headers=self.user)
        self.c.post("/cart/%s/items" % source["id"], {"productId": self.pid, "variantId": "a", "quantity": sq}, headers=self.tok)
        self.c.post("/cart/%s/items" % source["id"], {"productId": self.pid, "variantId": "b", "quantity": 1}, headers=self.tok)
        return target, source

    def test_strategies(self):
        for strategy, tq, sq, want in (("sum", 2, 3, 5), ("max", 2, 3, 3), ("max", 4, 3, 4), ("replace", 4, 3, 3), (None, 2, 3, 5), ("sum", 900, 200, 999)):
            target, source = self.prepare(tq, sq)
            body = {"sourceCartId": source["id"]}
            if strategy:
                body["strategy"] = strategy
            st, _, merged, raw = self.c.post("/cart/%s/merge" % target["id"], body, headers=self.both)
            self.assertEqual(st, 200, raw)
            qty = {i["variantId"]: i["quantity"] for i in merged["items"]}
            self.assertEqual(qty, {"a": want, "b": 1}, strategy)
            st, _, src, _ = self.c.get("/cart/" + source["id"], headers=self.tok)
            self.assertEqual(src["status"], "merged")

    def test_a_merged_source_refuses_changes_and_second_merges(self):
        target, source = self.prepare(1, 1)
        self.c.post("/cart/%s/merge" % target["id"], {"sourceCartId": source["id"]}, headers=self.both)
        self.assertProblem(self.c.post("/cart/%s/items" % source["id"], {"productId": self.pid, "variantId": "a", "quantity": 1}, headers=self.tok), 409, "cart_not_active")
        self.assertProblem(self.c.post("/cart/%s/merge" % target["id"], {"sourceCartId": source["id"]}, headers=self.both), 409, "cart_not_active")

    def test_merge_needs_both_carts(self):
        target, source = self.prepare(1, 1)
        self.assertProblem(self.c.post("/cart/%s/merge" % target["id"], {"sourceCartId": source["id"]}, headers=self.user), 404, "not_found")
        self.assertProblem(self.c.post("/cart/%s/merge" % target["id"], {"sourceCartId": source["id"], "strategy": "avg"}, headers=self.both), 400, "validation_failed")
        self.assertProblem(self.c.post("/cart/%s/merge" % target["id"], {"sourceCartId": "x"}, headers=self.both), 400, "validation_failed")
        st, _, src, _ = self.c.get("/cart/" + source["id"], headers=self.tok)
        self.assertEqual(src["status"], "active")
        st, _, tgt, _ = self.c.get("/cart/" + target["id"], headers=self.user)
        self.assertEqual(len(tgt["items"]), 1)


class LimitsTest(ServerTest):
    server_env = {"CARTD_CART_MAX_LINES": 3}

    def test_more_lines_than_the_limit(self):
        user = new_user()
        pid = put_product(self.c, [{"id": "v%d" % i, "price": 1, "stock": 9} for i in range(4)])
        cart = new_cart(self.c, user)
        for i in range(3):
            st, _, _, _ = self.c.post("/cart/%s/items" % cart["id"], {"productId": pid, "variantId": "v%d" % i, "quantity": 1}, headers=user)
            self.assertEqual(st, 201)
        self.assertProblem(self.c.post("/cart/%s/items" % cart["id"], {"productId": pid, "variantId": "v3", "quantity": 1}, headers=user), 409, "cart_limit_exceeded")


if __name__ == "__main__":
    unittest.main(verbosity=2)
