"""Black-box harness for the cartd API suite: starts the real binary, talks HTTP to it.

Python 3 standard library only.

- `Server`: one `cartd serve` process in a fresh temporary directory (SQLite file there),
  on a free port; `stop()` (SIGTERM, must exit 0 within 15 s), `kill9()`, `restart()`.
  stdout/stderr go to `<dir>/cartd.log`, printed when a test fails.
- `Client`: one persistent keep-alive HTTP/1.1 connection; every call returns
  `(status, headers (lower-case keys), parsed JSON or None, raw bytes)`.
- `jwt()`: HS256 tokens minted here (and broken ones for the attack tests).
- `ApiTest`: a unittest base class. By default every class of a module shares the module's
  server (`setUpModule = module_setup(__name__)`-style hooks below); a class that sets
  `server_env = {...}` gets its own server with that extra environment.

Environment: CARTD_BIN names the binary (default `<repo>/build/cartd`);
CARTD_TEST_KEEP=1 keeps the temporary directories.
"""
import atexit
import base64
import hashlib
import hmac
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import uuid

import openapi_check  # the response hook in Client.request: alongside in tests/api

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("CARTD_BIN", os.path.join(ROOT, "build", "cartd"))
SECRET = "test-secret-0123456789"
BASE = "/api/v1"
TS_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")

_live_servers = []


# --------------------------------------------------------------------------------------------
# JWT


def b64url(data):
    if isinstance(data, str):
        data = data.encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwt(sub, roles=(), exp_delta=3600, nbf=None, alg="HS256", secret=SECRET,
        header_override=None, claims=None, drop=()):
    """Mint a JWT.

    sub=None leaves `sub` out; `nbf` is an absolute epoch second (or None);
    `alg` "HS256" (valid), "HS512" (really signed with HMAC-SHA512), "RS256" (signed with
    HMAC-SHA256 of the secret: the algorithm-confusion attack) or "none" (no signature);
    `header_override` replaces the header; `claims` adds or overrides claims; `drop` removes
    claims (e.g. ("exp",)).
    """
    now = int(time.time())
    header = {"alg": alg, "typ": "JWT"} if header_override is None else dict(header_override)
    payload = {"exp": now + exp_delta, "iat": now}
    if roles:
        payload["roles"] = list(roles)
    if sub is not None:
        payload["sub"] = sub
    if nbf is not None:
        payload["nbf"] = nbf
    payload.update(claims or {})
    for k in drop:
        payload.pop(k, None)
    signing = b64url(json.dumps(header, separators=(",", ":"))) + "." + \
        b64url(json.dumps(payload, separators=(",", ":")))
    if alg == "none":
        return signing + "."
    digest = hashlib.sha512 if alg == "HS512" else hashlib.sha256
    sig = hmac.new(secret.encode(), signing.encode(), digest).digest()
    return signing + "." + b64url(sig)


def bearer(token):
    return {"Authorization": "Bearer " + token}


def admin():
    """Headers of an admin user."""
    return bearer(jwt("admin-" + uuid.uuid4().hex[:8], roles=("admin",)))


def new_user(prefix="user"):
    """(sub, headers) of a fresh user."""
    sub = "%s-%s" % (prefix, uuid.uuid4().hex[:12])
    return sub, bearer(jwt(sub))


def session_headers(token):
    return {"X-Session-Token": token}


def pid():
    """A fresh product id (uuid4, a valid product id: [A-Za-z0-9._-])."""
    return str(uuid.uuid4())


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --------------------------------------------------------------------------------------------
# HTTP client


