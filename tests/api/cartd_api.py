"""Black-box harness: starts the real cartd binary on a fresh SQLite file and talks HTTP to it.

Standard library only. CARTD_BIN names the binary (ctest sets it); default build/cartd.
"""
import base64
import hashlib
import hmac
import http.client
import json
import os
import signal
import socket
import subprocess
import tempfile
import time
import unittest
import uuid

import openapi_check

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("CARTD_BIN", os.path.join(ROOT, "build", "cartd"))
SECRET = "test-secret-0123456789"
BASE = "/api/v1"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwt(sub, roles=(), exp_delta=3600, nbf=None, alg="HS256", secret=SECRET, claims=None):
    header = {"alg": alg, "typ": "JWT"}
    now = int(time.time())
    payload = {"exp": now + exp_delta, "iat": now, "roles": list(roles)}
    if sub is not None:
        payload["sub"] = sub
    if nbf is not None:
        payload["nbf"] = nbf
    payload.update(claims or {})
    signing = b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(payload).encode())
    if alg == "none":
        return signing + "."
    sig = hmac.new(secret.encode(), signing.encode(), hashlib.sha256).digest()
    return signing + "." + b64url(sig)


STORE = os.environ.get("CARTD_TEST_STORE", "sqlite")


def store_url(directory):
    """A fresh store: a SQLite file in `directory`, or a new database in the test PostgreSQL."""
    if STORE != "postgresql":
        return "sqlite://%s/cartd.db" % directory
    base = os.environ.get("CARTD_TEST_PG_URL")
    if not base:
        raise unittest.SkipTest("CARTD_TEST_PG_URL is not set (scripts/test sets it)")
    name = "cartd_" + uuid.uuid4().hex[:16]
    subprocess.run(["psql", base, "-qc", "CREATE DATABASE " + name], check=True, capture_output=True)
    return base.rsplit("/", 1)[0] + "/" + name


def read_env(path):
    """KEY=value lines (deploy/cluster-local's cluster.env) as a dict."""
    out = {}
    with open(path) as f:
        for line in f:
            k, _, v = line.strip().partition("=")
            out[k] = v.strip('"')
    return out


def bearer(token):
    return {"Authorization": "Bearer " + token}


class Server:
    """One cartd process on its own port and data directory."""

    def __init__(self, **env):
        self.dir = tempfile.mkdtemp(prefix="cartd-api-")
        self.port = free_port()
        self.env = dict(os.environ)
        self.env.update({
            "CARTD_HTTP_PORT": str(self.port),
            "CARTD_STORE_URL": store_url(self.dir),
            "CARTD_AUTH_JWT_SECRET": SECRET,
            "CARTD_HTTP_ACCESS_LOG": "false",
            # Tests drive one principal far beyond 200 req/s; test_ratelimit_api turns it on.
            "CARTD_RATE_LIMIT_ENABLED": "false",
        })
        self.env.update({k: str(v) for k, v in env.items()})
        self.proc = None
        self.start()

    def start(self, attempts=3):
        self.log = open(os.path.join(self.dir, "cartd.log"), "ab")
        self.proc = subprocess.Popen([BIN, "serve"], env=self.env, cwd=self.work_dir(),
                                     stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.proc.poll() is not None:
                log = self.read_log()
                if "cannot listen" in log and attempts > 1:
                    # Another test took the free port between our look and cartd's bind.
                    self.log.close()
                    self.port = free_port()
                    self.env["CARTD_HTTP_PORT"] = str(self.port)
                    return self.start(attempts - 1)
                raise RuntimeError("cartd exited at start:\n" + log)
            try:
                status, _, _, _ = Client(self.port).get("/health")
                if status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError("cartd did not become healthy:\n" + self.read_log())

    def work_dir(self):
        """The directory cartd runs in (None: the test's own)."""
        return None

    def read_log(self):
        with open(os.path.join(self.dir, "cartd.log"), "rb") as f:
            return f.read().decode(errors="replace")[-4000:]

    def stop(self):
        """SIGTERM; the process must exit 0 within 15 s."""
        if self.proc is None:
            return 0
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=15)
        self.proc = None
        self.log.close()
        return code

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=15)
        self.proc = None
        self.log.close()

    def client(self):
        return Client(self.port)


class Client:
    """A keep-alive HTTP/1.1 connection; returns (status, headers, json-or-None, raw)."""

    def __init__(self, port):
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def request(self, method, path, body=None, headers=None, raw=None, base=True):
        hdrs = {"Connection": "keep-alive"}
        hdrs.update(headers or {})
        data = raw
        if body is not None:
            data = json.dumps(body).encode()
            hdrs.setdefault("Content-Type", "application/json")
        elif raw is not None:
            hdrs.setdefault("Content-Type", "application/json")
        url = (BASE + path) if base else path
        for attempt in range(2):
            try:
                self.conn.request(method, url, body=data, headers=hdrs)
                resp = self.conn.getresponse()
                payload = resp.read()
                break
            except (http.client.HTTPException, ConnectionError):
                self.conn.close()
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                if attempt:
                    raise
        headers_out = {k.lower(): v for k, v in resp.getheaders()}
        # Every answer must be one http/openapi.json describes (CARTD_API_SCHEMA_CHECK=0: off).
        openapi_check.enforce(method, url, resp.status, headers_out, payload)
        parsed = None
        if payload and "json" in headers_out.get("content-type", ""):
            parsed = json.loads(payload)
        return resp.status, headers_out, parsed, payload

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.request("POST", path, body=body, **kw)

    def put(self, path, body=None, **kw):
        return self.request("PUT", path, body=body, **kw)

    def patch(self, path, body=None, **kw):
        return self.request("PATCH", path, body=body, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)


ADMIN = bearer(jwt("admin-1", roles=["admin"]))


def new_user():
    return bearer(jwt("user-" + uuid.uuid4().hex[:12]))


def put_product(client, variants=None, currency="USD", active=True, name="Tee"):
    pid = "p-" + uuid.uuid4().hex[:12]
    variants = variants or [{"id": "v-red", "sku": "TEE-R", "price": 1999, "stock": 10}]
    status, _, body, raw = client.put("/admin/products/" + pid, {
        "name": name, "currency": currency, "active": active, "variants": variants},
        headers=ADMIN)
    assert status == 201, (status, raw)
    return pid


def new_session(client, headers=None):
    status, _, body, raw = client.post("/session", {}, headers=headers)
    assert status == 201, (status, raw)
    return body


def new_cart(client, headers, body=None):
    status, hdrs, cart, raw = client.post("/cart", body if body is not None else {}, headers=headers)
    assert status == 201, (status, raw)
    return cart


class ServerTest(unittest.TestCase):
    """One server per test class; `server_env` adds environment for it."""

    server_env = {}

    @classmethod
    def setUpClass(cls):
        cls.server = Server(**cls.server_env)
        cls.c = cls.server.client()

    @classmethod
    def tearDownClass(cls):
        code = cls.server.stop()
        assert code == 0, "cartd exited %s on SIGTERM" % code

    def assertProblem(self, resp, status, code):
        st, hdrs, body, raw = resp
        self.assertEqual(st, status, raw)
        self.assertTrue(hdrs.get("content-type", "").startswith("application/problem+json"), hdrs)
        self.assertEqual(body["code"], code, raw)
        self.assertEqual(body["status"], status)
        self.assertEqual(body["type"], "urn:cartd:error:" + code)
        self.assertTrue(body.get("title"))
        self.assertEqual(body["requestId"], hdrs.get("x-request-id"))
        return body
