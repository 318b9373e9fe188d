"""Guest sessions: create, read, extend, delete; tokens stored only as hashes."""
import os
import sqlite3
import subprocess
import unittest

from cartd_api import ServerTest, bearer, jwt, new_cart, new_session, new_user


class SessionTest(ServerTest):
    def test_create_shows_the_token_once(self):
        s = new_session(self.c, headers=None)
        self.assertEqual(set(s) >= {"id", "token", "userId", "deviceInfo", "expiresAt", "createdAt"}, True)
        self.assertIsNone(s["userId"])
        st, _, got, _ = self.c.get("/session/" + s["id"], headers={"X-Session-Token": s["token"]})
        self.assertEqual(st, 200)
        self.assertNotIn("token", got)
        self.assertEqual(got["expiresAt"], s["expiresAt"])

    def test_a_retry_with_its_idempotency_key_gives_the_same_session(self):
        h = {"Idempotency-Key": "sess-" + os.urandom(8).hex()}
        body = {"deviceInfo": {"app": "ios"}}
        st1, _, first, raw = self.c.post("/session", body, headers=h)
        self.assertEqual(st1, 201, raw)
        st2, hdrs, again, raw = self.c.post("/session", body, headers=h)
        self.assertEqual((st2, again), (201, first), raw)
        self.assertEqual(hdrs.get("idempotent-replayed"), "true")
        # One session: the replayed token is the one that works.
        st, _, got, _ = self.c.get("/session/" + first["id"], headers={"X-Session-Token": again["token"]})
        self.assertEqual((st, got["id"]), (200, first["id"]))

    def test_only_a_hash_of_the_token_is_stored(self):
        if self.server.env["CARTD_STORE_URL"].startswith("postgresql"):
            rows = subprocess.run(["psql", self.server.env["CARTD_STORE_URL"], "-tAc", "SELECT token_hash FROM sessions"],
                                  capture_output=True, text=True, check=True).stdout.split()
            s = new_session(self.c)
            after = subprocess.run(["psql", self.server.env["CARTD_STORE_URL"], "-tAc", "SELECT token_hash FROM sessions"],
                                   capture_output=True, text=True, check=True).stdout.split()
            self.assertNotIn(s["token"], after)
            self.assertEqual(len(after), len(rows) + 1)
            self.assertTrue(all(len(h) == 64 for h in after))
            return
        s = new_session(self.c)
        db = sqlite3.connect(os.path.join(self.server.dir, "cartd.db"))
        rows = db.execute("SELECT token_hash FROM sessions WHERE id = ?", (s["id"],)).fetchall()
        db.close()
        self.assertEqual(len(rows), 1)
        self.assertNotEqual(rows[0][0], s["token"])
        self.assertEqual(len(rows[0][0]), 64)

    def test_a_jwt_binds_the_session_to_its_user(self):
        sub = "u-bound"
        s = new_session(self.c, headers=bearer(jwt(sub)))
        self.assertEqual(s["userId"], sub)
        st, _, got, _ = self.c.get("/session/" + s["id"], headers=bearer(jwt(sub)))
        self.assertEqual(st, 200)
        self.assertProblem(self.c.get("/session/" + s["id"], headers=bearer(jwt("u-other"))), 404, "not_found")

    def test_device_info_and_extend(self):
        s = new_session(self.c)
        tok = {"X-Session-Token": s["token"]}
        st, _, got, raw = self.c.patch("/session/" + s["id"], {"deviceInfo": {"os": "ios", "v": 17}, "extend": True}, headers=tok)
        self.assertEqual(st, 200, raw)
        self.assertEqual(got["deviceInfo"], {"os": "ios", "v": 17})
        self.assertGreaterEqual(got["expiresAt"], s["expiresAt"])
        self.assertProblem(self.c.patch("/session/" + s["id"], {"extend": "yes"}, headers=tok), 400, "validation_failed")
        self.assertProblem(self.c.patch("/session/" + s["id"], {"deviceInfo": "phone"}, headers=tok), 400, "validation_failed")

    def test_other_sessions_are_not_found(self):
        a = new_session(self.c)
        b = new_session(self.c)
        self.assertProblem(self.c.get("/session/" + a["id"], headers={"X-Session-Token": b["token"]}), 404, "not_found")
        self.assertProblem(self.c.delete("/session/" + a["id"], headers={"X-Session-Token": b["token"]}), 404, "not_found")
        self.assertProblem(self.c.get("/session/" + a["id"]), 401, "unauthorized")
        self.assertProblem(self.c.get("/session/" + a["id"], headers=new_user()), 404, "not_found")

    def test_delete_revokes_the_token(self):
        s = new_session(self.c)
        tok = {"X-Session-Token": s["token"]}
        cart = new_cart(self.c, tok)
        st, _, _, raw = self.c.delete("/session/" + s["id"], headers=tok)
        self.assertEqual((st, raw), (204, b""))
        self.assertProblem(self.c.get("/cart/" + cart["id"], headers=tok), 401, "unauthorized")
        self.assertProblem(self.c.get("/session/" + s["id"], headers=tok), 401, "unauthorized")


class ShortSessionTest(ServerTest):
    server_env = {"CARTD_SESSION_TTL": "1s"}

    def test_an_expired_session_no_longer_authenticates(self):
        import time
        s = new_session(self.c)
        tok = {"X-Session-Token": s["token"]}
        st, _, _, _ = self.c.post("/cart", {}, headers=tok)
        self.assertEqual(st, 201)
        deadline = time.time() + 10
        while time.time() < deadline:
            st, _, _, _ = self.c.post("/cart", {}, headers=tok)
            if st == 401:
                break
            time.sleep(0.1)
        self.assertEqual(st, 401)


if __name__ == "__main__":
    unittest.main(verbosity=2)
