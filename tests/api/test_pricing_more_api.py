"""More pricing: quotes equal carts over random content, changing and retiring discounts
(PATCH/DELETE /admin/discounts/{id}), used-up codes, and the pricing bulkhead (CARTD_PRICING_WORKERS,
CARTD_PRICING_QUEUE_MAX, 503 with Retry-After, health and metrics figures).

Standard library only. No timing assertions: the machine is shared and noisy.
CARTD_PRICING_SEED picks another seed for the random carts (the seed is in every failure message).
"""
import datetime
import http.client
import json
import os
import random
import sqlite3
import subprocess
import tempfile
import threading
import time
import unittest
import uuid

from cartd_api import (ADMIN, BIN, SECRET, Client, ServerTest, free_port, new_cart, new_user, put_product,
                       store_url)

SEED = int(os.environ.get("CARTD_PRICING_SEED", "20240611"))
SCALARS = ("currency", "subtotal", "discountTotal", "taxTotal", "shippingTotal", "total", "taxRate")
LINE_KEYS = ("productId", "variantId", "quantity", "unitPrice", "subtotal", "discount", "tax", "total")


# ---------------------------------------------------------------------------------------------
# A reference model of API.md "Pricing" (integer arithmetic only), used to tell whether two
# orders of the same lines must price alike (allocation ties go to the earlier line) and as an
# independent oracle for the engine.

def rate_tt(text):
    """A decimal percent string ("8.875") in ten-thousandths of a percent (88750)."""
    whole, _, frac = text.partition(".")
    return int(whole) * 10000 + int((frac + "0000")[:4])


def round_half_away(n, d):
    """round(n / d), half away from zero, for n >= 0 and d > 0."""
    return (2 * n + d) // (2 * d)


def allocate(amount, weights):
    total = sum(weights)
    out = [0] * len(weights)
    if total <= 0 or amount <= 0:
        return out
    rem = []
    for i, w in enumerate(weights):
        out[i] = amount * w // total
        rem.append(amount * w % total)
    left = amount - sum(out)
    order = sorted(range(len(weights)), key=lambda i: (-rem[i], -weights[i], i))
    for i in order[:left]:
        out[i] += 1
    return out


def model_refusal(d, lines):
    """Why a code is refused for these lines (None: accepted); no windows or limits here."""
    subtotal = sum(l["unitPrice"] * l["quantity"] for l in lines)
    if subtotal < d.get("minSubtotal", 0):
        return "minSubtotal"
    pids = d.get("productIds") or []
    if pids and not any(l["productId"] in pids for l in lines):
        return "no eligible line"
    return None


def model_price(lines, automatic, codes, tax, shipping):
    """lines: [{productId, variantId, quantity, unitPrice}] in cart order; automatic: discounts
    in creation order; codes: discounts in the cart's code order; tax: (rate string, inclusive)
    or None; shipping: (price, freeOver|None) or None."""
    out_lines = []
    left = []
    for l in lines:
        sub = l["unitPrice"] * l["quantity"]
        out_lines.append(dict(productId=l["productId"], variantId=l["variantId"], quantity=l["quantity"],
                              unitPrice=l["unitPrice"], subtotal=sub, discount=0, tax=0, total=0))
        left.append(sub)
    subtotal = sum(l["subtotal"] for l in out_lines)
    order = [d for _, d in sorted(enumerate(automatic), key=lambda p: (p[1].get("priority", 0), p[0]))]
    order += codes
    applied = []
    discount_total = 0
    for d in order:
        if model_refusal(d, lines):
            continue
        pids = d.get("productIds") or []
        idx = [i for i, l in enumerate(lines) if (not pids or l["productId"] in pids) and left[i] > 0]
        eligible = sum(left[i] for i in idx)
        if eligible <= 0:
            continue
        if d["type"] == "percentage":
            amount = round_half_away(eligible * rate_tt(str(d["value"])), 1000000)
        else:
            amount = min(d["value"], eligible)
        amount = min(amount, eligible)
        if amount <= 0:
            continue
        for i, share in zip(idx, allocate(amount, [left[i] for i in idx])):
            out_lines[i]["discount"] += share
            left[i] -= share
        discount_total += amount
        applied.append((d["id"], amount))
    exclusive = tax is not None and not tax[1]
    for l in out_lines:
        taxable = l["subtotal"] - l["discount"]
        if tax is not None and taxable > 0:
            p = rate_tt(tax[0])
            l["tax"] = round_half_away(taxable * p, 1000000 + p if tax[1] else 1000000)
        l["total"] = taxable + (l["tax"] if exclusive else 0)
    tax_total = sum(l["tax"] for l in out_lines)
    shipping_total = 0
    if shipping is not None:
        price, free_over = shipping
        free = free_over is not None and subtotal - discount_total >= free_over
        shipping_total = 0 if free else price
    total = max(0, subtotal - discount_total + (tax_total if exclusive else 0) + shipping_total)
    return {"subtotal": subtotal, "discountTotal": discount_total, "taxTotal": tax_total,
            "shippingTotal": shipping_total, "total": total, "applied": applied,
            "lines": sorted(tuple(l[k] for k in LINE_KEYS) for l in out_lines)}


def comparable(t):
    """Totals as JSON, comparable across carts and quotes (line ids differ)."""
    out = {k: t.get(k) for k in SCALARS}
    out["appliedDiscounts"] = t.get("appliedDiscounts")
    out["lines"] = sorted(tuple(l[k] for k in LINE_KEYS) for l in t.get("lines", []))
    return out


def as_model(t):
    out = {k: t[k] for k in ("subtotal", "discountTotal", "taxTotal", "shippingTotal", "total")}
    out["applied"] = [(a["id"], a["amount"]) for a in t["appliedDiscounts"]]
    out["lines"] = sorted(tuple(l[k] for k in LINE_KEYS) for l in t["lines"])
    return out


# ---------------------------------------------------------------------------------------------
# 1. A quote equals the cart with the same content, over random carts.

