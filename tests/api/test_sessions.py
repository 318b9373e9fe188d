"""Guest sessions: POST /session, GET/PATCH/DELETE /session/{id}, session tokens on cart routes."""
import datetime
import os
import sys
import time
import unittest
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import ApiTest, bearer, create_session, jwt, session_headers  # noqa: E402


def setUpModule():
    harness.module_setup(__name__)


def tearDownModule():
    harness.module_teardown(__name__)


def parse_ts(s):
    return datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc)


SESSION_KEYS = {"id", "token", "userId", "deviceInfo", "expiresAt", "createdAt"}


class CreateSessionTest(ApiTest):
    def test_create_answers_201_with_a_guest_session(self):
        resp = self.c.post("/session", {})
        self.assertStatus(resp, 201, "POST /session")
        s = resp[2]
        self.assertFalse(SESSION_KEYS - set(s), "session lacks %s: %r" % (SESSION_KEYS - set(s), s))
        self.assertTrue(harness.is_uuid(s["id"]), "session id is not a UUID")
        self.assertTrue(isinstance(s["token"], str) and len(s["token"]) >= 16, "weak or missing token")
        self.assertIsNone(s["userId"])
        self.assertIn(s["deviceInfo"], (None, {}))
        self.assertTimestamp(s["expiresAt"], "expiresAt")
        self.assertTimestamp(s["createdAt"], "createdAt")

    def test_default_ttl_is_720_hours(self):
        s = create_session(self.c)
        ttl = parse_ts(s["expiresAt"]) - parse_ts(s["createdAt"])
        self.assertAlmostEqual(ttl.total_seconds(), 720 * 3600, delta=60)

    def test_create_without_a_body(self):
        resp = self.c.post("/session")
        self.assertStatus(resp, 201, "an empty body is treated as {}")

    def test_create_with_device_info(self):
        info = {"platform": "ios", "app": "7.2.1", "model": "iPhone15,2"}
        resp = self.c.post("/session", {"deviceInfo": info})
        self.assertStatus(resp, 201)
        self.assertEqual(resp[2]["deviceInfo"], info)

    def test_create_with_jwt_binds_the_user(self):
        sub, user = self.user()
        resp = self.c.post("/session", {}, headers=user)
        self.assertStatus(resp, 201)
        self.assertEqual(resp[2]["userId"], sub)

    def test_tokens_and_ids_are_unique(self):
        a, b = create_session(self.c), create_session(self.c)
        self.assertNotEqual(a["id"], b["id"])
        self.assertNotEqual(a["token"], b["token"])

    def test_device_info_that_is_not_an_object_is_400(self):
        prob = self.assertProblem(self.c.post("/session", {"deviceInfo": "iphone"}), 400, "validation_failed")
        self.assertErrorField(prob, "deviceInfo")

    def test_body_that_is_not_an_object_is_400(self):
        self.assertProblem(self.c.post("/session", [1]), 400, "validation_failed")

    def test_malformed_json_is_400(self):
        self.assertProblem(self.c.post("/session", raw=b"{"), 400, "invalid_json")

    def test_invalid_jwt_is_401(self):
        self.assertProblem(self.c.post("/session", {}, headers=bearer(jwt("x", secret="wrong-secret-xyz"))),
                           401, "unauthorized")


class ReadSessionTest(ApiTest):
    def setUp(self):
        self.s = create_session(self.c, body={"deviceInfo": {"platform": "web"}})
        self.h = session_headers(self.s["token"])
        self.path = "/session/" + self.s["id"]

    def test_get_with_own_token(self):
        resp = self.c.get(self.path, headers=self.h)
        self.assertStatus(resp, 200)
        got = resp[2]
        for k in ("id", "userId", "deviceInfo", "expiresAt", "createdAt"):
            self.assertEqual(got[k], self.s[k], k)

    def test_get_does_not_show_the_token_again(self):
        got = self.c.get(self.path, headers=self.h)[2]
        self.assertNotEqual(got.get("token"), self.s["token"], "the token is shown once only")

    def test_get_with_another_sessions_token_is_404(self):
        other = create_session(self.c)
        self.assertProblem(self.c.get(self.path, headers=session_headers(other["token"])), 404, "not_found")

    def test_get_without_credentials_is_401(self):
        self.assertProblem(self.c.get(self.path), 401, "unauthorized")

    def test_get_unknown_session_is_404(self):
        self.assertProblem(self.c.get("/session/" + str(uuid.uuid4()), headers=self.h), 404, "not_found")

    def test_get_with_the_bound_users_jwt(self):
        sub, user = self.user()
        s = create_session(self.c, headers=user)
        resp = self.c.get("/session/" + s["id"], headers=user)
        self.assertStatus(resp, 200, "the bound user's JWT may read the session")
        self.assertEqual(resp[2]["userId"], sub)

    def test_get_with_another_users_jwt_is_404(self):
        _, alice = self.user()
        _, bob = self.user()
        s = create_session(self.c, headers=alice)
        self.assertProblem(self.c.get("/session/" + s["id"], headers=bob), 404, "not_found")

    def test_guest_session_is_404_for_any_user(self):
        _, bob = self.user()
        self.assertProblem(self.c.get(self.path, headers=bob), 404, "not_found")


