"""A cluster of three cartd processes on loopback sharing one PostgreSQL (issue 11): any node
serves any cart, parallel writes through every node sum exactly, and kill -9, SIGSTOP/SIGCONT,
a partition (disjoint seeds) and a restart on the same address lose no acknowledged write."""
import json
import os
import signal
import subprocess
import threading
import time
import unittest
import uuid

import cartd_api
from cartd_api import ADMIN, Client, Server, new_user, put_product, free_port

ADDRESS = {"name": "Ada", "line1": "1 Main St", "city": "Springfield", "postalCode": "12345",
           "country": "US"}

# Detection bound of these tests: heartbeats every 100 ms, a peer silent for 600 ms is down.
CLUSTER_ENV = {
    "CARTD_CLUSTER_HEARTBEAT_INTERVAL": "100ms",
    "CARTD_CLUSTER_CONNECTION_TIMEOUT": "600ms",
    "CARTD_CLUSTER_CONNECT_TIMEOUT": "500ms",
    "CARTD_CLUSTER_FORWARD_TIMEOUT": "1500ms",
    "CARTD_CLUSTER_GOSSIP_INTERVAL": "200ms",
    "CARTD_CLUSTER_JOIN_TIMEOUT": "3s",
}


def fnv1a(data, h=1469598103934665603):
    for c in data.encode():
        h ^= c
        h = (h * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    return h


def mix(x):
    x ^= x >> 30
    x = (x * 0xbf58476d1ce4e5b9) & 0xFFFFFFFFFFFFFFFF
    x ^= x >> 27
    x = (x * 0x94d049bb133111eb) & 0xFFFFFFFFFFFFFFFF
    return x ^ (x >> 31)


def owner_of(cart_id, live):
    """The rendezvous choice cartd makes (actors/cluster.cpp), to aim at an owner from outside."""
    best, best_score = None, -1
    for m in sorted(live):
        score = mix(fnv1a(cart_id, fnv1a(m) ^ 0x9e3779b97f4a7c15))
        if score > best_score:
            best, best_score = m, score
    return best


class Node(Server):
    def __init__(self, address, seeds, store, **env):
        self.address = address
        e = dict(CLUSTER_ENV)
        e.update({"CARTD_CLUSTER_NODE": address, "CARTD_CLUSTER_SEEDS": ",".join(seeds),
                  "CARTD_STORE_URL": store})
        e.update(env)
        super().__init__(**e)

    def health(self):
        st, _, body, _ = Client(self.port).get("/health/detailed")
        return body["components"]["cluster"]

    def members_up(self):
        return self.health()["membersUp"]


def wait_for(pred, timeout=20, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if pred():
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise AssertionError("timed out waiting for " + what)


def cluster_addresses(n):
    return ["127.0.0.1:%d" % free_port() for _ in range(n)]


def start_cluster(n=3, **env):
    store = cartd_api.store_url(os.environ.get("TMPDIR", "/tmp"))
    addrs = cluster_addresses(n)
    nodes = [Node(a, addrs, store, **env) for a in addrs]
    for node in nodes:
        wait_for(lambda: node.members_up() == n, what="%s to see %d members" % (node.address, n))
    return nodes, store


def add(client, cart_id, user, pid, qty=1, key=None):
    headers = dict(user)
    if key:
        headers["Idempotency-Key"] = key
    return client.post("/cart/%s/items" % cart_id, {"productId": pid, "variantId": "v", "quantity": qty},
                       headers=headers)


def quantity(cart):
    return sum(i["quantity"] for i in cart["items"])


@unittest.skipUnless(cartd_api.STORE == "postgresql", "a cluster shares PostgreSQL only")
class ThreeNodesTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.nodes, cls.store = start_cluster(3)

    @classmethod
    def tearDownClass(cls):
        for n in cls.nodes:
            if n.proc:
                assert n.stop() == 0, n.read_log()

    def test_ready_and_members_in_health(self):
        for n in self.nodes:
            st, _, body, _ = n.client().get("/health/ready")
            self.assertEqual(st, 200, body)
            h = n.health()
            self.assertEqual(h["status"], "ok")
            self.assertTrue(h["joined"])
            self.assertEqual(sorted(m["address"] for m in h["members"]),
                             sorted(x.address for x in self.nodes))
            self.assertTrue(all(m["state"] == "up" for m in h["members"]))
        st, _, _, raw = self.nodes[0].client().get("/metrics", base=False)
        text = raw.decode()
        for name in ("cartd_cluster_members{state=\"up\"} 3", "cartd_cluster_forwarded_total",
                     "cartd_cluster_forward_seconds", "cartd_cluster_rehomed_carts_total",
                     "cartd_cluster_joined 1"):
            self.assertIn(name, text)

    def test_a_cart_made_on_one_node_is_read_and_changed_on_the_others(self):
        pid = put_product(self.nodes[0].client(), [{"id": "v", "sku": "S", "price": 250, "stock": 1000}])
        user = new_user()
        for first in range(3):
            st, hdrs, cart, raw = self.nodes[first].client().post("/cart", {"currency": "USD"}, headers=user)
            self.assertEqual(st, 201, raw)
            self.assertEqual(hdrs["location"], "/api/v1/cart/" + cart["id"])
            for i, n in enumerate(self.nodes):
                st, hdrs, got, raw = add(n.client(), cart["id"], user, pid, qty=1)
                self.assertEqual(st, 201, raw)
                self.assertIn("/items/", hdrs["location"])
            etags = set()
            for n in self.nodes:
                st, hdrs, got, raw = n.client().get("/cart/" + cart["id"], headers=user)
                self.assertEqual(st, 200, raw)
                self.assertEqual(quantity(got), 3)
                etags.add(hdrs["etag"])
                # Conditional reads and foreign callers answer the same through every node.
                st, _, _, _ = n.client().get("/cart/" + cart["id"], headers=dict(user, **{"If-None-Match": hdrs["etag"]}))
                self.assertEqual(st, 304)
                st, _, p, _ = n.client().get("/cart/" + cart["id"], headers=new_user())
                self.assertEqual(st, 404)
                self.assertEqual(p["code"], "not_found")
                st, _, p, _ = n.client().get("/cart/%s/totals" % cart["id"], headers=user)
                self.assertEqual(st, 200)
                self.assertEqual(p["subtotal"], 750)
            self.assertEqual(len(etags), 1)
        # At least one of these requests was forwarded somewhere.
        forwarded = sum(n.health()["forwarded"] for n in self.nodes)
        self.assertGreater(forwarded, 0)

    def test_idempotency_key_replays_through_another_node(self):
        pid = put_product(self.nodes[0].client(), [{"id": "v", "sku": "S", "price": 250, "stock": 1000}])
        user = new_user()
        _, _, cart, _ = self.nodes[0].client().post("/cart", {}, headers=user)
        key = uuid.uuid4().hex
        first = add(self.nodes[1].client(), cart["id"], user, pid, qty=2, key=key)
        self.assertEqual(first[0], 201, first[3])
        for n in self.nodes:
            again = add(n.client(), cart["id"], user, pid, qty=2, key=key)
            self.assertEqual(again[0], 201)
            self.assertEqual(again[1].get("idempotent-replayed"), "true")
            self.assertEqual(again[3], first[3])
        _, _, got, _ = self.nodes[2].client().get("/cart/" + cart["id"], headers=user)
        self.assertEqual(quantity(got), 2)

    def test_parallel_adds_through_all_nodes_sum_exactly(self):
        pid = put_product(self.nodes[0].client(), [{"id": "v", "sku": "S", "price": 100, "stock": 100000}])
        user = new_user()
        _, _, cart, _ = self.nodes[0].client().post("/cart", {}, headers=user)
        acked = []
        lock = threading.Lock()

        def worker(node):
            c = node.client()
            for _ in range(40):
                st, _, _, _ = add(c, cart["id"], user, pid)
                if st == 201:
                    with lock:
                        acked.append(1)

        threads = [threading.Thread(target=worker, args=(n,)) for n in self.nodes for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(len(acked), 240)
        for n in self.nodes:
            _, _, got, _ = n.client().get("/cart/" + cart["id"], headers=user)
            self.assertEqual(quantity(got), 240)

    def test_a_checkout_session_lives_with_its_cart_owner(self):
        live = [n.address for n in self.nodes]
        pid = put_product(self.nodes[0].client(), [{"id": "v", "sku": "S", "price": 700, "stock": 50}])
        for k in range(3):
            user = new_user()
            _, _, cart, _ = self.nodes[k].client().post("/cart", {}, headers=user)
            self.assertEqual(add(self.nodes[k].client(), cart["id"], user, pid, qty=2)[0], 201)
            owner = owner_of(cart["id"], live)
            opener = self.nodes[(k + 1) % 3]
            st, hdrs, s, raw = opener.client().post(
                "/checkout/session", {"cartId": cart["id"], "shippingAddress": ADDRESS}, headers=user)
            self.assertEqual(st, 201, raw)
            self.assertEqual(hdrs["location"], "/api/v1/checkout/session/" + s["id"])
            self.assertEqual(owner_of(s["id"], live), owner)
            bodies = set()
            for n in self.nodes:
                st, _, got, raw = n.client().get("/checkout/session/" + s["id"], headers=user)
                self.assertEqual(st, 200, raw)
                bodies.add(raw)
                st, _, p, _ = n.client().get("/checkout/session/" + s["id"], headers=new_user())
                self.assertEqual(st, 404)
            self.assertEqual(len(bodies), 1)
            payer = self.nodes[(k + 2) % 3]
            st, hdrs, order, raw = payer.client().post(
                "/checkout/process", {"sessionId": s["id"], "payment": {"method": "card", "token": "tok_visa"}},
                headers=user)
            self.assertEqual(st, 201, raw)
            self.assertEqual(order["subtotal"], 1400)
            st, _, again, _ = opener.client().post(
                "/checkout/process", {"sessionId": s["id"], "payment": {"method": "card", "token": "tok_visa"}},
                headers=user)
            self.assertEqual((st, again["id"]), (200, order["id"]))

    def test_checkout_race_across_three_nodes(self):
        pid = put_product(self.nodes[0].client(), [{"id": "v", "sku": "S", "price": 500, "stock": 4}])
        shoppers = []
        for i in range(12):
            node = self.nodes[i % 3]
            c = node.client()
            user = new_user()
            _, _, cart, _ = c.post("/cart", {}, headers=user)
            st, _, _, raw = add(c, cart["id"], user, pid)
            self.assertEqual(st, 201, raw)
            shoppers.append((node, user, cart))
        results = [None] * len(shoppers)

        def buy(i):
            node, user, cart = shoppers[i]
            c = self.nodes[(i + 1) % 3].client()
            st, _, s, _ = c.post("/checkout/session", {"cartId": cart["id"], "shippingAddress": ADDRESS}, headers=user)
            if st != 201:
                results[i] = ("session", st, s.get("code") if s else None)
                return
            outcomes = []

            def process(n):
                st, _, o, _ = n.client().post("/checkout/process",
                                              {"sessionId": s["id"], "payment": {"method": "card", "token": "tok_visa"}},
                                              headers=user)
                outcomes.append((st, o.get("id") if o and st == 201 else None))

            ts = [threading.Thread(target=process, args=(n,)) for n in self.nodes]
            for t in ts:
                t.start()
            for t in ts:
                t.join()
            orders = {oid for st, oid in outcomes if st in (200, 201) and oid}
            results[i] = ("order", len(orders), None)

        threads = [threading.Thread(target=buy, args=(i,)) for i in range(len(shoppers))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        sold = [r for r in results if r and r[0] == "order" and r[1] >= 1]
        self.assertTrue(all(r[1] <= 1 for r in sold), results)
        self.assertLessEqual(len(sold), 4, results)
        refused = [r for r in results if r == ("session", 409, "insufficient_stock")]
        self.assertEqual(len(sold) + len(refused), 12, results)
        _, _, p, _ = self.nodes[2].client().get("/products/" + pid)
        self.assertEqual(p["variants"][0]["stock"], 4 - len(sold))
        self.assertEqual(len(sold), 4, results)


class WriteStream:
    """Adds one unit at a time to one cart through the given nodes, round robin, and keeps every
    acknowledged add (201). 503s (the owner went silent) are retried with the same key."""

    def __init__(self, nodes, cart_id, user, pid):
        self.nodes, self.cart_id, self.user, self.pid = nodes, cart_id, user, pid
        self.acked = 0
        self.answers = {}
        self.stop = threading.Event()
        self.first_ack_after = {}
        self.thread = threading.Thread(target=self.run)

    def run(self):
        i = 0
        while not self.stop.is_set():
            node = self.nodes[i % len(self.nodes)]
            i += 1
            key = uuid.uuid4().hex
            for _ in range(40):
                try:
                    st, _, _, _ = add(Client(node.port), self.cart_id, self.user, self.pid, key=key)
                except OSError:
                    st = None
                self.answers[st] = self.answers.get(st, 0) + 1
                if st == 201:
                    self.acked += 1
                    break
                if st not in (503, 409, None):
                    raise AssertionError("unexpected answer %s" % st)
                time.sleep(0.05)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *a):
        self.stop.set()
        self.thread.join(timeout=60)


@unittest.skipUnless(cartd_api.STORE == "postgresql", "a cluster shares PostgreSQL only")
class FailureTest(unittest.TestCase):
    def setUp(self):
        # Short checkout sessions, looked at often: a re-homed session's expiry is observable.
        self.nodes, self.store = start_cluster(3, CARTD_CHECKOUT_SESSION_TTL="2s",
                                               CARTD_CHECKOUT_RECONCILE_INTERVAL="200ms")

    def tearDown(self):
        for n in self.nodes:
            if n.proc:
                try:
                    n.proc.send_signal(signal.SIGCONT)
                except Exception:
                    pass
                n.stop()

    def cart_owned_by(self, victim, user):
        live = [n.address for n in self.nodes]
        for _ in range(200):
            _, _, cart, _ = self.nodes[0].client().post("/cart", {}, headers=user)
            if owner_of(cart["id"], live) == victim.address:
                return cart
        raise AssertionError("no cart hashed to " + victim.address)

    def survivors(self, victim):
        return [n for n in self.nodes if n is not victim]

    def test_kill9_of_the_owner_during_writes_loses_nothing(self):
        pid = put_product(self.nodes[0].client(), [{"id": "v", "sku": "S", "price": 100, "stock": 100000}])
        victim = self.nodes[2]
        user = new_user()
        cart = self.cart_owned_by(victim, user)
        with WriteStream(self.survivors(victim), cart["id"], user, pid) as ws:
            wait_for(lambda: ws.acked >= 20, what="writes before the kill")
            victim.kill9()
            killed_at, before = time.time(), ws.acked
            wait_for(lambda: ws.acked >= before + 1, what="a write acknowledged after the kill")
            failover = time.time() - killed_at
            wait_for(lambda: ws.acked >= before + 20, what="writes after the kill")
        print("failover (kill -9 to first acknowledged write on a survivor): %.3f s" % failover)
        for n in self.survivors(victim):
            wait_for(lambda: n.members_up() == 2, what="the dead member to be down")
            _, _, got, _ = n.client().get("/cart/" + cart["id"], headers=user)
            self.assertEqual(quantity(got), ws.acked, ws.answers)

    def test_sigstop_then_sigcont_of_the_owner_never_overwrites(self):
        pid = put_product(self.nodes[0].client(), [{"id": "v", "sku": "S", "price": 100, "stock": 100000}])
        victim = self.nodes[1]
        user = new_user()
        cart = self.cart_owned_by(victim, user)
        # The victim holds the cart live (it served these).
        for _ in range(5):
            self.assertEqual(add(victim.client(), cart["id"], user, pid)[0], 201)
        with WriteStream(self.survivors(victim), cart["id"], user, pid) as ws:
            wait_for(lambda: ws.acked >= 10, what="writes before the freeze")
            victim.proc.send_signal(signal.SIGSTOP)
            before = ws.acked
            wait_for(lambda: ws.acked >= before + 20, timeout=30, what="writes while frozen")
            for n in self.survivors(victim):
                wait_for(lambda: n.members_up() == 2, what="the frozen member to be down")
            victim.proc.send_signal(signal.SIGCONT)
            # The woken node still holds its old copy; writes through it must not go over the
            # new owner's.
            through_victim = 0
            for _ in range(10):
                st, _, _, raw = add(victim.client(), cart["id"], user, pid, key=uuid.uuid4().hex)
                self.assertIn(st, (201, 409, 503), raw)
                if st == 201:
                    through_victim += 1
            wait_for(lambda: ws.acked >= before + 30, what="writes after the wake-up")
        total = ws.acked + 5 + through_victim
        for n in self.nodes:
            wait_for(lambda: n.members_up() == 3, timeout=30, what="the woken member to rejoin")
        for n in self.nodes:
            _, _, got, _ = n.client().get("/cart/" + cart["id"], headers=user)
            self.assertEqual(quantity(got), total, ws.answers)

    def test_a_checkout_session_of_a_dead_owner_still_expires(self):
        pid = put_product(self.nodes[0].client(), [{"id": "v", "sku": "S", "price": 100, "stock": 5}])
        victim = self.nodes[2]
        user = new_user()
        cart = self.cart_owned_by(victim, user)
        self.assertEqual(add(victim.client(), cart["id"], user, pid, qty=2)[0], 201)
        st, _, s, raw = victim.client().post("/checkout/session", {"cartId": cart["id"], "shippingAddress": ADDRESS},
                                             headers=user)
        self.assertEqual(st, 201, raw)
        _, _, p, _ = self.nodes[0].client().get("/products/" + pid)
        self.assertEqual(p["variants"][0]["available"], 3)
        victim.kill9()
        survivor = self.nodes[0]
        wait_for(lambda: survivor.client().get("/checkout/session/" + s["id"], headers=user)[2]["status"] == "expired",
                 timeout=30, what="the session to expire on a survivor")
        _, _, p, _ = survivor.client().get("/products/" + pid)
        self.assertEqual(p["variants"][0]["available"], 5)
        st, _, problem, _ = survivor.client().post(
            "/checkout/process", {"sessionId": s["id"], "payment": {"method": "card", "token": "tok_visa"}},
            headers=user)
        self.assertEqual((st, problem["code"]), (409, "session_expired"))

    def test_restart_on_the_same_address_rejoins_and_takes_back_its_share(self):
        victim = self.nodes[0]
        victim.kill9()
        for n in self.survivors(victim):
            wait_for(lambda: n.members_up() == 2, what="the dead member to be down")
        victim.start()
        for n in self.nodes:
            wait_for(lambda: n.members_up() == 3, timeout=30, what="the restarted member to be back")
        pid = put_product(self.nodes[1].client(), [{"id": "v", "sku": "S", "price": 100, "stock": 1000}])
        user = new_user()
        cart = self.cart_owned_by(victim, user)
        before = victim.health()["servedForOthers"]
        self.assertEqual(add(self.nodes[1].client(), cart["id"], user, pid)[0], 201)
        self.assertGreater(victim.health()["servedForOthers"], before)
        incs = {m["address"]: m.get("incarnation") for m in self.nodes[1].health()["members"]}
        self.assertTrue(incs[victim.address])


@unittest.skipUnless(cartd_api.STORE == "postgresql", "a cluster shares PostgreSQL only")
class PartitionTest(unittest.TestCase):
    def test_disjoint_seed_lists_lose_no_write(self):
        store = cartd_api.store_url("/tmp")
        a_addr, b_addr = cluster_addresses(2)
        a = Node(a_addr, [a_addr], store)
        b = Node(b_addr, [b_addr], store)
        try:
            for n in (a, b):
                wait_for(lambda: n.client().get("/health/ready")[0] == 200, what="ready alone")
                self.assertEqual(n.members_up(), 1)
            pid = put_product(a.client(), [{"id": "v", "sku": "S", "price": 100, "stock": 100000}])
            user = new_user()
            _, _, cart, _ = a.client().post("/cart", {}, headers=user)
            counts = {"ok": 0}
            lock = threading.Lock()

            def worker(node):
                c = node.client()
                for _ in range(60):
                    st, _, _, raw = add(c, cart["id"], user, pid)
                    self.assertIn(st, (201, 409), raw)
                    if st == 201:
                        with lock:
                            counts["ok"] += 1

            ts = [threading.Thread(target=worker, args=(n,)) for n in (a, b, a, b)]
            for t in ts:
                t.start()
            for t in ts:
                t.join()
            # Both believe they own the cart; the store's version condition kept every
            # acknowledged add (a refused one answered 409 and was not acknowledged).
            got = None
            for n in (a, b):
                # A write through each reloads a stale copy; then both read the same.
                st, _, got, _ = add(n.client(), cart["id"], user, pid)
                self.assertEqual(st, 201)
                counts["ok"] += 1
            _, _, got_a, _ = a.client().get("/cart/" + cart["id"], headers=user)
            _, _, got_b, _ = b.client().get("/cart/" + cart["id"], headers=user)
            self.assertEqual(max(quantity(got_a), quantity(got_b)), counts["ok"])
            self.assertGreater(counts["ok"], 120)
        finally:
            a.stop()
            b.stop()


def make_ca(directory, name):
    """A CA and one certificate it signed, made with the openssl command line."""
    def run(*args):
        subprocess.run(["openssl"] + list(args), check=True, capture_output=True, cwd=directory)
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=%s-ca" % name,
        "-keyout", "%s-ca.key" % name, "-out", "%s-ca.pem" % name)
    run("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=%s-node" % name,
        "-keyout", "%s-node.key" % name, "-out", "%s-node.csr" % name)
    run("x509", "-req", "-in", "%s-node.csr" % name, "-CA", "%s-ca.pem" % name, "-CAkey",
        "%s-ca.key" % name, "-CAcreateserial", "-days", "2", "-out", "%s-node.pem" % name)
    p = lambda f: os.path.join(directory, f)
    return {"CARTD_CLUSTER_TLS_CERTIFICATE": p("%s-node.pem" % name),
            "CARTD_CLUSTER_TLS_KEY": p("%s-node.key" % name),
            "CARTD_CLUSTER_TLS_CAFILE": p("%s-ca.pem" % name)}


@unittest.skipUnless(cartd_api.STORE == "postgresql", "a cluster shares PostgreSQL only")
class TlsTest(unittest.TestCase):
    def test_nodes_of_one_ca_cluster_and_a_peer_without_its_certificate_is_refused(self):
        import tempfile
        d = tempfile.mkdtemp(prefix="cartd-tls-")
        good = make_ca(d, "cluster")
        rogue_certs = make_ca(d, "rogue")
        store = cartd_api.store_url(d)
        a_addr, b_addr, r_addr, p_addr = cluster_addresses(4)
        a = Node(a_addr, [a_addr, b_addr], store, **good)
        b = Node(b_addr, [a_addr, b_addr], store, **good)
        rogue = plain = None
        try:
            for n in (a, b):
                wait_for(lambda: n.members_up() == 2, what="the TLS members to see each other")
            # Traffic crosses the TLS link: a cart owned by b, made and changed through a.
            user = new_user()
            pid = put_product(a.client(), [{"id": "v", "sku": "S", "price": 100, "stock": 100}])
            for _ in range(100):
                _, _, cart, _ = a.client().post("/cart", {}, headers=user)
                if owner_of(cart["id"], [a_addr, b_addr]) == b_addr:
                    break
            self.assertEqual(add(a.client(), cart["id"], user, pid)[0], 201)
            self.assertGreater(b.health()["servedForOthers"], 0)
            # A node with a certificate of another CA, and one without TLS, both seeded with a and
            # retrying their join: refused every time, and the members' own link never drops (a
            # refused handshake once left OpenSSL's error queue dirty on a's middleman thread and
            # the next quiet read on the a-b link failed: 12 membership changes in 8 s).
            changes = {n.address: n.health()["membershipChanges"] for n in (a, b)}
            rogue = Node(r_addr, [a_addr], store, CARTD_CLUSTER_JOIN_TIMEOUT="1s", **rogue_certs)
            plain = Node(p_addr, [a_addr], store, CARTD_CLUSTER_JOIN_TIMEOUT="1s")
            time.sleep(4)
            for outsider in (rogue, plain):
                h = outsider.health()
                self.assertEqual(h["membersUp"], 1, h)
            for n in (a, b):
                h = n.health()
                self.assertEqual(h["membersUp"], 2, h)
                self.assertEqual(sorted(m["address"] for m in h["members"]), sorted([a_addr, b_addr]))
                self.assertEqual(h["membershipChanges"], changes[n.address], (h, n.read_log()))
        finally:
            for n in (a, b, rogue, plain):
                if n:
                    n.stop()

    def test_half_a_tls_configuration_is_refused(self):
        import tempfile
        d = tempfile.mkdtemp(prefix="cartd-tls-")
        good = make_ca(d, "cluster")
        env = dict(os.environ, CARTD_STORE_URL="postgresql://u@127.0.0.1:1/x",
                   CARTD_CLUSTER_NODE="127.0.0.1:%d" % free_port(),
                   CARTD_CLUSTER_TLS_CERTIFICATE=good["CARTD_CLUSTER_TLS_CERTIFICATE"],
                   CARTD_CLUSTER_TLS_KEY=good["CARTD_CLUSTER_TLS_KEY"])
        p = subprocess.run([cartd_api.BIN, "serve"], env=env, capture_output=True, timeout=30)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn(b"set all three or none", p.stderr)


class RefusalTest(unittest.TestCase):
    def test_sqlite_refuses_cluster_settings(self):
        env = dict(os.environ, CARTD_STORE_URL="sqlite:///tmp/cartd-cluster-refused.db",
                   CARTD_CLUSTER_NODE="127.0.0.1:%d" % free_port(), CARTD_HTTP_PORT=str(free_port()))
        p = subprocess.run([cartd_api.BIN, "serve"], env=env, capture_output=True, timeout=30)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn(b"needs a PostgreSQL store.url", p.stderr)

    def test_seeds_without_a_node_and_bad_addresses_are_refused(self):
        for extra, text in (({"CARTD_CLUSTER_SEEDS": "127.0.0.1:7001"}, b"needs cluster.node"),
                            ({"CARTD_CLUSTER_NODE": "localhost"}, b"must be HOST:PORT"),
                            ({"CARTD_CLUSTER_NODE": "127.0.0.1:7001", "CARTD_CLUSTER_SEEDS": "a:1,b"},
                             b"comma-separated list of HOST:PORT")):
            env = dict(os.environ, CARTD_STORE_URL="postgresql://u@127.0.0.1:1/x", **extra)
            p = subprocess.run([cartd_api.BIN, "serve"], env=env, capture_output=True, timeout=30)
            self.assertEqual(p.returncode, 2, p.stderr)
            self.assertIn(text, p.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
