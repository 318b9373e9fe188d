"""A fake payment provider for cartd's API tests (API.md, "Payments"). Standard library only.

Run:  python3 fake_payments.py --port 0 --api-key K --webhook-secret S
          [--webhook-url http://127.0.0.1:N/api/v1/payments/webhook] [--auto-confirm-after SECONDS]
It prints one line `LISTENING <port>`. /v1/... is the provider API (Bearer auth, Idempotency-Key
replays); /_control/... (no auth) switches modes, inspects calls and sends signed webhooks.
Tests normally use the FakePayments class at the bottom rather than the command line.
"""
import argparse
import hashlib
import hmac
import http.client
import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

MODES = ("normal", "slow", "failing", "down", "pending")
OUTCOME_EVENTS = {"authorized": "payment.authorized", "captured": "payment.captured",
                  "declined": "payment.declined", "voided": "payment.voided"}


def new_id(prefix):
    return prefix + "_" + uuid.uuid4().hex[:24]


def sign(secret, t, body):
    """The v1 hex: HMAC-SHA256(secret, b"<t>." + raw body)."""
    return hmac.new(secret.encode(), b"%d." % t + body, hashlib.sha256).hexdigest()


def dumps(obj):
    return json.dumps(obj, separators=(",", ":")).encode()


class State:
    """Everything the server knows; one lock guards it all (the work itself is quick)."""

    def __init__(self, args):
        self.lock = threading.Lock()
        self.api_key, self.secret = args.api_key, args.webhook_secret
        self.webhook_url, self.auto_confirm = args.webhook_url, args.auto_confirm_after
        self.mode, self.delay = "normal", 30.0
        self.calls, self.payments, self.refunds = [], {}, {}
        self.replays = {}  # (Idempotency-Key, path) -> (status, body bytes) of the first answer

    def send_webhook(self, event, secrets=None, timestamp=None, body_override=None, signature=False):
        """POSTs `event` signed with `secrets` (default: the configured one) to the webhook URL.
        `body_override` (str) is sent instead of the signed bytes; `signature` (str or None)
        replaces the Cartd-Signature header (None: no header). Returns status/body/error."""
        body = dumps(event)
        t = int(time.time()) if timestamp is None else int(timestamp)
        sigs = [sign(s, t, body) for s in ([self.secret] if secrets is None else secrets)]
        header = "t=%d" % t + "".join(",v1=" + h for h in sigs) if signature is False else signature
        sent = body if body_override is None else body_override.encode()
        out = {"event": event, "signature": header, "sentBody": sent.decode(errors="replace"),
               "status": None, "body": None}
        if not self.webhook_url:
            out["error"] = "no webhook URL configured"
            return out
        req = urllib.request.Request(self.webhook_url, data=sent, method="POST",
                                     headers={"Content-Type": "application/json"})
        if header is not None:
            req.add_header("Cartd-Signature", header)
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                out["status"], raw = resp.status, resp.read()
        except urllib.error.HTTPError as e:
            out["status"], raw = e.code, e.read()
        except OSError as e:
            out["error"], raw = str(e), b""
        try:
            out["body"] = json.loads(raw) if raw else None
        except ValueError:
            out["body"] = raw.decode(errors="replace")
        return out

    def confirm(self, payment_id, outcome, event_id=None, send=True, only_from=None):
        """Sets the payment's status to `outcome` and (if `send`) tells cartd by webhook."""
        with self.lock:
            p = self.payments.get(payment_id)
            if p is None or outcome not in OUTCOME_EVENTS or only_from not in (None, p["status"]):
                return None
            p["status"] = outcome
            if outcome == "captured" and not p["amountCaptured"]:
                p["amountCaptured"] = p["amount"]  # so that it can be refunded
            event = {"id": event_id or new_id("evt"), "type": OUTCOME_EVENTS[outcome],
                     "created": int(time.time()), "data": dict(p)}
        return self.send_webhook(event) if send else {"event": event, "status": None, "body": None}

    def schedule_auto_confirm(self, payment_id):
        timer = threading.Timer(self.auto_confirm, self.confirm, (payment_id, "authorized"),
                                {"only_from": "pending"})  # unless voided etc. meanwhile
        timer.daemon = True
        timer.start()


def err(status, code, message):
    return status, {"error": code, "message": message}


