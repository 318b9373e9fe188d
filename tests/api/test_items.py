"""Items: POST /cart/{id}/items, PATCH and DELETE /cart/{id}/items/{itemId}."""
import os
import sys
import unittest
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import ApiTest, admin, session_headers  # noqa: E402


def setUpModule():
    harness.module_setup(__name__)


def tearDownModule():
    harness.module_teardown(__name__)


VARIANTS = [{"id": "v-red", "sku": "TEE-R", "price": 1999, "stock": 10},
            {"id": "v-blue", "sku": "TEE-B", "price": 500, "stock": 5000},
            {"id": "v-free", "sku": "TEE-F", "price": 0, "stock": 5}]


class ItemTestBase(ApiTest):
    def setUp(self):
        self.sub, self.u = self.user()
        self.p = self.product(VARIANTS, name="Tee")["id"]
        self.cart_ = self.cart(self.u)
        self.cid = self.cart_["id"]

    def add_(self, variant="v-red", qty=1, headers=None, product=None):
        return self.add(self.cid, product or self.p, variant, qty, headers or self.u)

    def post_raw_item(self, body, headers=None):
        return self.c.post("/cart/%s/items" % self.cid, body, headers=headers or self.u)

    def assertUnchanged(self, version=None):
        now = self.get_cart(self.cid, self.u)
        if version is None:
            self.assertEqual(now, self.cart_, "a refused change changed the cart")
        else:
            self.assertEqual(now["version"], version, "a refused change changed the version")
        return now


class AddItemTest(ItemTestBase):
    def test_add_answers_201_with_the_priced_cart(self):
        resp = self.add_("v-red", 2)
        self.assertStatus(resp, 201, "add item")
        self.assertCart(resp[2], version=2, user_id=self.sub, lines=[(self.p, "v-red", 2, 1999)])
        self.assertETag(resp, 2)
        self.assertEqual(resp[2]["items"][0]["lineTotal"], 3998)
        self.assertEqual(resp[2]["totals"]["subtotal"], 3998)
        self.assertEqual(resp[2]["totals"]["total"], 3998)

    def test_item_name_is_the_product_name(self):
        p = self.product(VARIANTS, name="Organic Cotton Tee")["id"]
        body = self.add_("v-blue", 1, product=p)[2]
        self.assertEqual(body["items"][0]["name"], "Organic Cotton Tee")

    def test_added_item_is_visible_on_get(self):
        body = self.add_("v-red", 3)[2]
        self.assertEqual(self.get_cart(self.cid, self.u), body)

    def test_same_variant_twice_sums_into_one_line(self):
        first = self.add_("v-red", 2)[2]
        resp = self.add_("v-red", 3)
        self.assertStatus(resp, 201)
        self.assertCart(resp[2], version=3, user_id=self.sub, lines=[(self.p, "v-red", 5, 1999)])
        self.assertEqual(resp[2]["items"][0]["id"], first["items"][0]["id"], "the line's id changed")

    def test_two_variants_make_two_lines(self):
        self.add_("v-red", 1)
        resp = self.add_("v-blue", 4)
        self.assertStatus(resp, 201)
        self.assertCart(resp[2], version=3, user_id=self.sub,
                        lines=[(self.p, "v-red", 1, 1999), (self.p, "v-blue", 4, 500)])
        self.assertEqual(resp[2]["totals"]["total"], 1999 + 2000)

    def test_version_adds_one_per_add(self):
        for n in range(2, 6):
            resp = self.add_("v-blue", 1)
            self.assertEqual(resp[2]["version"], n)
            self.assertETag(resp, n)

    def test_client_supplied_price_is_ignored(self):
        resp = self.post_raw_item({"productId": self.p, "variantId": "v-red", "quantity": 1,
                                   "unitPrice": 1, "price": 1, "name": "cheap"})
        self.assertStatus(resp, 201)
        self.assertCart(resp[2], version=2, user_id=self.sub, lines=[(self.p, "v-red", 1, 1999)])

    def test_free_variant(self):
        resp = self.add_("v-free", 2)
        self.assertStatus(resp, 201)
        self.assertCart(resp[2], version=2, user_id=self.sub, lines=[(self.p, "v-free", 2, 0)])

    def test_guest_adds_to_own_cart(self):
        token, sid = self.session()
        h = session_headers(token)
        cart = self.cart(h)
        resp = self.add(cart["id"], self.p, "v-red", 1, h)
        self.assertStatus(resp, 201)
        self.assertCart(resp[2], version=2, session_id=sid, lines=[(self.p, "v-red", 1, 1999)])

    def test_quantity_equal_to_stock_is_accepted(self):
        self.assertStatus(self.add_("v-red", 10), 201)

    def test_quantity_999_is_accepted(self):
        resp = self.add_("v-blue", 999)
        self.assertStatus(resp, 201)
        self.assertEqual(resp[2]["items"][0]["lineTotal"], 999 * 500)

    def test_unit_price_stays_until_the_line_changes(self):
        self.add_("v-red", 1)
        changed = [dict(v) for v in VARIANTS]
        changed[0]["price"] = 2499
        harness.put_product(self.c, product_id=self.p, variants=changed, name="Tee")
        cart = self.get_cart(self.cid, self.u)
        self.assertEqual(cart["items"][0]["unitPrice"], 1999, "a stored line must keep its price")
        resp = self.add_("v-red", 1)
        self.assertStatus(resp, 201)
        self.assertCart(resp[2], version=3, user_id=self.sub, lines=[(self.p, "v-red", 2, 2499)])


