"""Carts: POST/GET /cart, GET/PATCH/DELETE /cart/{id}, GET /cart/{id}/totals, If-Match, ownership."""
import os
import sys
import unittest
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import ApiTest, admin, session_headers  # noqa: E402


def expected_totals(lines, currency="USD"):
    """harness.expected_totals with the v1.1 field: no tax rate, so taxInclusive is false."""
    return dict(harness.expected_totals(lines, currency), taxInclusive=False)


def setUpModule():
    harness.module_setup(__name__)


def tearDownModule():
    harness.module_teardown(__name__)


class CreateCartTest(ApiTest):
    def test_create_with_jwt_answers_201_owned_by_the_user(self):
        sub, user = self.user()
        resp = self.c.post("/cart", {}, headers=user)
        self.assertStatus(resp, 201, "POST /cart")
        self.assertCart(resp[2], version=1, user_id=sub)
        self.assertETag(resp, 1)
        self.assertIn(resp[2]["metadata"], (None, {}), "a new cart has no metadata")

    def test_new_cart_totals_are_all_zero(self):
        _, user = self.user()
        cart = self.cart(user)
        self.assertEqual(cart["totals"], expected_totals([], "USD"))

    def test_create_with_session_token_is_owned_by_the_session(self):
        token, sid = self.session()
        resp = self.c.post("/cart", {}, headers=session_headers(token))
        self.assertStatus(resp, 201)
        self.assertCart(resp[2], version=1, session_id=sid)

    def test_create_with_empty_body_defaults_to_usd(self):
        sub, user = self.user()
        resp = self.c.post("/cart", headers=user)  # no body at all
        self.assertStatus(resp, 201, "POST /cart without a body")
        self.assertCart(resp[2], version=1, user_id=sub, currency="USD")

    def test_create_with_currency_and_region(self):
        sub, user = self.user()
        resp = self.c.post("/cart", {"currency": "EUR", "region": "US-CA"}, headers=user)
        self.assertStatus(resp, 201)
        self.assertCart(resp[2], version=1, user_id=sub, currency="EUR", region="US-CA")
        self.assertEqual(resp[2]["totals"]["currency"], "EUR")

    def test_create_with_null_optional_fields(self):
        sub, user = self.user()
        resp = self.c.post("/cart", {"currency": None, "region": None}, headers=user)
        self.assertStatus(resp, 201, "optional fields may be null")
        self.assertCart(resp[2], version=1, user_id=sub)

    def test_create_with_invalid_currency_is_400(self):
        _, user = self.user()
        for cur in ("usd", "US", "DOLLARS", 840):
            with self.subTest(currency=cur):
                prob = self.assertProblem(self.c.post("/cart", {"currency": cur}, headers=user),
                                          400, "validation_failed")
                self.assertErrorField(prob, "currency")

    def test_create_with_invalid_region_is_400(self):
        _, user = self.user()
        for region in ("us-ca", "USA", "US-", "US-ABCD", 5):
            with self.subTest(region=region):
                prob = self.assertProblem(self.c.post("/cart", {"region": region}, headers=user),
                                          400, "validation_failed")
                self.assertErrorField(prob, "region")

    def test_create_without_credentials_is_401(self):
        self.assertProblem(self.c.post("/cart", {}), 401, "unauthorized")

    def test_create_with_unknown_session_token_is_401(self):
        self.assertProblem(self.c.post("/cart", {}, headers=session_headers("no-such-token")),
                           401, "unauthorized")

    def test_each_create_makes_a_new_cart(self):
        _, user = self.user()
        a, b = self.cart(user), self.cart(user)
        self.assertNotEqual(a["id"], b["id"])


