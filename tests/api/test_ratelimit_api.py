"""Rate limiting per principal: local buckets, one bucket shared by nodes through Redis, and
Redis going away and coming back (a private Redis, stopped for real)."""
import http.client
import json
import time
import unittest

from cartd_api import Server, new_user
from private_servers import PrivateRedis


def redis_status_becomes(client, status, timeout=10):
    """Polls the detailed health until Redis shows `status`; returns the last answer."""
    deadline = time.time() + timeout
    while True:
        _, _, d, _ = client.get("/health/detailed")
        if d["components"]["redis"]["status"] == status or time.time() > deadline:
            return d
        time.sleep(0.2)


def create(client, user):
    st, hdrs, body, _ = client.post("/cart", {}, headers=user)
    return st, hdrs, body


class LocalLimitTest(unittest.TestCase):
    def test_a_principal_over_its_burst_gets_429_and_others_do_not(self):
        server = Server(CARTD_RATE_LIMIT_ENABLED="true", CARTD_RATE_LIMIT_RPS=1, CARTD_RATE_LIMIT_BURST=3)
        try:
            c = server.client()
            user, other = new_user(), new_user()
            codes = [create(c, user)[0] for _ in range(3)]
            self.assertEqual(codes, [201, 201, 201])
            st, hdrs, body = create(c, user)
            self.assertEqual(st, 429)
            self.assertEqual(body["code"], "rate_limited")
            self.assertGreaterEqual(int(hdrs["retry-after"]), 1)
            self.assertEqual(create(c, other)[0], 201)
            self.assertEqual(c.get("/health/ready")[0], 200)  # probes are never limited
            _, _, d, _ = c.get("/health/detailed")
            self.assertEqual(d["components"]["redis"]["rateLimiter"], "local")
            self.assertGreaterEqual(d["components"]["memory"]["rateLimitBuckets"], 1)
        finally:
            self.assertEqual(server.stop(), 0)

    def test_buckets_refilled_to_their_burst_are_forgotten(self):
        # A bucket back at its burst decides as a fresh one would: the node drops it (swept once
        # a second), so principals seen once do not hold memory for the life of the process.
        server = Server(CARTD_RATE_LIMIT_ENABLED="true", CARTD_RATE_LIMIT_RPS=20, CARTD_RATE_LIMIT_BURST=20)
        try:
            c = server.client()
            for _ in range(30):
                self.assertEqual(create(c, new_user())[0], 201)
            _, _, d, _ = c.get("/health/detailed")
            self.assertGreaterEqual(d["components"]["memory"]["rateLimitBuckets"], 2)
            # 20 tokens at 20/s refill in a second; the sweep runs on a decision a second on.
            time.sleep(1.3)
            user = new_user()
            self.assertEqual(create(c, user)[0], 201)
            _, _, d, _ = c.get("/health/detailed")
            self.assertEqual(d["components"]["memory"]["rateLimitBuckets"], 1)
            # The one kept still limits: its burst is spent within 20 more creates (it refills
            # at 20/s meanwhile, so a few more may pass).
            codes = [create(c, user)[0] for _ in range(40)]
            self.assertIn(429, codes)
        finally:
            self.assertEqual(server.stop(), 0)


def anonymous_post(port, path, body, source="127.0.0.1"):
    """POST without credentials from `source` (another loopback address is another client)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30, source_address=(source, 0))
    try:
        data = json.dumps(body).encode()
        conn.request("POST", "/api/v1" + path, body=data,
                     headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


class AnonymousLimitTest(unittest.TestCase):
    def test_sessions_and_quotes_are_limited_per_client_address(self):
        # They need no credentials: the client address is the principal.
        server = Server(CARTD_RATE_LIMIT_ENABLED="true", CARTD_RATE_LIMIT_RPS=1, CARTD_RATE_LIMIT_BURST=3)
        try:
            quote = {"currency": "USD", "items": [{"productId": "p-none", "variantId": "v", "quantity": 1}]}
            for path, body in (("/session", {}), ("/pricing/calculate", quote)):
                with self.subTest(path=path):
                    codes = []
                    for _ in range(8):
                        codes.append(anonymous_post(server.port, path, body)[0])
                        if codes[-1] == 429:
                            break
                    self.assertEqual(codes[-1], 429, codes)
                    self.assertNotIn(429, codes[:-1])
                    # Another address has its own bucket.
                    self.assertNotEqual(anonymous_post(server.port, path, body, "127.0.0.2")[0], 429)
                    time.sleep(3.5)  # refill for the next route
        finally:
            self.assertEqual(server.stop(), 0)


class SharedLimitTest(unittest.TestCase):
    def test_two_nodes_share_one_bucket_and_fall_back_when_redis_stops(self):
        redis = PrivateRedis()
        a = b = None
        try:
            env = {"CARTD_REDIS_URL": redis.url(), "CARTD_RATE_LIMIT_ENABLED": "true",
                   "CARTD_RATE_LIMIT_RPS": 1, "CARTD_RATE_LIMIT_BURST": 4}
            a, b = Server(**env), Server(**env)
            ca, cb = a.client(), b.client()
            user = new_user()
            codes = [create(ca if i % 2 else cb, user)[0] for i in range(8)]
            self.assertIn(codes.count(201), (4, 5), codes)  # one bucket of 4 (+1 refilled) for both
            self.assertEqual(codes.count(201) + codes.count(429), 8, codes)
            self.assertTrue(redis.cli("KEYS", "cartd:rl:*").strip())
            _, _, d, _ = ca.get("/health/detailed")
            self.assertEqual((d["status"], d["components"]["redis"]["status"]), ("ok", "ok"))

            redis.stop()
            d = redis_status_becomes(ca, "down")
            self.assertEqual((d["status"], d["components"]["redis"]["status"]), ("degraded", "down"))
            self.assertEqual(ca.get("/health/ready")[0], 503)
            fresh = new_user()
            codes = [create(ca, fresh)[0] for _ in range(5)]
            self.assertEqual(codes[:4], [201] * 4)  # carts keep working, limited locally
            self.assertEqual(codes[4], 429)

            redis.start()
            d = redis_status_becomes(ca, "ok")
            self.assertEqual(d["status"], "ok")
            self.assertEqual(create(ca, new_user())[0], 201)
        finally:
            for s in (a, b):
                if s and s.proc:
                    self.assertEqual(s.stop(), 0)
            redis.destroy()


if __name__ == "__main__":
    unittest.main(verbosity=2)