class AddItemErrorsTest(ItemTestBase):
    def test_unknown_product_is_422(self):
        self.assertProblem(self.add_("v-red", 1, product=harness.pid()), 422, "unknown_product")
        self.assertUnchanged()

    def test_unknown_variant_is_422(self):
        self.assertProblem(self.add_("v-green", 1), 422, "unknown_product")
        self.assertUnchanged()

    def test_inactive_product_is_422(self):
        p = self.product(VARIANTS, active=False)["id"]
        self.assertProblem(self.add_("v-red", 1, product=p), 422, "unknown_product")
        self.assertUnchanged()

    def test_product_made_inactive_is_422(self):
        harness.put_product(self.c, product_id=self.p, variants=VARIANTS, active=False)
        self.assertProblem(self.add_("v-red", 1), 422, "unknown_product")
        self.assertUnchanged()

    def test_quantity_above_stock_is_409(self):
        self.assertProblem(self.add_("v-red", 11), 409, "insufficient_stock")
        self.assertUnchanged()

    def test_out_of_stock_variant_is_409(self):
        p = self.product([{"id": "v0", "sku": "S0", "price": 100, "stock": 0}])["id"]
        self.assertProblem(self.add_("v0", 1, product=p), 409, "insufficient_stock")

    def test_summing_lines_above_stock_is_409_and_keeps_the_line(self):
        self.assertStatus(self.add_("v-red", 6), 201)
        self.assertProblem(self.add_("v-red", 5), 409, "insufficient_stock")
        cart = self.assertUnchanged(version=2)
        self.assertEqual(cart["items"][0]["quantity"], 6)

    def test_summed_quantity_above_999_is_400(self):
        self.assertStatus(self.add_("v-blue", 600), 201)
        prob = self.assertProblem(self.add_("v-blue", 400), 400, "validation_failed")
        self.assertErrorField(prob, "quantity")
        cart = self.assertUnchanged(version=2)
        self.assertEqual(cart["items"][0]["quantity"], 600)

    def test_out_of_range_quantities_are_400(self):
        for q in (0, 1000, -1, 1.5, "2", None, True, [1]):
            with self.subTest(quantity=q):
                prob = self.assertProblem(self.add_("v-blue", q), 400, "validation_failed",
                                          "quantity %r" % (q,))
                self.assertErrorField(prob, "quantity")
        self.assertUnchanged()

    def test_missing_fields_are_400(self):
        full = {"productId": self.p, "variantId": "v-red", "quantity": 1}
        for field in full:
            with self.subTest(missing=field):
                b = dict(full)
                del b[field]
                prob = self.assertProblem(self.post_raw_item(b), 400, "validation_failed")
                self.assertErrorField(prob, field)
        self.assertUnchanged()

    def test_wrong_types_are_400(self):
        for field, value in (("productId", 12), ("variantId", ["v-red"]), ("productId", None),
                             ("variantId", {"id": "v-red"})):
            with self.subTest(field=field, value=value):
                b = {"productId": self.p, "variantId": "v-red", "quantity": 1}
                b[field] = value
                prob = self.assertProblem(self.post_raw_item(b), 400, "validation_failed")
                self.assertErrorField(prob, field)
        self.assertUnchanged()

    def test_body_not_an_object_is_400(self):
        for b in ([], [{"productId": self.p}], "x", 1, True):
            with self.subTest(body=b):
                self.assertProblem(self.post_raw_item(b), 400, "validation_failed")

    def test_malformed_json_is_400_invalid_json(self):
        for raw in (b"{", b'{"a":"\xff"}', b"", b"{'productId': 1}"):
            with self.subTest(raw=raw):
                self.assertProblem(self.c.post("/cart/%s/items" % self.cid, raw=raw, headers=self.u),
                                   400, "invalid_json")
        self.assertUnchanged()

    def test_product_in_another_currency_is_409_currency_mismatch(self):
        p = self.product(VARIANTS, currency="EUR")["id"]
        self.assertProblem(self.add_("v-red", 1, product=p), 409, "currency_mismatch")  # v1.1 (was conflict)
        self.assertUnchanged()

    def test_unknown_cart_is_404(self):
        resp = self.add(str(uuid.uuid4()), self.p, "v-red", 1, self.u)
        self.assertProblem(resp, 404, "not_found")

    def test_someone_elses_cart_is_404(self):
        _, bob = self.user()
        self.assertProblem(self.add_("v-red", 1, headers=bob), 404, "not_found")
        self.assertUnchanged()

    def test_without_credentials_is_401(self):
        resp = self.c.post("/cart/%s/items" % self.cid, {"productId": self.p, "variantId": "v-red", "quantity": 1})
        self.assertProblem(resp, 401, "unauthorized")
        self.assertUnchanged()

    def test_deleted_cart_is_404(self):
        self.c.delete("/cart/" + self.cid, headers=self.u)
        self.assertProblem(self.add_("v-red", 1), 404, "not_found")