class RandomCartsTest(ServerTest):
    CARTS = 40

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        try:
            cls.build()
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def fail_setup(cls, what, resp):
        raise AssertionError("seed=%d: %s: %s %s" % (SEED, what, resp[0], resp[3][:2000]))

    @classmethod
    def build(cls):
        c = cls.c
        rnd = random.Random(SEED)
        cls.rnd_products = []  # [(pid, [(vid, price)])]
        for i in range(6):
            variants = []
            for j in range(rnd.randint(1, 3)):
                price = 0 if (i, j) == (0, 0) else rnd.randint(0, 50000)  # one free line for sure
                variants.append({"id": "v%d" % j, "sku": "S%d-%d" % (i, j), "price": price, "stock": 100000})
            pid = put_product(c, variants, name="P%d" % i)
            cls.rnd_products.append((pid, [(v["id"], v["price"]) for v in variants]))
        cls.price_of = {(pid, vid): price for pid, vs in cls.rnd_products for vid, price in vs}
        pids = [p for p, _ in cls.rnd_products]

        cls.taxes = {}  # region -> (rate as the server formats it, inclusive)
        for region, rate, inclusive in (("US-NY", "8.875", False), ("US-CA", "7.25", False), ("DE", "19", True)):
            resp = c.put("/admin/tax-rates/" + region, {"rate": rate, "inclusive": inclusive}, headers=ADMIN)
            if resp[0] != 201:  # v1.1: created
                cls.fail_setup("tax rate " + region, resp)
            cls.taxes[region] = (resp[2]["rate"], inclusive)
        cls.regions = [None, "US-NY", "US-CA", "DE", "US-TX"]  # US-TX: no rate

        cls.shipping = {"std": (499, 250000), "express": (1299, None)}
        for mid, (price, free_over) in cls.shipping.items():
            body = {"name": mid, "price": price}
            if free_over is not None:
                body["freeOver"] = free_over
            resp = c.put("/admin/shipping-methods/" + mid, body, headers=ADMIN)
            if resp[0] != 201:  # v1.1: created
                cls.fail_setup("shipping " + mid, resp)

        specs = [
            {"type": "percentage", "value": "12.5", "priority": 5},
            {"type": "fixed", "value": 1500, "currency": "USD", "priority": -1, "productIds": pids[0:2]},
            {"type": "percentage", "value": "10", "priority": 5, "minSubtotal": 200000},
            {"code": "SAVE15", "type": "percentage", "value": "15", "productIds": pids[2:4]},
            {"code": "TENOFF", "type": "fixed", "value": 1000, "currency": "USD", "minSubtotal": 100000},
            {"code": "THIRD", "type": "percentage", "value": "33.3333"},
            {"code": "BIG", "type": "fixed", "value": 99999999, "currency": "USD", "productIds": pids[5:6]},
        ]
        cls.automatic, cls.by_code = [], {}
        for spec in specs:
            resp = c.post("/admin/discounts", spec, headers=ADMIN)
            if resp[0] != 201:
                cls.fail_setup("discount %r" % spec, resp)
            d = resp[2]
            if d["code"]:
                cls.by_code[d["code"].lower()] = d
            else:
                cls.automatic.append(d)

        cls.records = []
        for k in range(cls.CARTS):
            adds = []
            for _ in range(rnd.randint(1, 8)):
                pid, variants = rnd.choice(cls.rnd_products)
                adds.append((pid, rnd.choice(variants)[0], rnd.randint(1, 20)))
            region = rnd.choice(cls.regions)
            codes = [rnd.choice((str.lower, str.upper, str.title))(code)
                     for code in rnd.sample(sorted(cls.by_code), rnd.randint(0, 3))]
            ship = rnd.choice([None, "std", "express"])
            rec = {"k": k, "adds": adds, "region": region, "codes": codes, "ship": ship}
            rec["cart"], rec["dropped"], rec["views"] = cls.make_cart(adds, region, codes, ship)
            rec["quote"] = cls.quote_of(rec["cart"])
            accepted = rec["cart"]["discountCodes"]
            rec["rcart"], rdropped, _ = cls.make_cart(list(reversed(adds)), region, accepted, ship)
            if rdropped:
                cls.fail_setup("reversed cart %d refused accepted codes %r" % (k, rdropped), (0, 0, 0, b""))
            rec["rquote"] = cls.quote_of(rec["rcart"])
            cls.records.append(rec)

    @classmethod
    def make_cart(cls, adds, region, codes, ship):
        c, user = cls.c, new_user()
        cart = new_cart(c, user, {"currency": "USD"})
        for pid, vid, qty in adds:
            resp = c.post("/cart/%s/items" % cart["id"], {"productId": pid, "variantId": vid, "quantity": qty}, headers=user)
            if resp[0] != 201:
                cls.fail_setup("add %s/%s x%d" % (pid, vid, qty), resp)
        codes = list(codes)
        dropped = []
        for _ in range(len(codes) + 2):
            body = {"discountCodes": codes}
            if region is not None:
                body["region"] = region
            if ship is not None:
                body["shippingMethod"] = ship
            resp = c.patch("/cart/" + cart["id"], body, headers=user)
            if resp[0] == 200:
                break
            if resp[0] != 422 or (resp[2] or {}).get("code") != "invalid_discount_code":
                cls.fail_setup("PATCH cart %r" % body, resp)
            detail = resp[2].get("detail", "")
            named = [x for x in codes if detail.startswith(x + ":") or detail.endswith(" " + x)]
            if not named:  # the problem does not say which: find the refused one alone
                for x in codes:
                    alone = c.patch("/cart/" + cart["id"], {"discountCodes": [x]}, headers=user)
                    if alone[0] == 422:
                        named = [x]
                        break
            if not named:
                cls.fail_setup("PATCH refused %r but no code alone is refused" % codes, resp)
            codes.remove(named[0])
            dropped.append(named[0])
        else:
            cls.fail_setup("PATCH cart never accepted", resp)
        patched = resp[2]
        got = c.get("/cart/" + cart["id"], headers=user)
        totals = c.get("/cart/%s/totals" % cart["id"], headers=user)
        if got[0] != 200 or totals[0] != 200:
            cls.fail_setup("GET cart / totals", got if got[0] != 200 else totals)
        return got[2], dropped, {"patch": patched["totals"], "get": got[2]["totals"], "totals": totals[2]}

    @classmethod
    def quote_of(cls, cart):
        body = {"currency": cart["currency"],
                "items": [{"productId": i["productId"], "variantId": i["variantId"], "quantity": i["quantity"]}
                          for i in cart["items"]],
                "discountCodes": cart["discountCodes"]}
        if cart.get("region") is not None:
            body["region"] = cart["region"]
        if cart.get("shippingMethod") is not None:
            body["shippingMethod"] = cart["shippingMethod"]
        resp = cls.c.post("/pricing/calculate", body)
        if resp[0] != 200:
            cls.fail_setup("quote %r" % body, resp)
        return resp[2]

    def where(self, rec):
        return "seed=%d cart=%d adds=%r region=%r codes=%r (dropped %r) ship=%r" % (
            SEED, rec["k"], rec["adds"], rec["region"], rec["codes"], rec["dropped"], rec["ship"])

    def model_for(self, cart, ship):
        lines = [{"productId": i["productId"], "variantId": i["variantId"], "quantity": i["quantity"],
                  "unitPrice": self.price_of[(i["productId"], i["variantId"])]} for i in cart["items"]]
        seen, codes = set(), []
        for code in cart["discountCodes"]:
            if code.lower() not in seen:
                seen.add(code.lower())
                codes.append(self.by_code[code.lower()])
        region = cart.get("region")
        return lines, model_price(lines, self.automatic, codes, self.taxes.get(region), self.shipping.get(ship))

    # -- the tests ----------------------------------------------------------------------------

    def test_a_quote_equals_the_cart_with_the_same_content(self):
        for rec in self.records:
            with self.subTest(cart=rec["k"], seed=SEED):
                where = self.where(rec)
                cart = comparable(rec["cart"]["totals"])
                self.assertEqual(comparable(rec["quote"]), cart, where)
                self.assertEqual(comparable(rec["rquote"]), comparable(rec["rcart"]["totals"]), where + " (reversed)")
                # The cart's own views agree: the PATCH answer, GET /cart/{id}, GET /cart/{id}/totals.
                for view in ("patch", "get", "totals"):
                    self.assertEqual(comparable(rec["views"][view]), cart, where + " view " + view)

    def test_the_cart_holds_what_was_added_at_catalog_prices(self):
        for rec in self.records:
            with self.subTest(cart=rec["k"], seed=SEED):
                want = {}
                for pid, vid, qty in rec["adds"]:
                    want[(pid, vid)] = want.get((pid, vid), 0) + qty
                for key in ("cart", "rcart"):
                    items = rec[key]["items"]
                    self.assertEqual((rec[key]["region"], rec[key]["shippingMethod"]), (rec["region"], rec["ship"]),
                                     self.where(rec))
                    got = {(i["productId"], i["variantId"]): i["quantity"] for i in items}
                    self.assertEqual(len(got), len(items), self.where(rec))  # one line per variant
                    self.assertEqual(got, want, self.where(rec))
                    for i in items:
                        self.assertEqual(i["unitPrice"], self.price_of[(i["productId"], i["variantId"])], self.where(rec))
                    self.assertEqual([c.lower() for c in rec[key]["discountCodes"]],
                                     [c.lower() for c in rec["codes"] if c not in rec["dropped"]], self.where(rec))

    def test_totals_add_up(self):
        for rec in self.records:
            for name in ("cart", "quote", "rcart", "rquote"):
                t = rec[name]["totals"] if name in ("cart", "rcart") else rec[name]
                with self.subTest(cart=rec["k"], totals=name, seed=SEED):
                    self.check_sums(t, rec, self.where(rec) + " " + name + ": " + json.dumps(t))

    def check_sums(self, t, rec, where):
        tax = self.taxes.get(rec["region"])
        exclusive = tax is not None and not tax[1]
        lines = t["lines"]
        self.assertEqual(t["currency"], "USD", where)
        self.assertEqual(t["taxRate"], tax[0] if tax else None, where)
        for k in ("subtotal", "discountTotal", "taxTotal", "shippingTotal", "total"):
            self.assertIsInstance(t[k], int, where)
            self.assertGreaterEqual(t[k], 0, where)
        self.assertEqual(sum(l["subtotal"] for l in lines), t["subtotal"], where)
        self.assertEqual(sum(l["discount"] for l in lines), t["discountTotal"], where)
        self.assertEqual(sum(l["tax"] for l in lines), t["taxTotal"], where)
        self.assertEqual(sum(a["amount"] for a in t["appliedDiscounts"]), t["discountTotal"], where)
        self.assertLessEqual(t["discountTotal"], t["subtotal"], where)
        for a in t["appliedDiscounts"]:
            self.assertGreater(a["amount"], 0, where)
        self.assertEqual(len({a["id"] for a in t["appliedDiscounts"]}), len(t["appliedDiscounts"]), where)
        # Inclusive tax is contained in the prices: reported in taxTotal, not added to the total.
        self.assertEqual(t["total"], t["subtotal"] - t["discountTotal"] + (t["taxTotal"] if exclusive else 0)
                         + t["shippingTotal"], where)
        if not tax:
            self.assertEqual(t["taxTotal"], 0, where)
        ship = self.shipping.get(rec["ship"])
        if ship is None:
            self.assertEqual(t["shippingTotal"], 0, where)
        else:
            free = ship[1] is not None and t["subtotal"] - t["discountTotal"] >= ship[1]
            self.assertEqual(t["shippingTotal"], 0 if free else ship[0], where)
        for l in lines:
            for k in ("quantity", "unitPrice", "subtotal", "discount", "tax", "total"):
                self.assertIsInstance(l[k], int, where)
                self.assertGreaterEqual(l[k], 0, where)
            self.assertEqual(l["subtotal"], l["unitPrice"] * l["quantity"], where)
            self.assertLessEqual(l["discount"], l["subtotal"], where)
            taxable = l["subtotal"] - l["discount"]
            if tax and tax[1]:
                self.assertLessEqual(l["tax"], taxable, where)
            self.assertEqual(l["total"], taxable + (l["tax"] if exclusive else 0), where)

    def test_the_order_items_were_added_in_does_not_change_the_totals(self):
        ties = 0
        for rec in self.records:
            with self.subTest(cart=rec["k"], seed=SEED):
                where = self.where(rec)
                _, fwd = self.model_for(rec["cart"], rec["ship"])
                _, rev = self.model_for(rec["rcart"], rec["ship"])
                if fwd == rev:
                    self.assertEqual(comparable(rec["rcart"]["totals"]), comparable(rec["cart"]["totals"]), where)
                else:
                    # API.md breaks allocation ties by line order ("then the earlier line"): here
                    # the two orders may differ, so each must be what the rules give for its order.
                    ties += 1
                    self.assertEqual(as_model(rec["cart"]["totals"]), fwd, where)
                    self.assertEqual(as_model(rec["rcart"]["totals"]), rev, where + " (reversed)")
        if ties:
            print("\nseed=%d: %d of %d carts have an allocation tie that line order decides" % (SEED, ties, len(self.records)))

    def test_totals_follow_the_pricing_rules_of_api_md(self):
        for rec in self.records:
            with self.subTest(cart=rec["k"], seed=SEED):
                where = self.where(rec)
                for key in ("cart", "rcart"):
                    lines, expected = self.model_for(rec[key], rec["ship"])
                    self.assertEqual(as_model(rec[key]["totals"]), expected, where + " " + key)
                # Exactly the codes the rules refuse were refused (checked against the final lines).
                lines, _ = self.model_for(rec["cart"], rec["ship"])
                refused = [c for c in rec["codes"] if model_refusal(self.by_code[c.lower()], lines)]
                self.assertEqual(rec["dropped"], refused, where)

    def test_the_random_carts_cover_the_interesting_cases(self):
        """Guards the generator: a seed that misses these cases tests too little."""
        applied = {a["id"] for r in self.records for a in r["cart"]["totals"]["appliedDiscounts"]}
        ids = [d["id"] for d in self.automatic] + [d["id"] for d in self.by_code.values()]
        self.assertGreaterEqual(len(applied), len(ids) - 1, "seed=%d: few discounts ever applied" % SEED)
        regions = {r["region"] for r in self.records}
        self.assertTrue({"US-NY", "DE"} <= regions, "seed=%d: %r" % (SEED, regions))
        self.assertTrue(any(r["dropped"] for r in self.records), "seed=%d: no code was ever refused" % SEED)
        shipping = {(r["ship"], r["cart"]["totals"]["shippingTotal"]) for r in self.records}
        self.assertIn(("std", 0), shipping, "seed=%d: free shipping never reached" % SEED)
        self.assertIn(("std", 499), shipping, "seed=%d" % SEED)