class PatchSessionTest(ApiTest):
    def setUp(self):
        self.s = create_session(self.c, body={"deviceInfo": {"platform": "web"}})
        self.h = session_headers(self.s["token"])
        self.path = "/session/" + self.s["id"]

    def test_patch_device_info(self):
        info = {"platform": "android", "version": 14}
        resp = self.c.patch(self.path, {"deviceInfo": info}, headers=self.h)
        self.assertStatus(resp, 200)
        self.assertEqual(resp[2]["deviceInfo"], info)
        self.assertEqual(self.c.get(self.path, headers=self.h)[2]["deviceInfo"], info)

    def test_extend_moves_expires_at_later(self):
        time.sleep(1.1)
        resp = self.c.patch(self.path, {"extend": True}, headers=self.h)
        self.assertStatus(resp, 200)
        self.assertGreater(parse_ts(resp[2]["expiresAt"]), parse_ts(self.s["expiresAt"]),
                           "extend: true must move expiresAt later")
        self.assertEqual(self.c.get(self.path, headers=self.h)[2]["expiresAt"], resp[2]["expiresAt"])

    def test_patch_without_extend_keeps_expires_at(self):
        time.sleep(0.05)
        resp = self.c.patch(self.path, {"deviceInfo": {"x": 1}}, headers=self.h)
        self.assertEqual(resp[2]["expiresAt"], self.s["expiresAt"])

    def test_patch_with_the_bound_users_jwt(self):
        _, user = self.user()
        s = create_session(self.c, headers=user)
        resp = self.c.patch("/session/" + s["id"], {"deviceInfo": {"a": 1}}, headers=user)
        self.assertStatus(resp, 200)
        self.assertEqual(resp[2]["deviceInfo"], {"a": 1})

    def test_patch_another_session_is_404_and_changes_nothing(self):
        other = create_session(self.c)
        self.assertProblem(self.c.patch(self.path, {"deviceInfo": {"evil": True}},
                                        headers=session_headers(other["token"])), 404, "not_found")
        self.assertEqual(self.c.get(self.path, headers=self.h)[2]["deviceInfo"], {"platform": "web"})

    def test_patch_without_credentials_is_401(self):
        self.assertProblem(self.c.patch(self.path, {"extend": True}), 401, "unauthorized")

    def test_patch_wrong_types_is_400(self):
        for b, field in (({"extend": "yes"}, "extend"), ({"deviceInfo": [1]}, "deviceInfo")):
            with self.subTest(body=b):
                prob = self.assertProblem(self.c.patch(self.path, b, headers=self.h), 400, "validation_failed")
                self.assertErrorField(prob, field)

    def test_patch_malformed_json_is_400(self):
        self.assertProblem(self.c.patch(self.path, raw=b'{"a":"\xff"}', headers=self.h), 400, "invalid_json")


class DeleteSessionTest(ApiTest):
    def setUp(self):
        self.s = create_session(self.c)
        self.h = session_headers(self.s["token"])
        self.path = "/session/" + self.s["id"]

    def test_delete_answers_204(self):
        resp = self.c.delete(self.path, headers=self.h)
        self.assertStatus(resp, 204)
        self.assertEqual(resp[3], b"")

    def test_deleted_token_no_longer_authenticates(self):
        cart = self.cart(self.h)
        self.c.delete(self.path, headers=self.h)
        self.assertProblem(self.c.post("/cart", {}, headers=self.h), 401, "unauthorized")
        self.assertProblem(self.c.get("/cart/" + cart["id"], headers=self.h), 401, "unauthorized")
        self.assertProblem(self.c.get("/cart", headers=self.h), 401, "unauthorized")

    def test_deleted_session_is_gone_for_its_user(self):
        _, user = self.user()
        s = create_session(self.c, headers=user)
        self.assertStatus(self.c.delete("/session/" + s["id"], headers=user), 204, "delete with the user's JWT")
        self.assertProblem(self.c.get("/session/" + s["id"], headers=user), 404, "not_found")

    def test_delete_another_session_is_404_and_keeps_it(self):
        other = create_session(self.c)
        self.assertProblem(self.c.delete(self.path, headers=session_headers(other["token"])), 404, "not_found")
        self.assertStatus(self.c.get(self.path, headers=self.h), 200)

    def test_delete_without_credentials_is_401(self):
        self.assertProblem(self.c.delete(self.path), 401, "unauthorized")
        self.assertStatus(self.c.get(self.path, headers=self.h), 200)


class SessionTokenTest(ApiTest):
    def test_unknown_token_is_401_on_cart_routes(self):
        self.assertProblem(self.c.get("/cart", headers=session_headers("x" * 43)), 401, "unauthorized")

    def test_session_id_is_not_a_token(self):
        s = create_session(self.c)
        self.assertProblem(self.c.get("/cart", headers=session_headers(s["id"])), 401, "unauthorized")

    def test_sessions_do_not_see_each_others_carts(self):
        a = session_headers(create_session(self.c)["token"])
        b = session_headers(create_session(self.c)["token"])
        self.cart(a)
        self.assertEqual(self.c.get("/cart", headers=b)[2]["items"], [])


if __name__ == "__main__":
    unittest.main(verbosity=2)
