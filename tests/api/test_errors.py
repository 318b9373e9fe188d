"""Protocol-level errors: problem+json shape, request ids, 400/404/405/413/415."""
import os
import sys
import unittest
import json
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import ApiTest  # noqa: E402


def setUpModule():
    harness.module_setup(__name__)


def tearDownModule():
    harness.module_teardown(__name__)


class ErrorTestBase(ApiTest):
    def setUp(self):
        self.sub, self.u = self.user()
        self.cid = self.cart(self.u)["id"]

    def json_routes(self):
        """(method, path, headers) of every route that takes a JSON body."""
        cid = self.cid
        return [("POST", "/cart", self.u), ("PATCH", "/cart/" + cid, self.u),
                ("POST", "/cart/%s/items" % cid, self.u),
                ("PATCH", "/cart/%s/items/%s" % (cid, uuid.uuid4()), self.u),
                ("POST", "/cart/%s/merge" % cid, self.u),
                ("PUT", "/admin/products/" + harness.pid(), harness.admin()),
                ("POST", "/session", {})]


class RequestIdTest(ErrorTestBase):
    def test_request_id_is_echoed_on_success(self):
        resp = self.c.get("/cart/" + self.cid, headers=dict(self.u, **{"X-Request-Id": "req-abc-123"}))
        self.assertStatus(resp, 200)
        self.assertEqual(resp[1].get("x-request-id"), "req-abc-123")

    def test_request_id_is_echoed_on_errors_and_in_the_body(self):
        resp = self.c.get("/cart/" + str(uuid.uuid4()), headers=dict(self.u, **{"X-Request-Id": "req-xyz-789"}))
        body = self.assertProblem(resp, 404, "not_found")
        self.assertEqual(body["requestId"], "req-xyz-789")

    def test_request_id_is_generated_when_absent(self):
        a = self.c.get("/health")
        b = self.c.get("/health")
        ra, rb = a[1].get("x-request-id"), b[1].get("x-request-id")
        self.assertTrue(ra, "no X-Request-Id generated")
        self.assertNotEqual(ra, rb, "generated request ids must differ")

    def test_generated_request_id_is_in_the_problem(self):
        body = self.assertProblem(self.c.get("/nope"), 404, "not_found")
        self.assertTrue(body["requestId"])

    def test_every_response_kind_has_a_request_id(self):
        for method, path, headers in (("POST", "/cart", self.u), ("DELETE", "/cart/" + self.cid, self.u),
                                      ("GET", "/openapi.json", {})):
            with self.subTest(route=method + " " + path):
                resp = self.c.request(method, path, body={} if method == "POST" else None, headers=headers)
                self.assertTrue(resp[1].get("x-request-id"), "%s %s without X-Request-Id" % (method, path))


class RoutingTest(ErrorTestBase):
    def test_unknown_route_is_404(self):
        # v1.1 made GET /products a route (the public list): /products/{id}/nope is still none.
        for path in ("/nope", "/cart/%s/nope" % self.cid, "/products/p-1/nope", "/admin/products"):
            with self.subTest(path=path):
                self.assertProblem(self.c.get(path, headers=self.u), 404, "not_found")

    def test_unknown_path_outside_the_base_is_404(self):
        self.assertProblem(self.c.get("/nope", base=False), 404, "not_found")

    def test_wrong_method_is_405(self):
        for method, path in (("DELETE", "/health"), ("PUT", "/cart"), ("POST", "/cart/" + self.cid),
                             ("GET", "/cart/%s/items" % self.cid), ("GET", "/cart/%s/merge" % self.cid),
                             ("POST", "/products/x"), ("GET", "/admin/products/x"), ("PUT", "/session")):
            with self.subTest(route=method + " " + path):
                self.assertProblem(self.c.request(method, path, headers=self.u), 405, "method_not_allowed")

    def test_405_lists_the_allowed_methods(self):
        resp = self.c.request("PUT", "/cart", headers=self.u)
        self.assertProblem(resp, 405, "method_not_allowed")
        allow = {m.strip().upper() for m in resp[1].get("allow", "").split(",") if m.strip()}
        self.assertTrue({"GET", "POST"} <= allow, "405 must carry Allow (RFC 9110): %r" % resp[1].get("allow"))

    def test_405_is_answered_before_authentication(self):
        self.assertProblem(self.c.request("PUT", "/cart"), 405, "method_not_allowed")