# ---------------------------------------------------------------------------------------------
# 2. Changing and retiring discounts: PATCH and DELETE /admin/discounts/{id}.

def parse_time(text):
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))


class DiscountHelpers:
    """Admin and cart helpers for the discount tests (mixed into a ServerTest)."""

    def create(self, **body):
        st, _, d, raw = self.c.post("/admin/discounts", body, headers=ADMIN)
        self.assertEqual(st, 201, raw)
        return d

    def stored(self, did):
        st, _, lst, raw = self.c.get("/pricing/discounts", headers=ADMIN)
        self.assertEqual(st, 200, raw)
        found = [d for d in lst["items"] if d["id"] == did]
        self.assertEqual(len(found), 1, raw)
        return found[0]

    def public_ids(self):
        st, _, lst, raw = self.c.get("/pricing/discounts", headers=new_user())
        self.assertEqual(st, 200, raw)
        return [d["id"] for d in lst["items"]]

    def patch(self, did, body=None, headers=ADMIN, raw=None):
        return self.c.patch("/admin/discounts/" + did, body, headers=headers, raw=raw)

    def code(self):
        return "C" + uuid.uuid4().hex[:10].upper()

    def cart_with(self, price=10000, qty=1, codes=()):
        pid = put_product(self.c, [{"id": "v", "price": price, "stock": 1000}])
        user = new_user()
        cart = new_cart(self.c, user, {"currency": "USD"})["id"]
        st, _, _, raw = self.c.post("/cart/%s/items" % cart, {"productId": pid, "variantId": "v", "quantity": qty}, headers=user)
        self.assertEqual(st, 201, raw)
        if codes:
            st, _, _, raw = self.c.patch("/cart/" + cart, {"discountCodes": list(codes)}, headers=user)
            self.assertEqual(st, 200, raw)
        return pid, user, cart

    def cart_totals(self, cart, user):
        st, _, body, raw = self.c.get("/cart/" + cart, headers=user)
        self.assertEqual(st, 200, raw)
        return body

    def applied(self, totals):
        return {a["id"]: a["amount"] for a in totals["appliedDiscounts"]}


