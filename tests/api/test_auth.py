"""Authentication: HS256 JWTs (and attacks on them), admin role, missing credentials."""
import base64
import hashlib
import hmac
import json
import os
import sys
import time
import unittest
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import ApiTest, b64url, bearer, jwt, pid  # noqa: E402


def setUpModule():
    harness.module_setup(__name__)


def tearDownModule():
    harness.module_teardown(__name__)


def sub():
    return "user-" + uuid.uuid4().hex[:12]


class JwtTest(ApiTest):
    """Every token is tried on POST /cart: 201 when accepted, 401 unauthorized when not."""

    def accepted(self, token, what):
        s = token if isinstance(token, dict) else bearer(token)
        resp = self.c.post("/cart", {}, headers=s)
        self.assertStatus(resp, 201, "%s must be accepted" % what)
        return resp[2]

    def refused(self, token, what):
        h = token if isinstance(token, dict) else bearer(token)
        self.assertProblem(self.c.post("/cart", {}, headers=h), 401, "unauthorized", what)
        self.assertProblem(self.c.get("/cart", headers=h), 401, "unauthorized", what + " (GET /cart)")

    def test_valid_token_is_accepted_and_sub_owns_the_cart(self):
        s = sub()
        cart = self.accepted(jwt(s), "a valid HS256 token")
        self.assertEqual(cart["userId"], s)

    def test_alg_none_is_refused(self):
        self.refused(jwt(sub(), alg="none"), "alg none")

    def test_alg_none_with_a_valid_signature_is_refused(self):
        good = jwt(sub())
        _, payload, sig = good.split(".")
        header = b64url(json.dumps({"alg": "none", "typ": "JWT"}))
        self.refused(header + "." + payload + "." + sig, "alg none with an HS256 signature")

    def test_alg_none_lower_and_upper_case_is_refused(self):
        for alg in ("None", "NONE", "nOnE"):
            with self.subTest(alg=alg):
                self.refused(jwt(sub(), alg="none", header_override={"alg": alg, "typ": "JWT"}), "alg %s" % alg)

    def test_hs512_is_refused(self):
        self.refused(jwt(sub(), alg="HS512"), "HS512 (another algorithm)")

    def test_rs256_header_is_refused(self):
        self.refused(jwt(sub(), alg="RS256"), "RS256 header signed with HMAC of the secret")

    def test_missing_alg_is_refused(self):
        self.refused(jwt(sub(), header_override={"typ": "JWT"}), "header without alg")

    def test_bad_signature_is_refused(self):
        self.refused(jwt(sub(), secret="not-the-secret-0123456789"), "a token signed with another secret")

    def test_tampered_payload_is_refused(self):
        good = jwt("user-mallory")
        header, _, sig = good.split(".")
        now = int(time.time())
        payload = b64url(json.dumps({"sub": "admin", "roles": ["admin"], "exp": now + 3600}))
        self.refused(header + "." + payload + "." + sig, "a payload changed after signing")

    def test_truncated_signature_is_refused(self):
        self.refused(jwt(sub())[:-4], "a truncated signature")

    def test_expired_token_is_refused(self):
        self.refused(jwt(sub(), exp_delta=-120), "exp 2 minutes ago")

    def test_exp_within_skew_is_accepted(self):
        self.accepted(jwt(sub(), exp_delta=-30), "exp 30 s ago (within 60 s skew)")

    def test_nbf_in_the_future_is_refused(self):
        self.refused(jwt(sub(), nbf=int(time.time()) + 120), "nbf 2 minutes ahead")

    def test_nbf_within_skew_is_accepted(self):
        self.accepted(jwt(sub(), nbf=int(time.time()) + 30), "nbf 30 s ahead (within 60 s skew)")

    def test_nbf_in_the_past_is_accepted(self):
        self.accepted(jwt(sub(), nbf=int(time.time()) - 10), "nbf 10 s ago")

    def test_missing_sub_is_refused(self):
        self.refused(jwt(None), "a token without sub")

    def test_empty_sub_is_refused(self):
        self.refused(jwt(""), "a token with an empty sub")

    def test_missing_exp_is_refused(self):
        self.refused(jwt(sub(), drop=("exp",)), "a token without exp (exp is required)")

    def test_non_numeric_exp_is_refused(self):
        self.refused(jwt(sub(), claims={"exp": "tomorrow"}), "exp as a string")

    def test_garbage_tokens_are_refused(self):
        for token in ("abc", "a.b.c", "..", "e30.e30.", "%%%.%%%.%%%"):
            with self.subTest(token=token):
                self.refused(token, "garbage token %r" % token)

    def test_payload_that_is_not_json_is_refused(self):
        header = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}))
        payload = b64url(b"not json")
        sig = b64url(hmac.new(harness.SECRET.encode(), (header + "." + payload).encode(), hashlib.sha256).digest())
        self.refused(header + "." + payload + "." + sig, "a signed non-JSON payload")

    def test_other_schemes_are_refused(self):
        token = jwt(sub())
        for value in ("Basic " + base64.b64encode(b"user:pass").decode(), token, "Bearer", "Bearer  "):
            with self.subTest(authorization=value[:20]):
                self.refused({"Authorization": value}, "Authorization %r" % value[:20])

    def test_scheme_is_case_insensitive(self):
        self.accepted({"Authorization": "bearer " + jwt(sub())}, "scheme 'bearer' (RFC 7235: case-insensitive)")

    def test_token_of_a_user_is_valid_across_requests(self):
        h = bearer(jwt(sub()))
        for _ in range(3):
            self.assertStatus(self.c.post("/cart", {}, headers=h), 201)