class GetCartTest(ApiTest):
    def test_get_answers_the_cart_with_etag(self):
        sub, user = self.user()
        cart = self.cart(user, {"region": "DE"})
        resp = self.c.get("/cart/" + cart["id"], headers=user)
        self.assertStatus(resp, 200)
        self.assertCart(resp[2], version=1, user_id=sub, region="DE")
        self.assertEqual(resp[2], cart, "GET differs from the POST answer")
        self.assertETag(resp, 1)

    def test_unknown_cart_is_404(self):
        _, user = self.user()
        self.assertProblem(self.c.get("/cart/" + str(uuid.uuid4()), headers=user), 404, "not_found")

    def test_non_uuid_cart_id_is_404(self):
        _, user = self.user()
        self.assertProblem(self.c.get("/cart/not-a-uuid", headers=user), 404, "not_found")

    def test_get_without_credentials_is_401(self):
        _, user = self.user()
        cart = self.cart(user)
        self.assertProblem(self.c.get("/cart/" + cart["id"]), 401, "unauthorized")

    def test_another_users_cart_is_404(self):
        _, alice = self.user()
        _, bob = self.user()
        cart = self.cart(alice)
        self.assertProblem(self.c.get("/cart/" + cart["id"], headers=bob), 404, "not_found")

    def test_another_sessions_cart_is_404(self):
        t1, _ = self.session()
        t2, _ = self.session()
        cart = self.cart(session_headers(t1))
        self.assertProblem(self.c.get("/cart/" + cart["id"], headers=session_headers(t2)),
                           404, "not_found")

    def test_a_users_cart_is_404_for_a_guest_session(self):
        _, alice = self.user()
        token, _ = self.session()
        cart = self.cart(alice)
        self.assertProblem(self.c.get("/cart/" + cart["id"], headers=session_headers(token)),
                           404, "not_found")

    def test_a_guest_cart_is_404_for_a_user(self):
        _, alice = self.user()
        token, _ = self.session()
        cart = self.cart(session_headers(token))
        self.assertProblem(self.c.get("/cart/" + cart["id"], headers=alice), 404, "not_found")

    def test_admin_may_read_any_cart(self):
        sub, alice = self.user()
        cart = self.cart(alice)
        resp = self.c.get("/cart/" + cart["id"], headers=admin())
        self.assertStatus(resp, 200, "admin GET of a user's cart")
        self.assertCart(resp[2], version=1, user_id=sub)


class ListCartsTest(ApiTest):
    def test_list_of_a_new_user_is_empty(self):
        _, user = self.user()
        resp = self.c.get("/cart", headers=user)
        self.assertStatus(resp, 200)
        self.assertEqual(resp[2]["items"], [])

    def test_list_shows_exactly_the_callers_carts(self):
        _, alice = self.user()
        _, bob = self.user()
        mine = {self.cart(alice)["id"], self.cart(alice)["id"]}
        self.cart(bob)
        resp = self.c.get("/cart", headers=alice)
        self.assertStatus(resp, 200)
        self.assertEqual({c["id"] for c in resp[2]["items"]}, mine)
        for c in resp[2]["items"]:
            self.assertTrue(harness.CART_KEYS <= set(c), "list entries are whole carts: %r" % c)

    def test_list_puts_active_carts_first(self):
        _, user = self.user()
        first = self.cart(user)
        second = self.cart(user)
        # Merge the first into the second: the first becomes `merged`.
        resp = self.c.post("/cart/%s/merge" % second["id"], {"sourceCartId": first["id"]}, headers=user)
        self.assertStatus(resp, 200, "merge")
        third = self.cart(user)
        items = self.c.get("/cart", headers=user)[2]["items"]
        ids = [c["id"] for c in items]
        self.assertEqual(set(ids), {first["id"], second["id"], third["id"]})
        self.assertEqual(ids[-1], first["id"], "the merged cart must come after the active ones")
        self.assertEqual([c["status"] for c in items], ["active", "active", "merged"])

    def test_same_carts_from_two_devices(self):
        sub, _ = self.user()
        phone = self.server.client()
        laptop = self.server.client()
        try:
            h_phone = harness.bearer(harness.jwt(sub))
            h_laptop = harness.bearer(harness.jwt(sub, exp_delta=7200))
            made = phone.post("/cart", {}, headers=h_phone)[2]
            self.assertStatus(laptop.post("/cart/%s/items" % made["id"], {
                "productId": self.product()["id"], "variantId": "v-red", "quantity": 2},
                headers=h_laptop), 201, "add from the second device")
            a = phone.get("/cart", headers=h_phone)
            b = laptop.get("/cart", headers=h_laptop)
            self.assertStatus(a, 200)
            self.assertStatus(b, 200)
            self.assertEqual(a[2]["items"], b[2]["items"], "two devices see different carts")
            self.assertEqual(a[2]["items"][0]["version"], 2)
        finally:
            phone.close()
            laptop.close()

    def test_list_for_a_guest_session(self):
        token, sid = self.session()
        cart = self.cart(session_headers(token))
        resp = self.c.get("/cart", headers=session_headers(token))
        self.assertStatus(resp, 200)
        self.assertEqual([c["id"] for c in resp[2]["items"]], [cart["id"]])

    def test_list_without_credentials_is_401(self):
        self.assertProblem(self.c.get("/cart"), 401, "unauthorized")

    def test_deleted_cart_leaves_the_list(self):
        _, user = self.user()
        keep = self.cart(user)
        gone = self.cart(user)
        self.assertStatus(self.c.delete("/cart/" + gone["id"], headers=user), 204)
        ids = [c["id"] for c in self.c.get("/cart", headers=user)[2]["items"]]
        self.assertEqual(ids, [keep["id"]])