class DiscountAdminTest(DiscountHelpers, ServerTest):
    """Every automatic discount made here is limited to its own test's product (productIds),
    so the tests sharing this server do not price each other's carts."""

    # -- PATCH --------------------------------------------------------------------------------

    def test_patch_changes_the_given_fields_and_answers_the_whole_discount(self):
        d = self.create(code=self.code(), type="percentage", value="10", priority=3)
        new_code = self.code()
        change = {"code": new_code, "value": "12.5", "priority": 7, "minSubtotal": 100,
                  "productIds": ["p-none-1", "p-none-2"], "usageLimit": 5}
        st, _, body, raw = self.patch(d["id"], change)
        self.assertEqual(st, 200, raw)
        want = dict(d)
        want.update(change)
        self.assertEqual(body, want)
        self.assertEqual(set(body), set(d))  # the same shape as POST's 201 body
        self.assertEqual(self.stored(d["id"]), body)
        # The percent is normalised as POST does: an integer becomes its decimal string.
        st, _, body, raw = self.patch(d["id"], {"value": 20})
        self.assertEqual((st, body["value"]), (200, "20"), raw)
        # An empty patch changes nothing; the same type may be repeated.
        before = self.stored(d["id"])
        st, _, body, raw = self.patch(d["id"], {})
        self.assertEqual((st, body), (200, before), raw)
        st, _, body, raw = self.patch(d["id"], {"type": "percentage", "automatic": True, "priority": -2})
        self.assertEqual(st, 200, raw)
        self.assertEqual((body["type"], body["automatic"], body["priority"]), ("percentage", True, -2))
        self.assertEqual(body["code"], new_code)

    def test_patch_times_and_fixed_amounts(self):
        d = self.create(code=self.code(), type="fixed", value=500, currency="USD")
        st, _, body, raw = self.patch(d["id"], {"value": 750, "startsAt": "2030-01-01T00:00:00Z",
                                                "endsAt": "2030-02-01T00:00:00.000Z"})
        self.assertEqual(st, 200, raw)
        self.assertEqual((body["value"], body["currency"], body["type"]), (750, "USD", "fixed"))
        self.assertEqual(parse_time(body["startsAt"]), parse_time("2030-01-01T00:00:00Z"))
        self.assertEqual(parse_time(body["endsAt"]), parse_time("2030-02-01T00:00:00Z"))
        self.assertEqual(self.stored(d["id"]), body)
        # Only endsAt: checked against the stored startsAt.
        st, _, body, raw = self.patch(d["id"], {"endsAt": "2030-03-01T00:00:00Z"})
        self.assertEqual(st, 200, raw)
        self.assertEqual(parse_time(body["startsAt"]), parse_time("2030-01-01T00:00:00Z"))
        self.assertEqual(parse_time(body["endsAt"]), parse_time("2030-03-01T00:00:00Z"))

    def test_the_type_cannot_change(self):
        d = self.create(code=self.code(), type="percentage", value="10")
        prob = self.assertProblem(self.patch(d["id"], {"type": "fixed", "value": 100, "currency": "USD"}), 400,
                                  "validation_failed")
        self.assertIn("type", [e["field"] for e in prob["errors"]])
        self.assertEqual(self.stored(d["id"]), d)

    def test_the_result_must_be_valid_as_a_whole(self):
        d = self.create(code=self.code(), type="percentage", value="10", startsAt="2030-01-01T00:00:00Z")
        prob = self.assertProblem(self.patch(d["id"], {"endsAt": "2029-12-31T00:00:00Z"}), 400, "validation_failed")
        self.assertIn("endsAt", [e["field"] for e in prob["errors"]])
        prob = self.assertProblem(self.patch(d["id"], {"endsAt": "2030-01-01T00:00:00Z"}), 400, "validation_failed")
        self.assertIn("endsAt", [e["field"] for e in prob["errors"]])
        for bad, field in (({"value": 101}, "value"), ({"value": "8.8.8"}, "value"), ({"value": "-1"}, "value"),
                           ({"value": "12.34567"}, "value"), ({"startsAt": "yesterday"}, "startsAt"),
                           ({"code": "has space"}, "code"), ({"usageLimit": 0}, "usageLimit"),
                           ({"minSubtotal": -1}, "minSubtotal")):
            prob = self.assertProblem(self.patch(d["id"], bad), 400, "validation_failed")
            self.assertIn(field, [e["field"] for e in prob["errors"]], bad)
        self.assertEqual(self.stored(d["id"]), d)
        f = self.create(code=self.code(), type="fixed", value=500, currency="USD")
        for bad, field in (({"currency": "usd"}, "currency"), ({"value": "12.5"}, "value"), ({"value": 0}, "value")):
            prob = self.assertProblem(self.patch(f["id"], bad), 400, "validation_failed")
            self.assertIn(field, [e["field"] for e in prob["errors"]], bad)
        self.assertEqual(self.stored(f["id"]), f)
        # A discount without a code must stay automatic.
        a = self.create(type="percentage", value="5", productIds=["p-none-" + uuid.uuid4().hex[:6]])
        self.assertTrue(a["automatic"])
        self.assertProblem(self.patch(a["id"], {"automatic": False}), 400, "validation_failed")
        self.assertEqual(self.stored(a["id"]), a)

    def test_malformed_json_and_wrong_types_change_nothing(self):
        d = self.create(code=self.code(), type="percentage", value="10")
        self.assertProblem(self.patch(d["id"], raw=b'{"value": '), 400, "invalid_json")
        self.assertProblem(self.patch(d["id"], raw=b'\xff\xfe{}'), 400, "invalid_json")
        self.assertProblem(self.patch(d["id"], raw=b'[1, 2]'), 400, "validation_failed")
        for bad in ({"priority": "high"}, {"priority": 1.5}, {"active": "yes"}, {"automatic": 1},
                    {"productIds": "p-1"}, {"productIds": [1]}, {"code": 7}, {"minSubtotal": "100"},
                    {"usageLimit": True}, {"startsAt": 1700000000}):
            self.assertProblem(self.patch(d["id"], bad), 400, "validation_failed")
        self.assertEqual(self.stored(d["id"]), d)

    def test_admin_only_and_unknown_ids(self):
        d = self.create(code=self.code(), type="percentage", value="10")
        self.assertProblem(self.patch(d["id"], {"value": "50"}, headers={}), 401, "unauthorized")
        self.assertProblem(self.patch(d["id"], {"value": "50"}, headers=new_user()), 403, "forbidden")
        self.assertProblem(self.c.delete("/admin/discounts/" + d["id"]), 401, "unauthorized")
        self.assertProblem(self.c.delete("/admin/discounts/" + d["id"], headers=new_user()), 403, "forbidden")
        self.assertEqual(self.stored(d["id"]), d)
        for unknown in (str(uuid.uuid4()), "nope"):
            self.assertProblem(self.patch(unknown, {"value": "50"}), 404, "not_found")
            self.assertProblem(self.c.delete("/admin/discounts/" + unknown, headers=ADMIN), 404, "not_found")

    def test_a_code_in_use_by_another_discount_is_a_conflict(self):
        a = self.create(code=self.code(), type="percentage", value="10")
        b = self.create(code=self.code(), type="fixed", value=100, currency="USD")
        self.assertProblem(self.patch(b["id"], {"code": a["code"].lower()}), 409, "conflict")
        self.assertProblem(self.patch(b["id"], {"code": a["code"], "value": 999}), 409, "conflict")
        self.assertEqual(self.stored(b["id"]), b)
        self.assertEqual(self.stored(a["id"]), a)
        # Its own code (in another case) is no conflict.
        st, _, body, raw = self.patch(b["id"], {"code": b["code"].lower()})
        self.assertEqual(st, 200, raw)
        self.assertEqual(body["code"].lower(), b["code"].lower())

    def test_nulls_clear_fields_and_what_must_stay_is_refused(self):
        d = self.create(code=self.code(), type="percentage", value="10", usageLimit=3,
                        startsAt="2030-01-01T00:00:00Z")
        st, _, body, raw = self.patch(d["id"], {"usageLimit": None, "startsAt": None})
        self.assertEqual((st, body["usageLimit"], body["startsAt"]), (200, None, None), raw)
        # A code-only discount cannot lose its code; no discount can lose its type or value.
        for bad, field in (({"code": None}, "code"), ({"type": None}, "type"), ({"value": None}, "value")):
            prob = self.assertProblem(self.patch(d["id"], bad), 400, "validation_failed")
            self.assertIn(field, [e["field"] for e in prob["errors"]], bad)
        self.assertEqual(self.stored(d["id"]), body)

    def test_a_listed_discount_sent_back_changes_nothing(self):
        d = self.create(code=self.code(), type="fixed", value=250, currency="USD", priority=4)
        listed = self.stored(d["id"])
        echo = dict(listed, id="someone-else", used=99, unknownField={"x": 1})
        st, _, body, raw = self.patch(d["id"], echo)
        self.assertEqual((st, body), (200, listed), raw)
        self.assertEqual(self.stored(d["id"]), listed)

    def test_a_discount_may_be_created_retired_and_keeps_its_code_when_retired(self):
        code = self.code()
        d = self.create(code=code, type="percentage", value="10", active=False)
        self.assertFalse(d["active"])
        self.assertNotIn(d["id"], self.public_ids())
        _, user, cart = self.cart_with()
        prob = self.assertProblem(self.c.patch("/cart/" + cart, {"discountCodes": [code]}, headers=user), 422,
                                  "invalid_discount_code")
        self.assertIn("no longer active", prob["detail"])
        # Retired, it still holds its code: a new discount cannot take it.
        self.assertProblem(self.c.post("/admin/discounts", {"code": code, "type": "percentage", "value": "5"},
                                       headers=ADMIN), 409, "conflict")

    def test_a_retry_with_its_idempotency_key_creates_one_discount(self):
        h = dict(ADMIN, **{"Idempotency-Key": "disc-" + uuid.uuid4().hex})
        body = {"type": "percentage", "value": "3", "productIds": ["p-none-" + uuid.uuid4().hex[:6]]}
        st1, _, first, raw = self.c.post("/admin/discounts", body, headers=h)
        self.assertEqual(st1, 201, raw)
        st2, hdrs, again, raw = self.c.post("/admin/discounts", body, headers=h)
        self.assertEqual((st2, again, hdrs.get("idempotent-replayed")), (201, first, "true"), raw)
        st, _, lst, raw = self.c.get("/pricing/discounts", headers=ADMIN)
        self.assertEqual(len([x for x in lst["items"] if x["productIds"] == body["productIds"]]), 1, raw)

    def test_concurrent_patches_of_one_discount_keep_every_change(self):
        d = self.create(code=self.code(), type="percentage", value="10")
        fields = [("priority", 6), ("minSubtotal", 100), ("usageLimit", 9), ("value", "33"),
                  ("productIds", ["p-x"])] * 2
        # Each thread sets one field; a lost update would put back another's old value.
        results = []

        def one(field, value):
            results.append(Client(self.server.port).patch("/admin/discounts/" + d["id"], {field: value}, headers=ADMIN)[0])

        threads = [threading.Thread(target=one, args=(f, v)) for f, v in fields]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(results, [200] * len(threads))
        got = self.stored(d["id"])
        self.assertEqual((got["priority"], got["minSubtotal"], got["usageLimit"], got["value"], got["productIds"]),
                         (6, 100, 9, "33", ["p-x"]), got)

    def test_a_change_prices_carts_and_quotes_at_once(self):
        code = self.code()
        d = self.create(code=code, type="percentage", value="10")
        pid, user, cart = self.cart_with(codes=[code])
        self.assertEqual(self.applied(self.cart_totals(cart, user)["totals"]), {d["id"]: 1000})
        self.assertEqual(self.patch(d["id"], {"value": "25"})[0], 200)
        t = self.cart_totals(cart, user)["totals"]
        self.assertEqual(self.applied(t), {d["id"]: 2500})
        self.assertEqual(t["total"], 7500)
        self.assertEqual(self.c.get("/cart/%s/totals" % cart, headers=user)[2]["discountTotal"], 2500)
        quote = {"currency": "USD", "items": [{"productId": pid, "variantId": "v", "quantity": 1}], "discountCodes": [code]}
        st, _, q, raw = self.c.post("/pricing/calculate", quote)
        self.assertEqual((st, q["discountTotal"]), (200, 2500), raw)
        # Limited to other products: it no longer takes anything from this cart.
        self.assertEqual(self.patch(d["id"], {"productIds": ["p-other-" + uuid.uuid4().hex[:6]]})[0], 200)
        self.assertEqual(self.applied(self.cart_totals(cart, user)["totals"]), {})
        # An automatic promotion made automatic by PATCH, then its priority and amount changed.
        a = self.create(code=self.code(), type="fixed", value=300, currency="USD", productIds=[pid])
        self.assertEqual(self.applied(self.cart_totals(cart, user)["totals"]), {})  # code not in the cart
        st, _, body, raw = self.patch(a["id"], {"automatic": True})
        self.assertEqual(st, 200, raw)
        self.assertEqual(self.applied(self.cart_totals(cart, user)["totals"]), {a["id"]: 300})
        self.assertEqual(self.patch(a["id"], {"value": 20000})[0], 200)  # more than the cart: capped
        t = self.cart_totals(cart, user)["totals"]
        self.assertEqual((self.applied(t), t["total"]), ({a["id"]: 10000}, 0))

    def test_a_min_subtotal_raised_above_the_cart_stops_a_code(self):
        code = self.code()
        d = self.create(code=code, type="fixed", value=500, currency="USD")
        pid, user, cart = self.cart_with(price=1000, qty=2, codes=[code])
        self.assertEqual(self.applied(self.cart_totals(cart, user)["totals"]), {d["id"]: 500})
        self.assertEqual(self.patch(d["id"], {"minSubtotal": 5000})[0], 200)
        body = self.cart_totals(cart, user)
        self.assertEqual(self.applied(body["totals"]), {})
        self.assertEqual([c.lower() for c in body["discountCodes"]], [code.lower()])

    # -- DELETE -------------------------------------------------------------------------------

    def test_delete_retires_a_discount_and_patch_active_brings_it_back(self):
        code = self.code()
        pid, user, cart = self.cart_with()
        auto = self.create(type="percentage", value="10", priority=1, productIds=[pid])
        coded = self.create(code=code, type="fixed", value=500, currency="USD")
        st, _, body, raw = self.c.patch("/cart/" + cart, {"discountCodes": [code.lower()]}, headers=user)
        self.assertEqual(st, 200, raw)
        self.assertEqual(self.applied(body["totals"]), {auto["id"]: 1000, coded["id"]: 500})
        self.assertIn(auto["id"], self.public_ids())

        for d in (auto, coded):
            st, _, _, raw = self.c.delete("/admin/discounts/" + d["id"], headers=ADMIN)
            self.assertEqual((st, raw), (204, b""))
        for d in (auto, coded):
            kept = self.stored(d["id"])  # admins still see it
            want = dict(d, active=False)
            self.assertEqual(kept, want)
        self.assertNotIn(auto["id"], self.public_ids())
        self.assertNotIn(coded["id"], self.public_ids())

        # Carts: the code stays in the cart, but nothing is taken.
        body = self.cart_totals(cart, user)
        self.assertEqual(body["discountCodes"], [code.lower()])
        self.assertEqual(self.applied(body["totals"]), {})
        self.assertEqual((body["totals"]["discountTotal"], body["totals"]["total"]), (0, 10000))
        st, _, t, raw = self.c.get("/cart/%s/totals" % cart, headers=user)
        self.assertEqual((st, t["discountTotal"], t["appliedDiscounts"]), (200, 0, []), raw)
        self.assertEqual([(s["code"].lower(), s["applies"], s["reason"]) for s in body["codeStatus"]],
                         [(code.lower(), False, "inactive")])
        # v1.1: a PATCH repeating a code the cart holds is never refused: kept, reported inactive.
        st, _, body, raw = self.c.patch("/cart/" + cart, {"discountCodes": [code]}, headers=user)
        self.assertEqual(st, 200, raw)
        self.assertEqual([c.lower() for c in body["discountCodes"]], [code.lower()], raw)
        self.assertEqual([(s["code"].lower(), s["applies"], s["reason"]) for s in body["codeStatus"]],
                         [(code.lower(), False, "inactive")], raw)
        self.assertEqual((body["totals"]["discountTotal"], body["totals"]["appliedDiscounts"]), (0, []), raw)
        # A cart that does not hold it: refused with reason inactive.
        _, other_user, other = self.cart_with()
        prob = self.assertProblem(self.c.patch("/cart/" + other, {"discountCodes": [code]}, headers=other_user), 422,
                                  "invalid_discount_code")
        self.assertEqual([(e["field"], e["reason"]) for e in prob["errors"]], [("discountCodes[0]", "inactive")], prob)
        # Quotes: the automatic one is gone; the retired code is refused (v1.1: reason inactive).
        items = [{"productId": pid, "variantId": "v", "quantity": 1}]
        st, _, q, raw = self.c.post("/pricing/calculate", {"currency": "USD", "items": items})
        self.assertEqual((st, q["discountTotal"], q["appliedDiscounts"]), (200, 0, []), raw)
        resp = self.c.post("/pricing/calculate", {"currency": "USD", "items": items, "discountCodes": [code]})
        prob = self.assertProblem(resp, 422, "invalid_discount_code")
        self.assertEqual([(e["field"], e["reason"]) for e in prob["errors"]], [("discountCodes[0]", "inactive")], prob)

        # Deleting again is fine; the discount stays as it is.
        self.assertEqual(self.c.delete("/admin/discounts/" + auto["id"], headers=ADMIN)[0], 204)
        self.assertEqual(self.stored(auto["id"]), dict(auto, active=False))

        # PATCH {"active": true} brings both back, at once.
        for d in (auto, coded):
            st, _, back, raw = self.patch(d["id"], {"active": True})
            self.assertEqual(st, 200, raw)
            self.assertEqual(back, d)
        self.assertIn(auto["id"], self.public_ids())
        body = self.cart_totals(cart, user)
        self.assertEqual(self.applied(body["totals"]), {auto["id"]: 1000, coded["id"]: 500})
        st, _, _, raw = self.c.patch("/cart/" + other, {"discountCodes": [code]}, headers=other_user)
        self.assertEqual(st, 200, raw)

    def test_patch_active_false_retires_too(self):
        pid, user, cart = self.cart_with()
        auto = self.create(type="percentage", value="10", productIds=[pid])
        self.assertEqual(self.applied(self.cart_totals(cart, user)["totals"]), {auto["id"]: 1000})
        st, _, body, raw = self.patch(auto["id"], {"active": False})
        self.assertEqual((st, body), (200, dict(auto, active=False)), raw)
        self.assertEqual(self.applied(self.cart_totals(cart, user)["totals"]), {})
        self.assertNotIn(auto["id"], self.public_ids())
        self.assertEqual(self.stored(auto["id"]), dict(auto, active=False))
        # A retired discount may still be changed (and stays retired).
        st, _, body, raw = self.patch(auto["id"], {"value": "20"})
        self.assertEqual((st, body["active"], body["value"]), (200, False, "20"), raw)
        self.assertEqual(self.applied(self.cart_totals(cart, user)["totals"]), {})