def is_amount(v):
    return isinstance(v, int) and not isinstance(v, bool) and v > 0


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as libcurl expects
    st = None  # the State, set in main()

    def log_message(self, *args):  # quiet: tests read stderr only for real errors
        pass

    def answer(self, status, obj):
        data = obj if isinstance(obj, bytes) else dumps(obj)
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except OSError:  # the client gave up (a timeout in slow mode): nothing to do
            self.close_connection = True

    def do_GET(self):
        url = urlsplit(self.path)
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode(errors="replace")  # kept as text; a POST then answers 400
        if url.path.startswith("/_control/"):
            return self.answer(*self.control(url.path[len("/_control/"):], body))
        if not url.path.startswith("/v1/"):
            return self.answer(*err(404, "not_found", "no such route"))
        st = self.st
        key = self.headers.get("Idempotency-Key")
        with st.lock:
            st.calls.append({"method": self.command, "path": self.path, "idempotencyKey": key,
                             "body": body, "authorization": self.headers.get("Authorization"),
                             "contentType": self.headers.get("Content-Type"),
                             "traceparent": self.headers.get("traceparent")})
            mode, delay = st.mode, st.delay
        if mode == "slow":
            time.sleep(delay)  # this thread only; other requests go on
        if mode == "down":  # hang up without an answer: curl sees an empty reply
            self.close_connection = True
            return
        if mode == "failing":
            return self.answer(*err(503, "unavailable", "failing mode"))
        if self.headers.get("Authorization") != "Bearer " + st.api_key:
            return self.answer(*err(401, "unauthorized", "missing or wrong API key"))
        if self.command == "GET":
            with st.lock:
                return self.answer(*self.v1(url, body))
        if (self.headers.get("Content-Type") or "").split(";")[0].strip() != "application/json":
            return self.answer(*err(415, "unsupported_media_type", "Content-Type must be application/json"))
        if not key:
            return self.answer(*err(400, "invalid_request", "Idempotency-Key header required"))
        with st.lock:  # check, work and record at once: two racing retries still charge once
            replay = st.replays.get((key, url.path))
            if replay is None:
                status, obj = self.v1(url, body)
                replay = (status, dumps(obj))
                if status < 500:
                    st.replays[(key, url.path)] = replay
        self.answer(*replay)

    def v1(self, url, body):
        """The provider API proper; called with the lock held."""
        st, path = self.st, url.path.rstrip("/")
        if path == "/v1/payments":
            if self.command == "GET":
                ref = parse_qs(url.query).get("reference", [None])[0]
                return 200, {"items": [p for p in st.payments.values() if p["reference"] == ref]}
            return self.create_payment(body)
        m = re.fullmatch(r"/v1/payments/([^/]+)(?:/(capture|void|refunds))?", path)
        if m and self.command == "GET" and not m.group(2):  # GET /v1/payments/{id}: an extra
            p = st.payments.get(m.group(1))
            return (200, p) if p else err(404, "not_found", "no such payment")
        if not m or self.command != "POST" or not m.group(2):
            return err(404 if not m else 405, "not_found", "no such route")
        p = st.payments.get(m.group(1))
        if p is None:
            return err(404, "not_found", "no such payment")
        if not isinstance(body, dict):
            return err(400, "invalid_request", "body must be a JSON object")
        amount, action = body.get("amount"), m.group(2)
        if action == "capture":
            if p["status"] == "captured":
                return 200, p
            if p["status"] != "authorized":
                return err(409, "invalid_state", "cannot capture a %s payment" % p["status"])
            if amount is not None and (not is_amount(amount) or amount > p["amount"]):
                return err(400, "invalid_request", "bad capture amount")
            p["status"], p["amountCaptured"] = "captured", amount or p["amount"]
            return 200, p
        if action == "void":
            if p["status"] in ("authorized", "pending"):
                p["status"] = "voided"
            if p["status"] != "voided":
                return err(409, "invalid_state", "cannot void a %s payment" % p["status"])
            return 200, p
        if p["status"] != "captured":
            return err(409, "invalid_state", "cannot refund a %s payment" % p["status"])
        left = p["amountCaptured"] - p["amountRefunded"]
        if not is_amount(amount) or amount > left:
            return err(400, "invalid_request", "refund amount must be 1..%d" % left)
        p["amountRefunded"] += amount
        if p["amountRefunded"] == p["amountCaptured"]:
            p["status"] = "refunded"
        refund = {"id": new_id("re"), "paymentId": p["id"], "amount": amount, "status": "succeeded"}
        st.refunds[refund["id"]] = refund
        return 201, refund

    def create_payment(self, body):
        st = self.st
        b = body if isinstance(body, dict) else {}
        if not (is_amount(b.get("amount")) and isinstance(b.get("currency"), str)
                and re.fullmatch(r"[A-Za-z]{3}", b["currency"]) and isinstance(b.get("token"), str)
                and isinstance(b.get("reference"), str) and b["reference"]):
            return err(400, "invalid_request", "need amount (>0), currency (3 letters), token, reference")
        status = {"tok_visa": "authorized", "tok_declined": "declined", "tok_pending": "pending"}.get(b["token"])
        if status is None:
            return err(400, "invalid_request", "unknown token")
        if status == "authorized" and st.mode == "pending":
            status = "pending"
        p = {"id": new_id("pay"), "status": status, "amount": b["amount"], "currency": b["currency"],
             "reference": b["reference"], "amountCaptured": 0, "amountRefunded": 0}
        st.payments[p["id"]] = p
        if status == "pending" and st.auto_confirm is not None:
            st.schedule_auto_confirm(p["id"])
        return 201, p

    def control(self, name, body):
        st, b = self.st, body if isinstance(body, dict) else {}
        if self.command == "GET" and name in ("calls", "payments"):
            with st.lock:  # copies, made under the lock
                if name == "calls":
                    return 200, json.loads(dumps({"items": st.calls}))
                return 200, json.loads(dumps({"items": list(st.payments.values()),
                                              "refunds": list(st.refunds.values())}))
        if self.command != "POST":
            return err(405, "method_not_allowed", "POST")
        if name == "mode":
            if b.get("mode") not in MODES:
                return err(400, "invalid_request", "mode must be one of %s" % ", ".join(MODES))
            with st.lock:
                d = b.get("delaySeconds")
                st.mode, st.delay = b["mode"], 30.0 if d is None else float(d)
            return 200, {"mode": st.mode, "delaySeconds": st.delay}
        if name == "reset":
            with st.lock:
                st.calls.clear()
            return 200, {}
        if name == "config":
            with st.lock:
                st.webhook_url = b.get("webhookUrl", st.webhook_url)
                st.auto_confirm = b.get("autoConfirmAfter", st.auto_confirm)
            return 200, {"webhookUrl": st.webhook_url, "autoConfirmAfter": st.auto_confirm}
        if name == "confirm":
            out = st.confirm(b.get("paymentId"), b.get("outcome"), b.get("eventId"), b.get("send", True))
            return (200, out) if out else err(404, "not_found", "unknown paymentId or outcome")
        if name == "webhook":
            if not isinstance(b.get("event"), dict):
                return err(400, "invalid_request", "event (object) required")
            return 200, st.send_webhook(b["event"], b.get("secrets"), b.get("timestamp"),
                                        b.get("bodyOverride"), b.get("signature", False))
        return err(404, "not_found", "no such control")

    do_POST = do_GET


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--api-key", required=True)
    ap.add_argument("--webhook-url")
    ap.add_argument("--webhook-secret", required=True)
    ap.add_argument("--auto-confirm-after", type=float)
    args = ap.parse_args()
    Handler.st = State(args)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True  # a sleeping slow-mode call never delays exit
    print("LISTENING %d" % server.server_address[1], flush=True)
    server.serve_forever()


