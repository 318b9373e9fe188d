"""POST /cart/{id}/merge: strategies, caps, atomicity, ownership, non-active carts."""
import os
import sys
import unittest
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import ApiTest, session_headers  # noqa: E402


def setUpModule():
    harness.module_setup(__name__)


def tearDownModule():
    harness.module_teardown(__name__)


VARIANTS = [{"id": "a", "sku": "A", "price": 1000, "stock": 5000},
            {"id": "b", "sku": "B", "price": 250, "stock": 5000},
            {"id": "c", "sku": "C", "price": 75, "stock": 5000},
            {"id": "low", "sku": "L", "price": 500, "stock": 6}]


class MergeTestBase(ApiTest):
    def setUp(self):
        self.sub, self.u = self.user()
        self.token, self.sid = self.session()
        self.g = session_headers(self.token)
        self.both = dict(self.u, **self.g)  # a shopper who just logged in: JWT + guest token
        self.p = self.product(VARIANTS)["id"]
        self.target = self.cart(self.u)["id"]
        self.source = self.cart(self.g)["id"]

    def fill(self, cart_id, headers, lines):
        for v, q in lines:
            self.assertStatus(self.add(cart_id, self.p, v, q, headers), 201, "fill %s x%d" % (v, q))

    def merge(self, strategy=None, headers=None, target=None, source=None, extra=None):
        body = {"sourceCartId": source or self.source}
        if strategy is not None:
            body["strategy"] = strategy
        h = dict(headers if headers is not None else self.both)
        h.update(extra or {})
        return self.c.post("/cart/%s/merge" % (target or self.target), body, headers=h)

    def quantities(self, cart):
        return {i["variantId"]: i["quantity"] for i in cart["items"]}


class MergeStrategyTest(MergeTestBase):
    def setUp(self):
        super().setUp()
        self.fill(self.target, self.u, [("a", 2), ("b", 5)])   # target version 3
        self.fill(self.source, self.g, [("a", 3), ("c", 1), ("b", 1)])   # source version 4

    def test_default_strategy_sums(self):
        resp = self.merge()
        self.assertStatus(resp, 200, "merge")
        self.assertCart(resp[2], version=4, user_id=self.sub,
                        lines=[(self.p, "a", 5, 1000), (self.p, "b", 6, 250), (self.p, "c", 1, 75)])
        self.assertETag(resp, 4)

    def test_sum_strategy(self):
        resp = self.merge("sum")
        self.assertStatus(resp, 200)
        self.assertEqual(self.quantities(resp[2]), {"a": 5, "b": 6, "c": 1})

    def test_max_strategy(self):
        resp = self.merge("max")
        self.assertStatus(resp, 200)
        self.assertCart(resp[2], version=4, user_id=self.sub,
                        lines=[(self.p, "a", 3, 1000), (self.p, "b", 5, 250), (self.p, "c", 1, 75)])

    def test_replace_strategy(self):
        resp = self.merge("replace")
        self.assertStatus(resp, 200)
        self.assertCart(resp[2], version=4, user_id=self.sub,
                        lines=[(self.p, "a", 3, 1000), (self.p, "b", 1, 250), (self.p, "c", 1, 75)])

    def test_totals_follow_the_merged_lines(self):
        t = self.merge()[2]["totals"]
        self.assertEqual((t["subtotal"], t["total"]), (5 * 1000 + 6 * 250 + 75, 5 * 1000 + 6 * 250 + 75))

    def test_source_becomes_merged(self):
        self.assertStatus(self.merge(), 200)
        src = self.get_cart(self.source, self.g)
        self.assertEqual(src["status"], "merged")
        self.assertEqual(src["version"], 5, "marking the source merged is one change")

    def test_target_get_shows_the_merge(self):
        body = self.merge()[2]
        self.assertEqual(self.get_cart(self.target, self.u), body)

    def test_unknown_strategy_is_400(self):
        prob = self.assertProblem(self.merge("average"), 400, "validation_failed")
        self.assertErrorField(prob, "strategy")
        self.assertEqual(self.get_cart(self.target, self.u)["version"], 3)
        self.assertEqual(self.get_cart(self.source, self.g)["status"], "active")


class MergeCapTest(MergeTestBase):
    def test_sum_is_capped_at_999(self):
        self.fill(self.target, self.u, [("a", 600)])
        self.fill(self.source, self.g, [("a", 600)])
        resp = self.merge("sum")
        self.assertStatus(resp, 200, "a sum above the per-line maximum is capped, not refused")
        self.assertEqual(self.quantities(resp[2]), {"a": 999})
        self.assertEqual(resp[2]["items"][0]["lineTotal"], 999 * 1000)

    def test_merge_above_stock_is_accepted_stock_is_checked_at_checkout(self):
        # Decision (README): a cart holds no stock; add and change check availability, a merge
        # only caps at the per-line maximum (API.md), and checkout reserves all or nothing.
        self.fill(self.target, self.u, [("low", 4)])
        self.fill(self.source, self.g, [("low", 4), ("a", 1)])
        resp = self.merge("sum")
        self.assertStatus(resp, 200)
        self.assertEqual(self.quantities(resp[2]), {"low": 8, "a": 1})

    def test_max_within_stock_is_accepted(self):
        self.fill(self.target, self.u, [("low", 4)])
        self.fill(self.source, self.g, [("low", 5)])
        resp = self.merge("max")
        self.assertStatus(resp, 200)
        self.assertEqual(self.quantities(resp[2]), {"low": 5})

    def test_merging_an_empty_source(self):
        self.fill(self.target, self.u, [("a", 1)])
        resp = self.merge()
        self.assertStatus(resp, 200)
        self.assertEqual(self.quantities(resp[2]), {"a": 1})
        self.assertEqual(self.get_cart(self.source, self.g)["status"], "merged")

    def test_merging_into_an_empty_target_copies_the_lines(self):
        self.fill(self.source, self.g, [("a", 2), ("b", 3)])
        resp = self.merge()
        self.assertStatus(resp, 200)
        self.assertCart(resp[2], version=2, user_id=self.sub,
                        lines=[(self.p, "a", 2, 1000), (self.p, "b", 3, 250)])