class Client:
    """A persistent keep-alive HTTP/1.1 connection.

    request() returns (status, headers with lower-case names, parsed JSON or None, raw bytes).
    `body` is JSON-encoded; `raw` is sent as given (bytes). Content-Type defaults to
    application/json when there is a body; pass `content_type=None` to send none.
    `retry`: reconnect and resend once when a kept-alive connection turns out closed
    (set False where a resend could double a write).
    """

    def __init__(self, port, timeout=30, retry=True):
        self.port = port
        self.timeout = timeout
        self.retry = retry
        self.conn = None

    def _connect(self):
        self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def request(self, method, path, body=None, raw=None, headers=None,
                content_type="application/json", base=True):
        hdrs = {"Connection": "keep-alive"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
        elif raw is not None:
            data = raw
        if data is not None and content_type is not None:
            hdrs["Content-Type"] = content_type
        if method in ("POST", "PUT", "PATCH") and data is None:
            hdrs["Content-Length"] = "0"
        hdrs.update(headers or {})
        url = (BASE + path) if base else path
        attempts = 2 if self.retry else 1
        for attempt in range(attempts):
            if self.conn is None:
                self._connect()
            try:
                self.conn.request(method, url, body=data, headers=hdrs)
                resp = self.conn.getresponse()
                payload = resp.read()
                break
            except socket.timeout:
                self.close()  # never resend after a timeout: the request may be running
                raise
            except (http.client.HTTPException, ConnectionError):
                # A kept-alive connection the server had closed: nothing was processed.
                self.close()
                if attempt == attempts - 1:
                    raise
        if resp.will_close:
            self.close()
        out_headers = {}
        for k, v in resp.getheaders():
            k = k.lower()
            out_headers[k] = (out_headers[k] + ", " + v) if k in out_headers else v
        # Every answer must be one http/openapi.json describes (CARTD_API_SCHEMA_CHECK=0: off).
        openapi_check.enforce(method, url, resp.status, out_headers, payload)
        parsed = None
        if payload and "json" in out_headers.get("content-type", ""):
            try:
                parsed = json.loads(payload)
            except ValueError:
                parsed = None
        return resp.status, out_headers, parsed, payload

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


# --------------------------------------------------------------------------------------------
# Server


class Server:
    """One cartd process with its own temporary data directory."""

    def __init__(self, env=None, start=True):
        if not os.path.exists(BIN):
            raise RuntimeError("cartd binary not found at %s (set CARTD_BIN)" % BIN)
        self.dir = tempfile.mkdtemp(prefix="cartd-api-")
        self.log_path = os.path.join(self.dir, "cartd.log")
        self.extra_env = {k: str(v) for k, v in (env or {}).items()}
        self.proc = None
        self.port = None
        self._log = None
        if start:
            self.start()

    def environment(self):
        e = dict(os.environ)
        e.update({
            "CARTD_HTTP_PORT": str(self.port),
            "CARTD_STORE_URL": "sqlite://%s/cartd.db" % self.dir,
            "CARTD_AUTH_JWT_SECRET": SECRET,
            "CARTD_HTTP_ACCESS_LOG": "false",
            # The suite drives single principals far beyond the default 200 req/s; nothing
            # here tests rate limiting. A test may turn it back on through `env`.
            "CARTD_RATE_LIMIT_ENABLED": "false",
        })
        e.update(self.extra_env)
        return e

    def start(self, timeout=30):
        assert self.proc is None, "already running"
        self.port = free_port()
        self._log = open(self.log_path, "ab")
        self._log.write(("\n==== cartd serve on port %d ====\n" % self.port).encode())
        self._log.flush()
        self.proc = subprocess.Popen([BIN, "serve"], cwd=self.dir, env=self.environment(),
                                     stdout=self._log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        _live_servers.append(self)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                code = self.proc.returncode
                self._reap()
                if "cannot listen" in self.log_tail() and getattr(self, "_port_retries", 0) < 3:
                    # Another test took the free port between our look and cartd's bind.
                    self._port_retries = getattr(self, "_port_retries", 0) + 1
                    return self.start(timeout)
                raise RuntimeError("cartd exited with %s at start:\n%s" % (code, self.log_tail()))
            c = Client(self.port, timeout=2, retry=False)
            try:
                status, _, _, _ = c.get("/health")
                if status == 200:
                    return
            except OSError:
                pass
            except http.client.HTTPException:
                pass
            finally:
                c.close()
            time.sleep(0.05)
        self.kill9()
        raise RuntimeError("cartd did not answer GET /api/v1/health with 200 within %ss:\n%s"
                           % (timeout, self.log_tail()))

    def _reap(self):
        self.proc = None
        if self in _live_servers:
            _live_servers.remove(self)
        if self._log is not None:
            self._log.close()
            self._log = None

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout=15):
        """SIGTERM; asserts that the process exits with 0 within `timeout` seconds."""
        if self.proc is None:
            return 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            self._reap()
            raise AssertionError("cartd did not exit within %ss of SIGTERM:\n%s"
                                 % (timeout, self.log_tail()))
        self._reap()
        if code != 0:
            raise AssertionError("cartd exited with %s on SIGTERM (expected 0):\n%s"
                                 % (code, self.log_tail()))
        return code

    def kill9(self):
        if self.proc is None:
            return
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=15)
        self._reap()

    def restart(self, kill=False):
        """Stop (SIGTERM, or kill -9 with kill=True) and start again on the same data dir.

        The new process gets a fresh port: make new clients afterwards."""
        if kill:
            self.kill9()
        else:
            self.stop()
        self.start()

    def cleanup(self):
        if os.environ.get("CARTD_TEST_KEEP") != "1":
            shutil.rmtree(self.dir, ignore_errors=True)

    def client(self, **kw):
        return Client(self.port, **kw)

    def log_tail(self, n=6000):
        try:
            with open(self.log_path, "rb") as f:
                data = f.read()
        except OSError:
            return "(no log)"
        return data[-n:].decode(errors="replace")