# ---------------------------------------------------------------------------------------------
# 3. The pricing bulkhead.

def metric(text, name):
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(name + " missing from /metrics")


PRICING_KEYS = ("workers", "queueMax", "inFlight", "queued", "rejected", "completed")
PRICING_METRICS = ("cartd_bulkhead_in_flight", "cartd_bulkhead_queued",
                   "cartd_bulkhead_rejected_total", "cartd_bulkhead_completed_total")


class BulkheadCase(ServerTest):
    def pricing(self):
        st, _, d, raw = self.c.get("/health/detailed")
        self.assertEqual(st, 200, raw)
        p = d["components"]["pricing"] if "pricing" in d.get("components", {}) else d["pricing"]
        for k in PRICING_KEYS:
            self.assertIsInstance(p[k], int, (k, p))
            self.assertGreaterEqual(p[k], 0, (k, p))
        return p

    def metrics(self):
        st, _, _, raw = self.c.get("/metrics", base=False)
        self.assertEqual(st, 200)
        text = raw.decode()
        return {n: metric(text, n + '{pool="pricing"}') for n in PRICING_METRICS}, text


class PricingBulkheadDefaultsTest(BulkheadCase):
    def test_the_defaults_show_in_health_and_metrics(self):
        p = self.pricing()
        self.assertEqual((p["workers"], p["queueMax"]), (2, 256))
        m, text = self.metrics()
        for name in ("cartd_bulkhead_in_flight", "cartd_bulkhead_queued"):
            self.assertIn("# TYPE %s gauge" % name, text)
        for name in ("cartd_bulkhead_rejected_total", "cartd_bulkhead_completed_total"):
            self.assertIn("# TYPE %s counter" % name, text)
        # Both bulkheads, each under its own label, in /metrics and in detailed health.
        for pool in ("pricing", "payments"):
            self.assertIn('cartd_bulkhead_in_flight{pool="%s"}' % pool, text)
        st, _, d, raw = self.c.get("/health/detailed")
        bulkheads = d["components"]["bulkheads"]
        self.assertEqual(set(bulkheads), {"pricing", "payments"}, raw)
        self.assertEqual((bulkheads["payments"]["workers"], bulkheads["payments"]["queueMax"]), (4, 64))

    def test_every_quote_and_cart_totals_counts_as_completed(self):
        pid = put_product(self.c, [{"id": "v1", "price": 1999, "stock": 100}, {"id": "v2", "price": 333, "stock": 100}])
        user = new_user()
        cart = new_cart(self.c, user)["id"]
        st, _, _, raw = self.c.post("/cart/%s/items" % cart, {"productId": pid, "variantId": "v1", "quantity": 2}, headers=user)
        self.assertEqual(st, 201, raw)
        before, (m_before, _) = self.pricing(), self.metrics()
        quotes, totals = 7, 3
        for i in range(quotes):
            st, _, _, raw = self.c.post("/pricing/calculate", {"currency": "USD", "items": [
                {"productId": pid, "variantId": "v%d" % (1 + i % 2), "quantity": 1 + i}]})
            self.assertEqual(st, 200, raw)
        for _ in range(totals):
            st, _, _, raw = self.c.get("/cart/%s/totals" % cart, headers=user)
            self.assertEqual(st, 200, raw)
        after, (m_after, _) = self.pricing(), self.metrics()
        self.assertEqual(after["completed"], before["completed"] + quotes + totals, (before, after))
        self.assertEqual(m_after["cartd_bulkhead_completed_total"],
                         m_before["cartd_bulkhead_completed_total"] + quotes + totals)
        self.assertEqual(after["rejected"], before["rejected"])
        self.assertEqual((after["inFlight"], after["queued"]), (0, 0))  # every answer has come back
        self.assertEqual((m_after["cartd_bulkhead_in_flight"], m_after["cartd_bulkhead_queued"]), (0, 0))