class MergedCartTest(MergeTestBase):
    def setUp(self):
        super().setUp()
        self.fill(self.source, self.g, [("a", 1)])
        self.item = self.get_cart(self.source, self.g)["items"][0]["id"]
        self.assertStatus(self.merge(), 200)

    def test_merged_cart_refuses_add_item(self):
        self.assertProblem(self.add(self.source, self.p, "b", 1, self.g), 409, "cart_not_active")

    def test_merged_cart_refuses_patch(self):
        self.assertProblem(self.c.patch("/cart/" + self.source, {"region": "DE"}, headers=self.g),
                           409, "cart_not_active")

    def test_merged_cart_refuses_item_patch(self):
        self.assertProblem(self.c.patch("/cart/%s/items/%s" % (self.source, self.item), {"quantity": 2},
                                        headers=self.g), 409, "cart_not_active")

    def test_merged_cart_refuses_item_delete(self):
        self.assertProblem(self.c.delete("/cart/%s/items/%s" % (self.source, self.item), headers=self.g),
                           409, "cart_not_active")

    def test_merging_a_merged_source_again_is_409(self):
        before = self.get_cart(self.target, self.u)
        self.assertProblem(self.merge(), 409, "cart_not_active")
        self.assertEqual(self.get_cart(self.target, self.u), before)

    def test_merging_into_a_merged_target_is_409(self):
        other = self.cart(self.g)["id"]
        self.assertProblem(self.merge(target=self.source, source=other, headers=self.g), 409, "cart_not_active")
        self.assertEqual(self.get_cart(other, self.g)["status"], "active")

    def test_merged_cart_stays_readable(self):
        src = self.get_cart(self.source, self.g)
        self.assertEqual(src["status"], "merged")
        self.assertEqual(self.quantities(src), {"a": 1})


class MergeOwnershipTest(MergeTestBase):
    def setUp(self):
        super().setUp()
        self.fill(self.source, self.g, [("a", 1)])

    def test_jwt_alone_cannot_merge_a_guest_cart(self):
        self.assertProblem(self.merge(headers=self.u), 404, "not_found")
        self.assertEqual(self.get_cart(self.source, self.g)["status"], "active")

    def test_guest_token_alone_cannot_merge_into_a_user_cart(self):
        self.assertProblem(self.merge(headers=self.g), 404, "not_found")
        self.assertEqual(self.get_cart(self.target, self.u)["version"], 1)

    def test_someone_elses_source_is_404(self):
        other_token, _ = self.session()
        foreign = self.cart(session_headers(other_token))["id"]
        self.assertProblem(self.merge(source=foreign), 404, "not_found")
        self.assertEqual(self.get_cart(foreign, session_headers(other_token))["status"], "active")
        self.assertEqual(self.get_cart(self.target, self.u)["version"], 1)

    def test_someone_elses_target_is_404(self):
        _, bob = self.user()
        foreign = self.cart(bob)["id"]
        self.assertProblem(self.merge(target=foreign), 404, "not_found")
        self.assertEqual(self.get_cart(self.source, self.g)["status"], "active")

    def test_unknown_source_is_404(self):
        self.assertProblem(self.merge(source=str(uuid.uuid4())), 404, "not_found")
        self.assertEqual(self.get_cart(self.target, self.u)["version"], 1)

    def test_merge_without_credentials_is_401(self):
        self.assertProblem(self.merge(headers={}), 401, "unauthorized")

    def test_two_carts_of_one_user(self):
        other = self.cart(self.u)["id"]
        self.fill(other, self.u, [("b", 2)])
        resp = self.merge(headers=self.u, source=other)
        self.assertStatus(resp, 200, "merge of two carts of one user with the JWT alone")
        self.assertEqual(self.quantities(resp[2]), {"b": 2})


class MergeValidationTest(MergeTestBase):
    def test_missing_source_is_400(self):
        resp = self.c.post("/cart/%s/merge" % self.target, {"strategy": "sum"}, headers=self.both)
        prob = self.assertProblem(resp, 400, "validation_failed")
        self.assertErrorField(prob, "sourceCartId")

    def test_source_of_wrong_type_is_400(self):
        resp = self.c.post("/cart/%s/merge" % self.target, {"sourceCartId": 5}, headers=self.both)
        prob = self.assertProblem(resp, 400, "validation_failed")
        self.assertErrorField(prob, "sourceCartId")

    def test_malformed_json_is_400(self):
        resp = self.c.post("/cart/%s/merge" % self.target, raw=b"{", headers=self.both)
        self.assertProblem(resp, 400, "invalid_json")

    def test_stale_if_match_on_target_is_412(self):
        self.fill(self.target, self.u, [("a", 1)])
        self.assertProblem(self.merge(extra={"If-Match": '"1"'}), 412, "version_mismatch")
        self.assertEqual(self.get_cart(self.source, self.g)["status"], "active")
        self.assertEqual(self.get_cart(self.target, self.u)["version"], 2)


if __name__ == "__main__":
    unittest.main(verbosity=2)