class PatchCartTest(ApiTest):
    def setUp(self):
        self.sub, self.u = self.user()
        self.cart_ = self.cart(self.u)
        self.path = "/cart/" + self.cart_["id"]

    def assertUnchanged(self):
        now = self.get_cart(self.cart_["id"], self.u)
        self.assertEqual(now, self.cart_, "a refused change changed the cart")

    def test_patch_region(self):
        resp = self.c.patch(self.path, {"region": "US-NY"}, headers=self.u)
        self.assertStatus(resp, 200)
        self.assertCart(resp[2], version=2, user_id=self.sub, region="US-NY")
        self.assertETag(resp, 2)
        self.assertEqual(self.get_cart(self.cart_["id"], self.u), resp[2])

    def test_patch_country_only_region(self):
        resp = self.c.patch(self.path, {"region": "FR"}, headers=self.u)
        self.assertStatus(resp, 200)
        self.assertEqual(resp[2]["region"], "FR")

    def test_patch_invalid_region_is_400_and_changes_nothing(self):
        prob = self.assertProblem(self.c.patch(self.path, {"region": "california"}, headers=self.u),
                                  400, "validation_failed")
        self.assertErrorField(prob, "region")
        self.assertUnchanged()

    def test_patch_discount_code_is_422_and_changes_nothing(self):
        self.assertProblem(self.c.patch(self.path, {"discountCodes": ["SAVE10"]}, headers=self.u),
                           422, "invalid_discount_code")
        self.assertUnchanged()

    def test_patch_discount_codes_of_wrong_type_is_400(self):
        self.assertProblem(self.c.patch(self.path, {"discountCodes": "SAVE10"}, headers=self.u),
                           400, "validation_failed")
        self.assertUnchanged()

    def test_patch_empty_discount_codes_is_accepted(self):
        resp = self.c.patch(self.path, {"discountCodes": []}, headers=self.u)
        self.assertStatus(resp, 200)
        self.assertEqual(resp[2]["discountCodes"], [])

    def test_patch_metadata_round_trips(self):
        meta = {"giftWrap": True, "note": "für Oma ✓", "n": 3, "nested": {"a": [1, 2, {"b": None}]}}
        resp = self.c.patch(self.path, {"metadata": meta}, headers=self.u)
        self.assertStatus(resp, 200)
        self.assertEqual(resp[2]["metadata"], meta)
        self.assertEqual(self.get_cart(self.cart_["id"], self.u)["metadata"], meta)

    def test_patch_metadata_that_is_not_an_object_is_400(self):
        for meta in ([1, 2], "x", 3):
            with self.subTest(metadata=meta):
                prob = self.assertProblem(self.c.patch(self.path, {"metadata": meta}, headers=self.u),
                                          400, "validation_failed")
                self.assertErrorField(prob, "metadata")
        self.assertUnchanged()

    def test_patch_metadata_over_4_kib_is_400(self):
        prob = self.assertProblem(self.c.patch(self.path, {"metadata": {"x": "y" * 5000}}, headers=self.u),
                                  400, "validation_failed")
        self.assertErrorField(prob, "metadata")
        self.assertUnchanged()

    def test_patch_shipping_method_must_exist_and_is_priced(self):
        # Shipping methods exist since issue 4: an unknown one is refused, a known one priced.
        self.assertProblem(self.c.patch(self.path, {"shippingMethod": "no-such-method"}, headers=self.u),
                           400, "validation_failed")
        self.assertUnchanged()
        st = self.c.put("/admin/shipping-methods/express", {"name": "Express", "price": 0}, headers=admin())[0]
        self.assertEqual(st, 201)  # v1.1: a PUT that creates the method answers 201
        resp = self.c.patch(self.path, {"shippingMethod": "express"}, headers=self.u)
        self.assertStatus(resp, 200)
        self.assertCart(resp[2], version=2, user_id=self.sub, shipping_method="express")
        self.assertEqual(resp[2]["totals"]["shippingTotal"], 0)

    def test_patch_shipping_method_over_64_characters_is_400(self):
        self.assertProblem(self.c.patch(self.path, {"shippingMethod": "s" * 65}, headers=self.u),
                           400, "validation_failed")
        self.assertUnchanged()

    def test_each_patch_adds_one_to_the_version(self):
        for n, region in enumerate(("US", "DE", "FR"), start=2):
            resp = self.c.patch(self.path, {"region": region}, headers=self.u)
            self.assertStatus(resp, 200)
            self.assertEqual(resp[2]["version"], n)
            self.assertETag(resp, n)

    def test_patch_someone_elses_cart_is_404_and_changes_nothing(self):
        _, bob = self.user()
        self.assertProblem(self.c.patch(self.path, {"region": "DE"}, headers=bob), 404, "not_found")
        self.assertUnchanged()

    def test_patch_without_credentials_is_401(self):
        self.assertProblem(self.c.patch(self.path, {"region": "DE"}), 401, "unauthorized")
        self.assertUnchanged()

    def test_patch_unknown_cart_is_404(self):
        self.assertProblem(self.c.patch("/cart/" + str(uuid.uuid4()), {"region": "DE"}, headers=self.u),
                           404, "not_found")