class CartLimitTest(ItemTestBase):
    server_env = {"CARTD_CART_MAX_LINES": "3"}

    def setUp(self):
        super().setUp()
        self.p4 = self.product([{"id": "v%d" % i, "sku": "S%d" % i, "price": 100 * (i + 1), "stock": 100}
                                for i in range(4)])["id"]

    def test_more_than_max_lines_is_409(self):
        for i in range(3):
            self.assertStatus(self.add_("v%d" % i, 1, product=self.p4), 201, "line %d" % (i + 1))
        self.assertProblem(self.add_("v3", 1, product=self.p4), 409, "cart_limit_exceeded")
        cart = self.assertUnchanged(version=4)
        self.assertEqual(len(cart["items"]), 3)

    def test_adding_to_an_existing_line_at_the_limit_is_accepted(self):
        for i in range(3):
            self.add_("v%d" % i, 1, product=self.p4)
        resp = self.add_("v0", 2, product=self.p4)
        self.assertStatus(resp, 201, "summing into an existing line adds no line")
        self.assertEqual({i["variantId"]: i["quantity"] for i in resp[2]["items"]},
                         {"v0": 3, "v1": 1, "v2": 1})

    def test_removing_a_line_makes_room(self):
        items = None
        for i in range(3):
            items = self.add_("v%d" % i, 1, product=self.p4)[2]["items"]
        self.assertStatus(self.c.delete("/cart/%s/items/%s" % (self.cid, items[0]["id"]), headers=self.u), 204)
        self.assertStatus(self.add_("v3", 1, product=self.p4), 201)