@atexit.register
def _kill_leftovers():
    for s in list(_live_servers):
        try:
            s.kill9()
        except Exception:
            pass


# One shared server per test module.
_module_servers = {}


def module_setup(module_name, env=None):
    _module_servers[module_name] = Server(env)


def module_teardown(module_name):
    s = _module_servers.pop(module_name, None)
    if s is not None:
        try:
            s.stop()
        finally:
            s.cleanup()


def module_server(module_name):
    s = _module_servers.get(module_name)
    if s is None:
        raise RuntimeError("no server for module %s (setUpModule missing?)" % module_name)
    return s


# --------------------------------------------------------------------------------------------
# Test base class and helpers


def put_product(client, product_id=None, variants=None, currency="USD", name="Tee",
                active=True, headers=None):
    """Upsert a product as admin; returns the product body (asserts 200/201)."""
    product_id = product_id or pid()
    if variants is None:
        variants = [{"id": "v-red", "sku": "TEE-R", "price": 1999, "stock": 10}]
    body = {"name": name, "currency": currency, "active": active, "variants": variants}
    st, _, prod, raw = client.put("/admin/products/" + product_id, body,
                                  headers=headers or admin())
    if st not in (200, 201):
        raise AssertionError("PUT /admin/products/%s answered %s: %r" % (product_id, st, raw))
    return prod


def create_session(client, headers=None, body=None):
    st, _, s, raw = client.post("/session", body if body is not None else {}, headers=headers)
    if st != 201:
        raise AssertionError("POST /session answered %s: %r" % (st, raw))
    return s


def new_session(client, headers=None):
    """POST /api/v1/session; returns the token (create_session() gives the whole body)."""
    return create_session(client, headers=headers)["token"]


def new_cart(client, headers, body=None):
    st, _, cart, raw = client.post("/cart", body if body is not None else {}, headers=headers)
    if st != 201:
        raise AssertionError("POST /cart answered %s: %r" % (st, raw))
    return cart


def add_item(client, cart_id, product_id, variant_id, quantity, headers, extra_headers=None):
    h = dict(headers)
    h.update(extra_headers or {})
    return client.post("/cart/%s/items" % cart_id,
                       {"productId": product_id, "variantId": variant_id, "quantity": quantity},
                       headers=h)


def expected_totals(lines, currency="USD"):
    """Totals for [(itemId, productId, variantId, quantity, unitPrice)], with no discounts,
    tax or shipping (the pricing issue is not implemented)."""
    out = []
    for item_id, p, v, q, price in lines:
        out.append({"itemId": item_id, "productId": p, "variantId": v, "quantity": q,
                    "unitPrice": price, "subtotal": q * price, "discount": 0, "tax": 0,
                    "total": q * price})
    sub = sum(q * price for _, _, _, q, price in lines)
    return {"currency": currency, "subtotal": sub, "discountTotal": 0, "taxTotal": 0,
            "shippingTotal": 0, "total": sub, "lines": out, "appliedDiscounts": [],
            "taxRate": None}


CART_KEYS = {"id", "userId", "sessionId", "status", "currency", "region", "discountCodes",
             "shippingMethod", "metadata", "items", "version", "createdAt", "updatedAt", "totals"}