class IfMatchTest(ApiTest):
    def setUp(self):
        self.sub, self.u = self.user()
        self.cart_ = self.cart(self.u)
        self.path = "/cart/" + self.cart_["id"]

    def patch(self, if_match, region="DE"):
        h = dict(self.u)
        h["If-Match"] = if_match
        return self.c.patch(self.path, {"region": region}, headers=h)

    def test_matching_if_match_is_accepted(self):
        resp = self.patch('"1"')
        self.assertStatus(resp, 200)
        self.assertEqual(resp[2]["version"], 2)

    def test_stale_if_match_is_412_and_changes_nothing(self):
        self.assertStatus(self.patch('"1"'), 200)
        self.assertProblem(self.patch('"1"', region="FR"), 412, "version_mismatch")
        cart = self.get_cart(self.cart_["id"], self.u)
        self.assertEqual((cart["version"], cart["region"]), (2, "DE"))

    def test_future_if_match_is_412(self):
        self.assertProblem(self.patch('"7"'), 412, "version_mismatch")
        self.assertEqual(self.get_cart(self.cart_["id"], self.u)["version"], 1)

    def test_weak_bare_and_star_forms_are_accepted(self):
        # Each PATCH sets another region: v1.1 keeps the version of a PATCH that changes nothing.
        for n, (tag, region) in enumerate((('W/"1"', "US"), ("2", "FR"), ("*", "IT")), start=2):
            with self.subTest(if_match=tag):
                resp = self.patch(tag, region=region)
                self.assertStatus(resp, 200, "If-Match %s" % tag)
                self.assertEqual(resp[2]["version"], n)

    def test_if_match_on_add_item(self):
        p = self.product()["id"]
        h = dict(self.u)
        h["If-Match"] = '"5"'
        resp = self.c.post(self.path + "/items", {"productId": p, "variantId": "v-red", "quantity": 1}, headers=h)
        self.assertProblem(resp, 412, "version_mismatch")
        self.assertEqual(self.get_cart(self.cart_["id"], self.u)["items"], [])
        h["If-Match"] = '"1"'
        resp = self.c.post(self.path + "/items", {"productId": p, "variantId": "v-red", "quantity": 1}, headers=h)
        self.assertStatus(resp, 201)

    def test_stale_if_match_on_delete_is_412_and_keeps_the_cart(self):
        self.assertStatus(self.patch('"1"'), 200)
        h = dict(self.u)
        h["If-Match"] = '"1"'
        self.assertProblem(self.c.delete(self.path, headers=h), 412, "version_mismatch")
        self.get_cart(self.cart_["id"], self.u)