class FakePayments:
    """The fake as a subprocess, for tests: start(), point cartd at .url (see cartd_env()),
    drive it with the control helpers, stop()."""

    def __init__(self, api_key, webhook_secret, webhook_url=None, auto_confirm_after=None):
        self.api_key, self.webhook_secret = api_key, webhook_secret
        self.webhook_url, self.auto_confirm_after = webhook_url, auto_confirm_after
        self.proc, self.port, self.url = None, None, None

    def start(self):
        cmd = [sys.executable, os.path.abspath(__file__), "--port", "0",
               "--api-key", self.api_key, "--webhook-secret", self.webhook_secret]
        if self.webhook_url:
            cmd += ["--webhook-url", self.webhook_url]
        if self.auto_confirm_after is not None:
            cmd += ["--auto-confirm-after", str(self.auto_confirm_after)]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline().split()
        if len(line) != 2 or line[0] != "LISTENING":
            self.proc.kill()
            raise RuntimeError("fake_payments did not start: %r" % line)
        self.port = int(line[1])
        self.url = "http://127.0.0.1:%d" % self.port
        return self

    def cartd_env(self):
        """Environment for cartd's Server(**env) to use this provider."""
        return {"CARTD_PAYMENTS_PROVIDER": "http", "CARTD_PAYMENTS_URL": self.url,
                "CARTD_PAYMENTS_API_KEY": self.api_key,
                "CARTD_PAYMENTS_WEBHOOK_SECRET": self.webhook_secret}

    def _control(self, method, name, body=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request(method, "/_control/" + name, body=None if body is None else dumps(body),
                         headers={"Content-Type": "application/json"})
            resp = conn.getresponse()
            out = json.loads(resp.read() or b"null")
            if resp.status != 200:
                raise RuntimeError("/_control/%s: %d %r" % (name, resp.status, out))
            return out
        finally:
            conn.close()

    def set_mode(self, mode, delay=None):
        return self._control("POST", "mode", {"mode": mode, "delaySeconds": delay})

    def calls(self):
        return self._control("GET", "calls")["items"]

    def reset(self):
        self._control("POST", "reset", {})

    def payments(self):
        return self._control("GET", "payments")["items"]

    def refunds(self):
        return self._control("GET", "payments")["refunds"]

    def confirm(self, payment_id, outcome, event_id=None, send=True):
        """Returns {"event", "status" (cartd's answer or None), "body", "error"?}."""
        return self._control("POST", "confirm", {"paymentId": payment_id, "outcome": outcome,
                                                 "eventId": event_id, "send": send})

    def send_webhook(self, event, secrets=None, timestamp=None, body_override=None, signature=False):
        """`signature`: False = sign properly, None = send no header, str = this exact header.
        Returns {"event", "signature", "sentBody", "status" (cartd's), "body", "error"?}."""
        body = {"event": event, "secrets": secrets, "timestamp": timestamp, "bodyOverride": body_override}
        if signature is not False:
            body["signature"] = signature
        return self._control("POST", "webhook", body)

    def set_webhook_url(self, url):
        self.webhook_url = url
        return self._control("POST", "config", {"webhookUrl": url})

    def stop(self):
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
            self.proc.stdout.close()
            self.proc = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


if __name__ == "__main__":
    main()