ITEM_KEYS = {"id", "productId", "variantId", "name", "quantity", "unitPrice", "lineTotal",
             "addedAt"}
PROBLEM_KEYS = {"type", "title", "status", "code", "requestId"}


def is_uuid(s):
    try:
        uuid.UUID(str(s))
        return isinstance(s, str)
    except ValueError:
        return False


class ApiTest(unittest.TestCase):
    """Base class: `self.server`, `self.c` (a keep-alive client), assertion helpers."""

    server_env = None  # a dict: this class gets its own server with that extra environment
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        if cls.server_env is not None:
            cls.server = Server(cls.server_env)
            cls._own_server = True
        else:
            cls.server = module_server(cls.__module__)
            cls._own_server = False
        cls.c = cls.server.client()

    @classmethod
    def tearDownClass(cls):
        cls.c.close()
        if cls._own_server:
            try:
                cls.server.stop()
            finally:
                cls.server.cleanup()

    def run(self, result=None):
        before = (len(result.failures) + len(result.errors)) if result is not None else 0
        out = super().run(result)
        res = result if result is not None else out
        if res is not None and len(res.failures) + len(res.errors) > before:
            srv = getattr(self, "server", None)
            if srv is not None:
                sys.stderr.write("\n---- cartd log (%s) for %s ----\n%s\n---- end of log ----\n"
                                 % (srv.log_path, self.id(), srv.log_tail()))
        return out

    # -- helpers ---------------------------------------------------------------------------

    def user(self, prefix="user"):
        return new_user(prefix)

    def product(self, variants=None, currency="USD", name="Tee", active=True, product_id=None):
        return put_product(self.c, product_id=product_id, variants=variants, currency=currency,
                           name=name, active=active)

    def session(self, headers=None):
        """A new guest session: (token, session id)."""
        s = create_session(self.c, headers=headers)
        return s["token"], s["id"]

    def cart(self, headers, body=None):
        return new_cart(self.c, headers, body)

    def add(self, cart_id, product_id, variant_id, quantity, headers, **extra):
        return add_item(self.c, cart_id, product_id, variant_id, quantity, headers, extra or None)

    def get_cart(self, cart_id, headers):
        st, _, cart, raw = self.c.get("/cart/" + cart_id, headers=headers)
        self.assertEqual(st, 200, "GET /cart/%s: %r" % (cart_id, raw))
        return cart

    # -- assertions ------------------------------------------------------------------------

    def assertStatus(self, resp, status, what=""):
        st, _, _, raw = resp
        self.assertEqual(st, status, "%s: expected HTTP %s, got %s: %r" % (what, status, st, raw[:2000]))

    def assertProblem(self, resp, status, code, what="", replay=False):
        """An RFC 7807 error with the given status and code; returns the body.

        replay=True: an Idempotency-Key replay, whose body is the first answer's (so its
        requestId is the first request's, not necessarily this response's X-Request-Id)."""
        st, hdrs, body, raw = resp
        where = (what + ": ") if what else ""
        self.assertEqual(st, status, "%sexpected %s %s, got %s: %r" % (where, status, code, st, raw[:2000]))
        ctype = hdrs.get("content-type", "")
        self.assertTrue(ctype.startswith("application/problem+json"),
                        "%serror content-type is %r, not application/problem+json" % (where, ctype))
        self.assertIsInstance(body, dict, "%serror body is not a JSON object: %r" % (where, raw[:2000]))
        missing = PROBLEM_KEYS - set(body)
        self.assertFalse(missing, "%sproblem lacks %s: %r" % (where, sorted(missing), body))
        self.assertEqual(body["code"], code, "%swrong error code: %r" % (where, body))
        self.assertEqual(body["status"], status, "%sproblem status differs from HTTP status" % where)
        self.assertEqual(body["type"], "urn:cartd:error:" + code, "%sproblem type: %r" % (where, body))
        self.assertTrue(isinstance(body["title"], str) and body["title"], "%sempty title" % where)
        rid = hdrs.get("x-request-id")
        self.assertTrue(rid, "%serror response without X-Request-Id" % where)
        if not replay:
            self.assertEqual(body["requestId"], rid, "%srequestId differs from X-Request-Id" % where)
        if code == "validation_failed":
            errs = body.get("errors")
            self.assertTrue(isinstance(errs, list) and errs,
                            "%svalidation_failed without a non-empty errors[]: %r" % (where, body))
            for e in errs:
                self.assertIsInstance(e, dict, "%serrors[] entry is not an object" % where)
                self.assertIn("field", e, "%serrors[] entry without field: %r" % (where, e))
                self.assertIn("message", e, "%serrors[] entry without message: %r" % (where, e))
        return body

    def assertErrorField(self, problem, name):
        fields = [e.get("field") or "" for e in problem.get("errors", [])]
        self.assertTrue(any(name in f for f in fields),
                        "no errors[] entry names field %r: %r" % (name, problem.get("errors")))

    def assertTimestamp(self, value, what="timestamp"):
        self.assertIsInstance(value, str, "%s is not a string: %r" % (what, value))
        self.assertRegex(value, TS_RE, "%s is not RFC 3339 UTC with milliseconds" % what)

    def assertCart(self, cart, *, version, user_id=None, session_id=None, status="active",
                   currency="USD", region=None, lines=None, name="Tee", discount_codes=(),
                   shipping_method=None):
        """The whole cart body. `lines` are (productId, variantId, quantity, unitPrice[, name]);
        compared without regard to order. Item ids are checked for form only."""
        self.assertIsInstance(cart, dict, "cart body is not an object")
        missing = CART_KEYS - set(cart)
        self.assertFalse(missing, "cart lacks %s: %r" % (sorted(missing), cart))
        self.assertTrue(is_uuid(cart["id"]), "cart id is not a UUID: %r" % cart["id"])
        self.assertEqual(cart["userId"], user_id, "userId")
        self.assertEqual(cart["sessionId"], session_id, "sessionId")
        self.assertEqual(cart["status"], status, "status")
        self.assertEqual(cart["currency"], currency, "currency")
        self.assertEqual(cart["region"], region, "region")
        self.assertEqual(cart["discountCodes"], list(discount_codes), "discountCodes")
        self.assertEqual(cart["shippingMethod"], shipping_method, "shippingMethod")
        self.assertEqual(cart["version"], version, "version")
        self.assertTimestamp(cart["createdAt"], "createdAt")
        self.assertTimestamp(cart["updatedAt"], "updatedAt")
        self.assertLessEqual(cart["createdAt"], cart["updatedAt"], "updatedAt before createdAt")
        lines = lines or []
        want = []
        for ln in lines:
            p, v, q, price = ln[:4]
            nm = ln[4] if len(ln) > 4 else name
            want.append({"productId": p, "variantId": v, "name": nm, "quantity": q,
                         "unitPrice": price, "lineTotal": q * price})
        got = []
        for it in cart["items"]:
            miss = ITEM_KEYS - set(it)
            self.assertFalse(miss, "item lacks %s: %r" % (sorted(miss), it))
            self.assertTrue(is_uuid(it["id"]), "item id is not a UUID: %r" % it["id"])
            self.assertTimestamp(it["addedAt"], "addedAt")
            got.append({k: it[k] for k in ("productId", "variantId", "name", "quantity",
                                           "unitPrice", "lineTotal")})
        key = lambda d: (d["productId"], d["variantId"])
        self.assertEqual(sorted(got, key=key), sorted(want, key=key), "cart items")
        self.assertEqual(len({it["id"] for it in cart["items"]}), len(cart["items"]),
                         "item ids are not unique")
        exp = expected_totals([(it["id"], it["productId"], it["variantId"], it["quantity"],
                                it["unitPrice"]) for it in cart["items"]], currency)
        totals = dict(cart["totals"])
        exp_lines = sorted(exp.pop("lines"), key=lambda d: d["itemId"])
        got_lines = sorted(totals.pop("lines", []), key=lambda d: d.get("itemId", ""))
        self.assertEqual(got_lines, exp_lines, "totals.lines")
        for k, v in exp.items():
            self.assertIn(k, totals, "totals lacks %s" % k)
            self.assertEqual(totals[k], v, "totals.%s" % k)

    def assertETag(self, resp, version):
        self.assertEqual(resp[1].get("etag"), '"%d"' % version, "ETag of version %d" % version)