class PatchItemTest(ItemTestBase):
    def setUp(self):
        super().setUp()
        body = self.add_("v-red", 2)[2]
        self.item = body["items"][0]
        self.ipath = "/cart/%s/items/%s" % (self.cid, self.item["id"])
        self.cart_ = body

    def test_patch_quantity(self):
        resp = self.c.patch(self.ipath, {"quantity": 4}, headers=self.u)
        self.assertStatus(resp, 200)
        self.assertCart(resp[2], version=3, user_id=self.sub, lines=[(self.p, "v-red", 4, 1999)])
        self.assertETag(resp, 3)
        self.assertEqual(resp[2]["items"][0]["lineTotal"], 4 * 1999)
        self.assertEqual(resp[2]["items"][0]["id"], self.item["id"])

    def test_patch_quantity_zero_removes_the_line(self):
        self.add_("v-blue", 1)
        resp = self.c.patch(self.ipath, {"quantity": 0}, headers=self.u)
        self.assertStatus(resp, 200)
        self.assertCart(resp[2], version=4, user_id=self.sub, lines=[(self.p, "v-blue", 1, 500)])

    def test_patch_above_stock_is_409(self):
        self.assertProblem(self.c.patch(self.ipath, {"quantity": 11}, headers=self.u), 409, "insufficient_stock")
        self.assertUnchanged()

    def test_patch_out_of_range_is_400(self):
        for q in (-1, 1000, 1.5, "3", None):
            with self.subTest(quantity=q):
                prob = self.assertProblem(self.c.patch(self.ipath, {"quantity": q}, headers=self.u),
                                          400, "validation_failed")
                self.assertErrorField(prob, "quantity")
        self.assertUnchanged()

    def test_patch_missing_quantity_is_400(self):
        prob = self.assertProblem(self.c.patch(self.ipath, {}, headers=self.u), 400, "validation_failed")
        self.assertErrorField(prob, "quantity")
        self.assertUnchanged()

    def test_patch_takes_the_live_price(self):
        changed = [dict(v) for v in VARIANTS]
        changed[0]["price"] = 1500
        harness.put_product(self.c, product_id=self.p, variants=changed, name="Tee")
        resp = self.c.patch(self.ipath, {"quantity": 3}, headers=self.u)
        self.assertStatus(resp, 200)
        self.assertCart(resp[2], version=3, user_id=self.sub, lines=[(self.p, "v-red", 3, 1500)])

    def test_patch_unknown_item_is_404(self):
        self.assertProblem(self.c.patch("/cart/%s/items/%s" % (self.cid, uuid.uuid4()), {"quantity": 1},
                                        headers=self.u), 404, "not_found")
        self.assertUnchanged()

    def test_patch_item_of_someone_elses_cart_is_404(self):
        _, bob = self.user()
        self.assertProblem(self.c.patch(self.ipath, {"quantity": 1}, headers=bob), 404, "not_found")
        self.assertUnchanged()

    def test_patch_item_without_credentials_is_401(self):
        self.assertProblem(self.c.patch(self.ipath, {"quantity": 1}), 401, "unauthorized")
        self.assertUnchanged()

    def test_patch_item_with_stale_if_match_is_412(self):
        h = dict(self.u)
        h["If-Match"] = '"1"'
        self.assertProblem(self.c.patch(self.ipath, {"quantity": 1}, headers=h), 412, "version_mismatch")
        self.assertUnchanged()

    def test_patch_item_with_matching_if_match(self):
        h = dict(self.u)
        h["If-Match"] = '"2"'
        resp = self.c.patch(self.ipath, {"quantity": 1}, headers=h)
        self.assertStatus(resp, 200)
        self.assertEqual(resp[2]["version"], 3)

    def test_patch_malformed_json_is_400(self):
        self.assertProblem(self.c.patch(self.ipath, raw=b"{", headers=self.u), 400, "invalid_json")
        self.assertUnchanged()


class DeleteItemTest(ItemTestBase):
    def setUp(self):
        super().setUp()
        self.add_("v-blue", 1)
        body = self.add_("v-red", 2)[2]
        self.item = [i for i in body["items"] if i["variantId"] == "v-red"][0]
        self.ipath = "/cart/%s/items/%s" % (self.cid, self.item["id"])
        self.cart_ = body

    def test_delete_item_answers_204_and_removes_the_line(self):
        resp = self.c.delete(self.ipath, headers=self.u)
        self.assertStatus(resp, 204)
        self.assertEqual(resp[3], b"", "204 with a body")
        cart = self.get_cart(self.cid, self.u)
        self.assertCart(cart, version=4, user_id=self.sub, lines=[(self.p, "v-blue", 1, 500)])

    def test_delete_item_twice_is_404(self):
        self.c.delete(self.ipath, headers=self.u)
        self.assertProblem(self.c.delete(self.ipath, headers=self.u), 404, "not_found")
        self.assertEqual(self.get_cart(self.cid, self.u)["version"], 4)

    def test_delete_unknown_item_is_404(self):
        self.assertProblem(self.c.delete("/cart/%s/items/%s" % (self.cid, uuid.uuid4()), headers=self.u),
                           404, "not_found")
        self.assertUnchanged()

    def test_delete_item_of_someone_elses_cart_is_404(self):
        _, bob = self.user()
        self.assertProblem(self.c.delete(self.ipath, headers=bob), 404, "not_found")
        self.assertUnchanged()

    def test_delete_item_without_credentials_is_401(self):
        self.assertProblem(self.c.delete(self.ipath), 401, "unauthorized")
        self.assertUnchanged()

    def test_readding_after_delete_makes_a_new_line(self):
        self.c.delete(self.ipath, headers=self.u)
        resp = self.add_("v-red", 1)
        self.assertStatus(resp, 201)
        self.assertCart(resp[2], version=5, user_id=self.sub,
                        lines=[(self.p, "v-blue", 1, 500), (self.p, "v-red", 1, 1999)])

    def test_admin_may_change_any_cart(self):
        resp = self.c.delete(self.ipath, headers=admin())
        self.assertStatus(resp, 204, "admin DELETE of a user's item")


if __name__ == "__main__":
    unittest.main(verbosity=2)
