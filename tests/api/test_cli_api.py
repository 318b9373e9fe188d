"""The cartd command line: migrate, token, routes, --help, and refusing a bad configuration."""
import os
import sqlite3
import subprocess
import tempfile
import unittest

from cartd_api import BIN, SECRET, Client, Server, bearer, free_port, new_cart, new_user, put_product


def run(*args, env=None):
    e = dict(os.environ)
    e.update(env or {})
    return subprocess.run([BIN, *args], capture_output=True, text=True, env=e, timeout=60)


class CliTest(unittest.TestCase):
    def test_help_for_every_command(self):
        for args in (["--help"], ["serve", "--help"], ["migrate", "--help"], ["token", "--help"]):
            out = run(*args)
            self.assertEqual(out.returncode, 0, args)
            self.assertIn("Usage", out.stdout)

    def test_migrate_is_idempotent(self):
        d = tempfile.mkdtemp()
        env = {"CARTD_STORE_URL": "sqlite://%s/c.db" % d}
        first = run("migrate", env=env)
        self.assertEqual(first.returncode, 0, first.stderr)
        self.assertIn("8 migration(s) applied", first.stdout)
        second = run("migrate", env=env)
        self.assertIn("0 migration(s) applied", second.stdout)
        db = sqlite3.connect(os.path.join(d, "c.db"))
        self.assertEqual(db.execute("PRAGMA journal_mode").fetchone()[0], "wal")
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        self.assertTrue({"carts", "products", "variants", "sessions", "idempotency_keys", "schema_migrations", "pricing_rules", "outbox", "cart_abandonment"} <= tables)

    def test_a_bad_configuration_is_refused_with_every_error(self):
        out = run("serve", env={"CARTD_HTTP_PORT": "99999", "CARTD_CART_IDLE_TIMEOUT": "5",
                                "CARTD_STORE_GROUP_COMMIT": "perhaps", "CARTD_STORE_URL": "mysql://x"})
        self.assertEqual(out.returncode, 2)
        for key in ("CARTD_HTTP_PORT", "CARTD_CART_IDLE_TIMEOUT", "CARTD_STORE_GROUP_COMMIT", "CARTD_STORE_URL"):
            self.assertIn(key, out.stderr)

    def test_a_toml_file_is_read_and_the_environment_wins(self):
        d = tempfile.mkdtemp()
        path = os.path.join(d, "cartd.toml")
        with open(path, "w") as f:
            f.write('[cart]\nmax_lines = 2\n[http]\nport = 1\n')
        port = free_port()
        env = dict(os.environ, CARTD_HTTP_PORT=str(port), CARTD_AUTH_JWT_SECRET=SECRET,
                   CARTD_STORE_URL="sqlite://%s/c.db" % d, CARTD_HTTP_ACCESS_LOG="false")
        # http.port = 1 in the file could not be bound: the environment's port must win.
        proc = subprocess.Popen([BIN, "serve", "--config", path], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
        try:
            self.assertIn("listening on http://127.0.0.1:%d" % port, proc.stdout.readline())
            c = Client(port)
            pid = put_product(c, [{"id": "v%d" % i, "price": 1, "stock": 5} for i in range(3)])
            user = new_user()
            cart = new_cart(c, user)
            codes = [c.post("/cart/%s/items" % cart["id"], {"productId": pid, "variantId": "v%d" % i, "quantity": 1}, headers=user)[0]
                     for i in range(3)]
            self.assertEqual(codes, [201, 201, 409])  # cart.max_lines = 2 from the file
        finally:
            proc.terminate()
            self.assertEqual(proc.wait(timeout=15), 0)

    def test_token_signs_with_the_configured_secret(self):
        srv = Server()
        try:
            tok = run("token", "--sub", "alice", "--role", "admin", "--ttl", "15m", env={"CARTD_AUTH_JWT_SECRET": SECRET}).stdout.strip()
            st, _, _, _ = srv.client().put("/admin/products/p-cli", {"name": "X", "currency": "USD", "variants": [{"id": "v", "price": 1, "stock": 1}]}, headers=bearer(tok))
            self.assertEqual(st, 201)
            bad = run("token", "--sub", "alice", "--role", "root")
            self.assertNotEqual(bad.returncode, 0)
        finally:
            self.assertEqual(srv.stop(), 0)

    def test_without_a_secret_it_refuses_and_uses_the_kept_one_once_there(self):
        # cartd serve makes and keeps the secret; cartd token never makes one (its tokens
        # would be refused by a server with another secret).
        d = tempfile.mkdtemp()
        env_clean = dict(os.environ)
        env_clean.pop("CARTD_AUTH_JWT_SECRET", None)
        env_clean.update({"CARTD_STORE_URL": "sqlite://%s/c.db" % d})
        out = subprocess.run([BIN, "token", "--sub", "a"], capture_output=True, text=True, env=env_clean)
        self.assertNotEqual(out.returncode, 0)
        self.assertIn(os.path.join(d, "jwt_secret"), out.stderr)
        self.assertFalse(os.path.exists(os.path.join(d, "jwt_secret")))
        with open(os.path.join(d, "jwt_secret"), "w") as f:
            f.write("kept-secret-0123456789abcdef\n")
        t1 = subprocess.run([BIN, "token", "--sub", "a"], capture_output=True, text=True, env=env_clean)
        self.assertEqual(t1.returncode, 0, t1.stderr)
        head, payload, sig = t1.stdout.strip().split(".")
        import base64, hashlib, hmac
        want = hmac.new(b"kept-secret-0123456789abcdef", (head + "." + payload).encode(), hashlib.sha256).digest()
        self.assertEqual(base64.urlsafe_b64encode(want).rstrip(b"=").decode(), sig)


if __name__ == "__main__":
    unittest.main(verbosity=2)