class DeleteCartTest(ApiTest):
    def test_delete_answers_204_then_the_cart_is_gone(self):
        _, user = self.user()
        cart = self.cart(user)
        resp = self.c.delete("/cart/" + cart["id"], headers=user)
        self.assertStatus(resp, 204, "DELETE /cart/{id}")
        self.assertEqual(resp[3], b"", "204 with a body")
        self.assertProblem(self.c.get("/cart/" + cart["id"], headers=user), 404, "not_found")

    def test_deleted_cart_refuses_changes_with_404(self):
        _, user = self.user()
        cart = self.cart(user)
        self.c.delete("/cart/" + cart["id"], headers=user)
        self.assertProblem(self.c.patch("/cart/" + cart["id"], {"region": "DE"}, headers=user),
                           404, "not_found")
        self.assertProblem(self.c.get("/cart/%s/totals" % cart["id"], headers=user), 404, "not_found")

    def test_delete_twice_is_404(self):
        _, user = self.user()
        cart = self.cart(user)
        self.c.delete("/cart/" + cart["id"], headers=user)
        self.assertProblem(self.c.delete("/cart/" + cart["id"], headers=user), 404, "not_found")

    def test_delete_someone_elses_cart_is_404_and_keeps_it(self):
        _, alice = self.user()
        _, bob = self.user()
        cart = self.cart(alice)
        self.assertProblem(self.c.delete("/cart/" + cart["id"], headers=bob), 404, "not_found")
        self.get_cart(cart["id"], alice)

    def test_delete_without_credentials_is_401(self):
        _, alice = self.user()
        cart = self.cart(alice)
        self.assertProblem(self.c.delete("/cart/" + cart["id"]), 401, "unauthorized")
        self.get_cart(cart["id"], alice)

    def test_guest_deletes_own_cart(self):
        token, _ = self.session()
        cart = self.cart(session_headers(token))
        self.assertStatus(self.c.delete("/cart/" + cart["id"], headers=session_headers(token)), 204)


class TotalsTest(ApiTest):
    def test_totals_of_an_empty_cart(self):
        _, user = self.user()
        cart = self.cart(user, {"currency": "EUR"})
        resp = self.c.get("/cart/%s/totals" % cart["id"], headers=user)
        self.assertStatus(resp, 200)
        self.assertEqual(resp[2], expected_totals([], "EUR"))

    def test_totals_with_lines(self):
        _, user = self.user()
        p = self.product([{"id": "a", "sku": "A", "price": 1999, "stock": 50},
                          {"id": "b", "sku": "B", "price": 333, "stock": 50}])["id"]
        cart = self.cart(user)
        self.add(cart["id"], p, "a", 3, user)
        body = self.add(cart["id"], p, "b", 7, user)[2]
        resp = self.c.get("/cart/%s/totals" % cart["id"], headers=user)
        self.assertStatus(resp, 200)
        ids = {(i["variantId"]): i["id"] for i in body["items"]}
        want = expected_totals([(ids["a"], p, "a", 3, 1999), (ids["b"], p, "b", 7, 333)])
        got = resp[2]
        self.assertEqual(sorted(got["lines"], key=lambda l: l["variantId"]), want.pop("lines"))
        got = dict(got)
        got.pop("lines")
        self.assertEqual(got, want)
        self.assertEqual(want["total"], 3 * 1999 + 7 * 333)

    def test_totals_equal_the_carts_totals(self):
        _, user = self.user()
        p = self.product()["id"]
        cart = self.cart(user)
        body = self.add(cart["id"], p, "v-red", 2, user)[2]
        self.assertEqual(self.c.get("/cart/%s/totals" % cart["id"], headers=user)[2], body["totals"])

    def test_totals_of_someone_elses_cart_is_404(self):
        _, alice = self.user()
        _, bob = self.user()
        cart = self.cart(alice)
        self.assertProblem(self.c.get("/cart/%s/totals" % cart["id"], headers=bob), 404, "not_found")

    def test_totals_without_credentials_is_401(self):
        _, alice = self.user()
        cart = self.cart(alice)
        self.assertProblem(self.c.get("/cart/%s/totals" % cart["id"]), 401, "unauthorized")


if __name__ == "__main__":
    unittest.main(verbosity=2)