class BodyErrorsTest(ErrorTestBase):
    def test_malformed_json_is_invalid_json_on_every_route(self):
        for method, path, headers in self.json_routes():
            with self.subTest(route=method + " " + path):
                self.assertProblem(self.c.request(method, path, raw=b"{", headers=headers),
                                   400, "invalid_json", "%s %s with '{'" % (method, path))

    def test_invalid_utf8_is_invalid_json_on_every_route(self):
        for method, path, headers in self.json_routes():
            with self.subTest(route=method + " " + path):
                self.assertProblem(self.c.request(method, path, raw=b'{"a":"\xff"}', headers=headers),
                                   400, "invalid_json", "%s %s with invalid UTF-8" % (method, path))

    def test_repeated_names_nul_deep_nesting_and_huge_numbers_on_every_route(self):
        # Issue 13: well-formed JSON cartd still refuses, anywhere in the body, and numbers no
        # reader can hold: validation_failed naming the field it was found under.
        cases = ((b'{"zz":1,"zz":2}', "zz"), (b'{"zz":{"k":1,"k":2}}', "zz"),
                 (b'{"zz":"a\\u0000b"}', "zz"), (b'{"zz":[{"\\u0000":1}]}', "zz"),
                 (b'{"zz":' + b"[" * 40 + b"]" * 40 + b"}", "zz"),
                 (b'{"zz":1e400}', ""), (b'{"zz":-123456789012345678901234567890}', ""))
        for method, path, headers in self.json_routes():
            for raw, field in cases:
                with self.subTest(route=method + " " + path, body=raw[:40]):
                    body = self.assertProblem(self.c.request(method, path, raw=raw, headers=headers),
                                              400, "validation_failed", "%s %s" % (method, path))
                    self.assertIn(field, [e["field"] for e in body["errors"]], body)

    def test_a_repeated_quantity_changes_nothing(self):
        p = harness.put_product(self.c)
        v = p["variants"][0]["id"]
        raw = ('{"productId":"%s","variantId":"%s","quantity":1,"quantity":9}' % (p["id"], v)).encode()
        self.assertProblem(self.c.post("/cart/%s/items" % self.cid, raw=raw, headers=self.u),
                           400, "validation_failed")
        self.assertEqual(self.get_cart(self.cid, self.u)["items"], [])

    def test_unicode_edge_cases_round_trip_byte_for_byte(self):
        # Names and metadata keep what was sent: accents, emoji and ZWJ sequences, combining
        # marks, right-to-left override, noncharacters, the last code point, escaped or raw.
        text = "\u00e9e\u0301 \U0001F469\u200d\U0001F4BB \u202eevil \ufeff\uffff \U0010FFFF \u0007"
        p = harness.put_product(self.c, name=text)
        self.assertEqual(p["name"], text)
        st, _, got, _ = self.c.get("/products/" + p["id"])
        self.assertEqual(got["name"], text)
        meta = {text: text, "ascii": "\\u escapes \"quoted\""}
        for raw in (json.dumps({"metadata": meta}).encode(),
                    json.dumps({"metadata": meta}, ensure_ascii=False).encode()):
            st, _, cart, _ = self.c.patch("/cart/" + self.cid, raw=raw, headers=self.u)
            self.assertEqual(st, 200, cart)
            self.assertEqual(cart["metadata"], meta)
            self.assertEqual(self.get_cart(self.cid, self.u)["metadata"], meta)

    def test_a_huge_array_is_refused_and_changes_nothing(self):
        # 10 000 source carts to merge, within 64 KiB.
        raw = json.dumps({"sourceCartId": self.cid, "extra": list(range(10000))}).encode()
        self.assertLess(len(raw), 64 * 1024)
        resp = self.c.post("/cart/%s/merge" % self.cid, raw=raw, headers=self.u)
        self.assertGreaterEqual(resp[0], 400)
        self.assertLess(resp[0], 500)
        raw = json.dumps({"metadata": {"a": list(range(10000))}}).encode()
        self.assertProblem(self.c.patch("/cart/" + self.cid, raw=raw, headers=self.u), 400,
                           "validation_failed")
        self.assertIsNone(self.get_cart(self.cid, self.u)["metadata"])

    def test_other_malformed_json(self):
        for raw in (b'{"a":1,}', b"{'a':1}", b'{"a":1} x', b'{"a":tru}', b'{"a":"\xc3\x28"}', b"\xef\xbb"):
            with self.subTest(raw=raw):
                self.assertProblem(self.c.post("/cart", raw=raw, headers=self.u), 400, "invalid_json")

    def test_json_that_is_not_an_object_is_validation_failed_on_every_route(self):
        for method, path, headers in self.json_routes():
            for raw in (b"[]", b'"x"', b"1", b"null", b"true"):
                with self.subTest(route=method + " " + path, body=raw):
                    self.assertProblem(self.c.request(method, path, raw=raw, headers=headers),
                                       400, "validation_failed", "%s %s with %s" % (method, path, raw))

    def test_body_over_64_kib_is_413(self):
        big = b'{"region":"DE","metadata":{"pad":"' + b"x" * (65 * 1024) + b'"}}'
        self.assertProblem(self.c.patch("/cart/" + self.cid, raw=big, headers=self.u), 413, "payload_too_large")
        self.assertEqual(self.get_cart(self.cid, self.u)["region"], None)

    def test_body_over_64_kib_on_add_item_is_413(self):
        big = b'{"productId":"p","variantId":"v","quantity":1,"pad":"' + b"x" * (64 * 1024) + b'"}'
        self.assertProblem(self.c.post("/cart/%s/items" % self.cid, raw=big, headers=self.u),
                           413, "payload_too_large")

    def test_body_just_under_64_kib_is_not_413(self):
        pad = 64 * 1024 - 200
        body = b'{"pad":"' + b"x" * pad + b'"}'
        self.assertLessEqual(len(body), 64 * 1024)
        resp = self.c.post("/cart", raw=body, headers=self.u)
        self.assertStatus(resp, 201, "a body under 64 KiB with unknown fields is accepted")

    def test_text_plain_is_415(self):
        for method, path, headers in self.json_routes():
            with self.subTest(route=method + " " + path):
                self.assertProblem(self.c.request(method, path, raw=b"{}", headers=headers,
                                                  content_type="text/plain"),
                                   415, "unsupported_media_type", "%s %s as text/plain" % (method, path))

    def test_form_encoding_is_415(self):
        self.assertProblem(self.c.post("/cart", raw=b"currency=USD", headers=self.u,
                                       content_type="application/x-www-form-urlencoded"),
                           415, "unsupported_media_type")

    def test_json_with_charset_is_accepted(self):
        resp = self.c.post("/cart", raw=b'{"currency":"EUR"}', headers=self.u,
                           content_type="application/json; charset=utf-8")
        self.assertStatus(resp, 201)
        self.assertEqual(resp[2]["currency"], "EUR")

    def test_unknown_fields_are_ignored(self):
        resp = self.c.post("/cart", {"currency": "USD", "colour": "red", "nested": {"x": [1]}}, headers=self.u)
        self.assertStatus(resp, 201)

    def test_validation_errors_name_every_bad_field(self):
        resp = self.c.post("/cart/%s/items" % self.cid, {"productId": 1, "variantId": 2, "quantity": 0},
                           headers=self.u)
        prob = self.assertProblem(resp, 400, "validation_failed")
        for field in ("productId", "variantId", "quantity"):
            self.assertErrorField(prob, field)


class ProblemShapeTest(ErrorTestBase):
    def test_problem_has_instance_of_the_request_path(self):
        path = "/cart/" + str(uuid.uuid4())
        body = self.assertProblem(self.c.get(path, headers=self.u), 404, "not_found")
        if "instance" in body:
            self.assertEqual(body["instance"].split("?")[0], harness.BASE + path)

    def test_error_codes_are_snake_case(self):
        for resp in (self.c.get("/nope"), self.c.post("/cart", raw=b"{", headers=self.u),
                     self.c.post("/cart", {})):
            self.assertRegex(resp[2]["code"], r"^[a-z]+(_[a-z]+)*$")

    def test_errors_do_not_leak_internals(self):
        for resp in (self.c.post("/cart", raw=b'{"a":"\xff"}', headers=self.u),
                     self.c.get("/cart/%27%20OR%201=1%20--", headers=self.u)):
            text = resp[3].decode(errors="replace").lower()
            for needle in ("sqlite", "select ", "exception", "stack", harness.SECRET.lower()):
                self.assertNotIn(needle, text, "error body leaks %r" % needle)


if __name__ == "__main__":
    unittest.main(verbosity=2)