class NoCredentialsTest(ApiTest):
    def test_every_cart_route_needs_credentials(self):
        cid = str(uuid.uuid4())
        iid = str(uuid.uuid4())
        routes = [("POST", "/cart", {}), ("GET", "/cart", None), ("GET", "/cart/" + cid, None),
                  ("PATCH", "/cart/" + cid, {"region": "DE"}), ("DELETE", "/cart/" + cid, None),
                  ("POST", "/cart/%s/items" % cid, {"productId": "p", "variantId": "v", "quantity": 1}),
                  ("PATCH", "/cart/%s/items/%s" % (cid, iid), {"quantity": 1}),
                  ("DELETE", "/cart/%s/items/%s" % (cid, iid), None),
                  ("GET", "/cart/%s/totals" % cid, None),
                  ("POST", "/cart/%s/merge" % cid, {"sourceCartId": str(uuid.uuid4())})]
        for method, path, body in routes:
            with self.subTest(route="%s %s" % (method, path)):
                self.assertProblem(self.c.request(method, path, body=body), 401, "unauthorized",
                                   "%s %s without credentials" % (method, path))

    def test_public_routes_need_none(self):
        p = self.product()["id"]
        for path in ("/health", "/health/ready", "/products/" + p, "/openapi.json"):
            with self.subTest(path=path):
                self.assertStatus(self.c.get(path), 200, path)


class AdminTest(ApiTest):
    body = {"name": "Tee", "currency": "USD", "variants": [{"id": "v", "sku": "S", "price": 100, "stock": 1}]}

    def test_admin_role_grants_admin(self):
        h = bearer(jwt(sub(), roles=("admin",)))
        self.assertStatus(self.c.put("/admin/products/" + pid(), self.body, headers=h), 201)

    def test_admin_among_other_roles(self):
        h = bearer(jwt(sub(), roles=("support", "admin")))
        self.assertStatus(self.c.put("/admin/products/" + pid(), self.body, headers=h), 201)

    def test_user_without_roles_is_403(self):
        self.assertProblem(self.c.put("/admin/products/" + pid(), self.body, headers=bearer(jwt(sub()))),
                           403, "forbidden")

    def test_other_roles_are_403(self):
        h = bearer(jwt(sub(), roles=("support", "Admin", "administrator")))
        self.assertProblem(self.c.put("/admin/products/" + pid(), self.body, headers=h), 403, "forbidden")

    def test_roles_as_a_string_is_not_admin(self):
        h = bearer(jwt(sub(), claims={"roles": "admin"}))
        st = self.c.put("/admin/products/" + pid(), self.body, headers=h)[0]
        self.assertIn(st, (401, 403), "roles must be an array of strings")

    def test_no_credentials_is_401(self):
        self.assertProblem(self.c.put("/admin/products/" + pid(), self.body), 401, "unauthorized")

    def test_forged_admin_token_is_401(self):
        h = bearer(jwt(sub(), roles=("admin",), alg="none"))
        self.assertProblem(self.c.put("/admin/products/" + pid(), self.body, headers=h), 401, "unauthorized")

    def test_expired_admin_token_is_401(self):
        h = bearer(jwt(sub(), roles=("admin",), exp_delta=-120))
        self.assertProblem(self.c.put("/admin/products/" + pid(), self.body, headers=h), 401, "unauthorized")

    def test_invalid_admin_body_is_checked_after_auth(self):
        # A non-admin learns nothing about validation: 403 before 400.
        self.assertProblem(self.c.put("/admin/products/" + pid(), {"name": ""}, headers=bearer(jwt(sub()))),
                           403, "forbidden")


class IssuerAudienceTest(ApiTest):
    server_env = {"CARTD_AUTH_ISSUER": "https://id.example", "CARTD_AUTH_AUDIENCE": "cartd"}

    def test_matching_iss_and_aud_are_accepted(self):
        t = jwt(sub(), claims={"iss": "https://id.example", "aud": "cartd"})
        self.assertStatus(self.c.post("/cart", {}, headers=bearer(t)), 201)

    def test_aud_array_containing_the_audience_is_accepted(self):
        t = jwt(sub(), claims={"iss": "https://id.example", "aud": ["other", "cartd"]})
        self.assertStatus(self.c.post("/cart", {}, headers=bearer(t)), 201, "aud may be an array (RFC 7519)")

    def test_wrong_issuer_is_401(self):
        t = jwt(sub(), claims={"iss": "https://evil.example", "aud": "cartd"})
        self.assertProblem(self.c.post("/cart", {}, headers=bearer(t)), 401, "unauthorized")

    def test_wrong_audience_is_401(self):
        t = jwt(sub(), claims={"iss": "https://id.example", "aud": "other"})
        self.assertProblem(self.c.post("/cart", {}, headers=bearer(t)), 401, "unauthorized")

    def test_missing_iss_and_aud_are_401(self):
        self.assertProblem(self.c.post("/cart", {}, headers=bearer(jwt(sub()))), 401, "unauthorized")


if __name__ == "__main__":
    unittest.main(verbosity=2)