class PricingBulkheadFullTest(BulkheadCase):
    # One pricing actor, no queue: a second quote while one is priced is refused at once.
    # A long request timeout so that a slow machine gives no "did not answer" 503s.
    server_env = {"CARTD_PRICING_WORKERS": "1", "CARTD_PRICING_QUEUE_MAX": "0",
                  "CARTD_HTTP_REQUEST_TIMEOUT": "120s"}
    THREADS = 64
    ROUNDS = 20

    def burst(self, body):
        data = json.dumps(body).encode()
        conns = []
        for _ in range(self.THREADS):
            conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=120)
            conn.connect()
            conns.append(conn)
        start = threading.Barrier(self.THREADS)
        answers = [None] * self.THREADS

        def fire(i):
            conn = conns[i]
            try:
                start.wait()
                conn.request("POST", "/api/v1/pricing/calculate", body=data,
                             headers={"Content-Type": "application/json"})
                resp = conn.getresponse()
                raw = resp.read()
                answers[i] = (resp.status, {k.lower(): v for k, v in resp.getheaders()}, raw)
            except Exception as e:  # noqa: BLE001 - recorded and asserted on below
                answers[i] = ("error", {}, repr(e).encode())
            finally:
                conn.close()

        threads = [threading.Thread(target=fire, args=(i,)) for i in range(self.THREADS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(300)
        return answers

    def test_the_configuration_shows_in_health(self):
        p = self.pricing()
        self.assertEqual((p["workers"], p["queueMax"]), (1, 0))

    def test_a_full_bulkhead_answers_503_with_retry_after_and_counts_it(self):
        pid = "p-bulk-" + uuid.uuid4().hex[:8]
        variants = [{"id": "v%03d" % i, "price": 100 + i * 7, "stock": 1000} for i in range(100)]
        st, _, _, raw = self.c.put("/admin/products/" + pid, {"name": "Bulk", "currency": "USD", "variants": variants},
                                   headers=ADMIN)
        self.assertEqual(st, 201, raw)
        self.c.put("/admin/tax-rates/US-WA", {"rate": "10.25"}, headers=ADMIN)
        for i in range(4):  # some work for the pricing actor
            self.c.post("/admin/discounts", {"type": "percentage", "value": "1.5", "priority": i,
                                             "productIds": [pid]}, headers=ADMIN)
        body = {"currency": "USD", "region": "US-WA",
                "items": [{"productId": pid, "variantId": v["id"], "quantity": 1 + i % 9} for i, v in enumerate(variants)]}
        st, _, single, raw = self.c.post("/pricing/calculate", body)
        self.assertEqual(st, 200, raw)
        before = self.pricing()
        m_before, _ = self.metrics()
        ok = refused = rounds = 0
        while rounds < self.ROUNDS and not refused:
            rounds += 1
            for status, hdrs, raw in self.burst(body):
                self.assertIn(status, (200, 503), raw[:500])
                if status == 200:
                    ok += 1
                    self.assertEqual(json.loads(raw)["total"], single["total"])
                    continue
                refused += 1
                self.assertIn("retry-after", hdrs, raw)
                self.assertTrue(hdrs["retry-after"].strip().isdigit(), hdrs)
                self.assertTrue(hdrs.get("content-type", "").startswith("application/problem+json"), hdrs)
                prob = json.loads(raw)
                self.assertEqual((prob["code"], prob["status"], prob["type"]),
                                 ("unavailable", 503, "urn:cartd:error:unavailable"), raw)
        self.assertGreater(refused, 0, "no 503 in %d rounds of %d concurrent quotes (%d answered 200)"
                           % (rounds, self.THREADS, ok))
        after = self.pricing()
        m_after, _ = self.metrics()
        where = "rounds=%d ok=%d refused=%d before=%r after=%r" % (rounds, ok, refused, before, after)
        self.assertEqual(m_after["cartd_bulkhead_rejected_total"] - m_before["cartd_bulkhead_rejected_total"], refused, where)
        self.assertEqual(after["rejected"] - before["rejected"], refused, where)
        self.assertEqual(after["completed"] - before["completed"], ok, where)
        self.assertEqual(m_after["cartd_bulkhead_completed_total"] - m_before["cartd_bulkhead_completed_total"], ok, where)
        self.assertEqual((after["inFlight"], after["queued"]), (0, 0), where)
        # The carts were never starved: they still work, and so does pricing once it is free.
        user = new_user()
        cart = new_cart(self.c, user)["id"]
        st, _, _, raw = self.c.post("/cart/%s/items" % cart, {"productId": pid, "variantId": "v000", "quantity": 1},
                                    headers=user)
        self.assertEqual(st, 201, raw)
        self.assertEqual(self.c.get("/cart/%s/totals" % cart, headers=user)[0], 200)
        # The totals answer is written from the pricing worker just before it frees its one
        # slot: a quote sent the instant that answer arrives may still find the slot taken.
        deadline = time.time() + 5
        while True:
            st = self.c.post("/pricing/calculate", body)[0]
            if st == 200 or time.time() > deadline:
                break
            time.sleep(0.05)
        self.assertEqual(st, 200)


class PricingConfigTest(unittest.TestCase):
    def serve(self, **env):
        d = tempfile.mkdtemp(prefix="cartd-api-")
        e = dict(os.environ, CARTD_HTTP_PORT=str(free_port()), CARTD_STORE_URL=store_url(d),
                 CARTD_AUTH_JWT_SECRET=SECRET, CARTD_HTTP_ACCESS_LOG="false")
        e.update(env)
        try:
            return subprocess.run([BIN, "serve"], capture_output=True, text=True, env=e, timeout=30)
        except subprocess.TimeoutExpired:
            self.fail("cartd serve with %r did not exit (it started?)" % env)

    def test_invalid_pricing_settings_are_refused(self):
        for env in ({"CARTD_PRICING_WORKERS": "0"}, {"CARTD_PRICING_WORKERS": "abc"},
                    {"CARTD_PRICING_WORKERS": "-1"}, {"CARTD_PRICING_QUEUE_MAX": "-1"},
                    {"CARTD_PRICING_QUEUE_MAX": "many"}):
            with self.subTest(env=env):
                out = self.serve(**env)
                self.assertEqual(out.returncode, 2, out.stderr)
                self.assertIn(next(iter(env)), out.stderr)


class AutomaticCodeTest(ServerTest):
    def test_an_automatic_discount_with_a_code_applies_once_when_its_code_is_entered(self):
        pid = put_product(self.c, variants=[{"id": "v", "price": 1000, "stock": 100}])
        st, _, d, raw = self.c.post("/admin/discounts", {
            "code": "TWICE" + pid[-6:], "type": "percentage", "value": 10, "automatic": True,
            "productIds": [pid]}, headers=ADMIN)
        self.assertEqual(st, 201, raw)
        quote = {"currency": "USD", "items": [{"productId": pid, "variantId": "v", "quantity": 1}]}
        plain = self.c.post("/pricing/calculate", quote)[2]
        with_code = self.c.post("/pricing/calculate", dict(quote, discountCodes=[d["code"]]))[2]
        for t in (plain, with_code):
            self.assertEqual(t["discountTotal"], 100, t)
            self.assertEqual([a["id"] for a in t["appliedDiscounts"]], [d["id"]], t)


class UsageLimitTest(DiscountHelpers, ServerTest):
    """A code used up in the store (its `used` count at its usageLimit) is refused and takes
    nothing. Orders are what count uses (checkout, a later issue); here the count is set in the
    store the server reads, SQLite file or PostgreSQL database, as those orders would leave it."""


    def set_used(self, did, used):
        url = self.server.env["CARTD_STORE_URL"]
        sql = "UPDATE pricing_rules SET used = %d WHERE kind = 'discount' AND id = '%s'" % (used, did)
        if url.startswith("sqlite://"):
            db = sqlite3.connect(url[len("sqlite://"):], timeout=30)
            with db:
                self.assertEqual(db.execute(sql).rowcount, 1)
            db.close()
        else:
            out = subprocess.run(["psql", url, "-qAtc", sql + " RETURNING id"], check=True, capture_output=True)
            self.assertEqual(out.stdout.decode().strip(), did)

    def refused_within(self, cart, user, code, seconds=10):
        """The code's PATCH answer once the node's pricing book has read the store (it reads it
        every second): a loop with a deadline, not a timing assertion."""
        deadline = time.time() + seconds
        while True:
            resp = self.c.patch("/cart/" + cart, {"discountCodes": [code]}, headers=user)
            if resp[0] != 200 or time.time() > deadline:
                return resp
            self.c.patch("/cart/" + cart, {"discountCodes": []}, headers=user)
            time.sleep(0.1)

    def test_admins_see_the_use_count_and_the_public_does_not(self):
        d = self.create(type="percentage", value="1", productIds=["p-none-" + uuid.uuid4().hex[:6]])
        self.assertEqual(d["used"], 0)
        self.set_used(d["id"], 7)
        st, _, lst, raw = self.c.get("/pricing/discounts", headers=new_user())
        public = [x for x in lst["items"] if x["id"] == d["id"]]
        self.assertEqual(len(public), 1, raw)
        self.assertNotIn("used", public[0])
        self.assertEqual(public[0], {k: v for k, v in d.items() if k != "used"})
        st, _, lst, raw = self.c.get("/pricing/discounts", headers=ADMIN)
        self.assertEqual([x["used"] for x in lst["items"] if x["id"] == d["id"]], [7], raw)

    def test_a_used_up_code_is_refused_and_takes_nothing_until_its_limit_is_raised(self):
        code = self.code()
        d = self.create(code=code, type="fixed", value=100, currency="USD", usageLimit=2)
        pid, user, cart = self.cart_with(codes=[code])
        self.assertEqual(self.applied(self.cart_totals(cart, user)["totals"]), {d["id"]: 100})
        self.set_used(d["id"], 1)  # one use left: still fine
        _, other_user, other = self.cart_with()
        self.set_used(d["id"], 2)
        st, _, lst, raw = self.c.get("/pricing/discounts", headers=ADMIN)  # admins see the count
        self.assertEqual([x["used"] for x in lst["items"] if x["id"] == d["id"]], [2], raw)
        prob = self.assertProblem(self.refused_within(other, other_user, code), 422, "invalid_discount_code")
        self.assertIn("used up", prob["detail"])
        self.assertEqual(self.cart_totals(other, other_user)["discountCodes"], [])  # nothing changed
        # The cart that holds it keeps the code; it takes nothing now, in the cart and its quote.
        body = self.cart_totals(cart, user)
        self.assertEqual([c.lower() for c in body["discountCodes"]], [code.lower()])
        self.assertEqual((self.applied(body["totals"]), body["totals"]["total"]), ({}, 10000))
        items = [{"productId": pid, "variantId": "v", "quantity": 1}]
        self.assertProblem(self.c.post("/pricing/calculate", {"currency": "USD", "items": items,
                                                              "discountCodes": [code]}), 422, "invalid_discount_code")
        # The admin raises the limit: it applies again at once (an admin write reloads the node).
        self.assertEqual(self.patch(d["id"], {"usageLimit": 3})[0], 200)
        self.assertEqual(self.applied(self.cart_totals(cart, user)["totals"]), {d["id"]: 100})
        st, _, body, raw = self.c.patch("/cart/" + other, {"discountCodes": [code]}, headers=other_user)
        self.assertEqual((st, self.applied(body["totals"])), (200, {d["id"]: 100}), raw)
        # An admin change keeps the count: lowering the limit to the uses made refuses it again.
        st, _, body, raw = self.patch(d["id"], {"usageLimit": 2})
        self.assertEqual((st, body["used"], body["usageLimit"]), (200, 2, 2), raw)
        self.assertEqual(self.applied(self.cart_totals(cart, user)["totals"]), {})


class CartAndQuoteEdgesTest(DiscountHelpers, ServerTest):
    """What a client trips over around the arithmetic: clearing a cart's region and shipping,
    repeated lines in a quote, currencies of quotes and shipping methods."""

    def test_null_clears_the_region_the_shipping_method_and_the_metadata(self):
        sid = "ship-" + uuid.uuid4().hex[:8]
        region = "FR-" + uuid.uuid4().hex[:3].upper()
        self.assertEqual(self.c.put("/admin/tax-rates/" + region, {"rate": "12.5"}, headers=ADMIN)[0], 201)
        self.assertEqual(self.c.put("/admin/shipping-methods/" + sid, {"name": "Exp", "price": 1500},
                                    headers=ADMIN)[0], 201)
        _, user, cart = self.cart_with(price=1000)
        st, _, body, raw = self.c.patch("/cart/" + cart, {"region": region, "shippingMethod": sid,
                                                          "metadata": {"a": 1}}, headers=user)
        self.assertEqual((st, body["totals"]["taxTotal"], body["totals"]["shippingTotal"]), (200, 125, 1500), raw)
        st, _, body, raw = self.c.patch("/cart/" + cart, {"region": None, "shippingMethod": None, "metadata": None},
                                        headers=user)
        self.assertEqual(st, 200, raw)
        self.assertEqual((body["region"], body["shippingMethod"], body["metadata"]), (None, None, None), raw)
        self.assertEqual((body["totals"]["taxTotal"], body["totals"]["shippingTotal"], body["totals"]["total"]),
                         (0, 0, 1000), raw)
        # Absent fields stay as they are.
        self.c.patch("/cart/" + cart, {"region": region}, headers=user)
        st, _, body, raw = self.c.patch("/cart/" + cart, {"metadata": {"b": 2}}, headers=user)
        self.assertEqual((body["region"], body["metadata"]), (region, {"b": 2}), raw)
        for bad in ({"region": ""}, {"shippingMethod": ""}, {"region": 5}):
            self.assertProblem(self.c.patch("/cart/" + cart, bad, headers=user), 400, "validation_failed")

    def test_a_quote_adds_up_repeated_lines_as_a_cart_does(self):
        region = "FR-" + uuid.uuid4().hex[:3].upper()
        self.c.put("/admin/tax-rates/" + region, {"rate": "12.5"}, headers=ADMIN)
        pid, user, cart = self.cart_with(price=4, qty=1)
        st, _, body, raw = self.c.post("/cart/%s/items" % cart, {"productId": pid, "variantId": "v", "quantity": 1},
                                       headers=user)
        self.assertEqual(st, 201, raw)
        self.c.patch("/cart/" + cart, {"region": region}, headers=user)
        cart_totals = self.c.get("/cart/%s/totals" % cart, headers=user)[2]
        line = {"productId": pid, "variantId": "v", "quantity": 1}
        st, _, q, raw = self.c.post("/pricing/calculate", {"currency": "USD", "region": region, "items": [line, line]})
        self.assertEqual(st, 200, raw)
        self.assertEqual(len(q["lines"]), 1, raw)
        self.assertEqual((q["lines"][0]["quantity"], q["taxTotal"], q["total"]), (2, 1, 9), raw)
        self.assertEqual((q["taxTotal"], q["total"]), (cart_totals["taxTotal"], cart_totals["total"]))
        # Within the per-line maximum after adding up, as a cart.
        big = dict(line, quantity=600)
        prob = self.assertProblem(self.c.post("/pricing/calculate", {"currency": "USD", "items": [big, big]}), 400,
                                  "validation_failed")
        self.assertIn("items[1].quantity", [e["field"] for e in prob["errors"]])

    def test_a_malformed_currency_is_a_validation_error(self):
        pid = put_product(self.c, [{"id": "v", "price": 100, "stock": 10}])
        for bad in ("usd", "US", "U5D", 840):
            prob = self.assertProblem(self.c.post("/pricing/calculate", {"currency": bad, "items": [
                {"productId": pid, "variantId": "v", "quantity": 1}]}), 400, "validation_failed")
            self.assertIn("currency", [e["field"] for e in prob["errors"]], bad)

    def test_a_shipping_method_with_a_currency_serves_only_carts_in_it(self):
        sid = "eur-" + uuid.uuid4().hex[:8]
        st, _, m, raw = self.c.put("/admin/shipping-methods/" + sid, {"name": "EU", "price": 599, "currency": "EUR"},
                                   headers=ADMIN)
        self.assertEqual((st, m["currency"]), (201, "EUR"), raw)
        self.assertProblem(self.c.put("/admin/shipping-methods/" + sid, {"name": "EU", "price": 599, "currency": "eur"},
                                      headers=ADMIN), 400, "validation_failed")
        _, user, cart = self.cart_with()  # a USD cart
        prob = self.assertProblem(self.c.patch("/cart/" + cart, {"shippingMethod": sid}, headers=user), 400,
                                  "validation_failed")
        self.assertIn("priced in EUR", json.dumps(prob["errors"]))
        pid = put_product(self.c, [{"id": "v", "price": 100, "stock": 10}])
        quote = {"currency": "USD", "items": [{"productId": pid, "variantId": "v", "quantity": 1}], "shippingMethod": sid}
        self.assertProblem(self.c.post("/pricing/calculate", quote), 400, "validation_failed")
        eur = put_product(self.c, [{"id": "v", "price": 100, "stock": 10}], currency="EUR")
        quote = {"currency": "EUR", "items": [{"productId": eur, "variantId": "v", "quantity": 1}], "shippingMethod": sid}
        st, _, q, raw = self.c.post("/pricing/calculate", quote)
        self.assertEqual((st, q["shippingTotal"], q["currency"]), (200, 599, "EUR"), raw)

if __name__ == "__main__":
    unittest.main(verbosity=2)
