"""Helpers of bench/run-cluster.

  split SELF SEEDS IN LOCAL REMOTE   cart ids of IN owned by SELF (host:port) into LOCAL, the
                                     others into REMOTE (rendezvous over SEEDS, as cartd does)
  failover URL_A PORT_B PID_B TOKEN  a write stream through node A to a cart owned by node B;
                                     kill -9 B; prints seconds until the first acknowledged write
"""
import http.client
import json
import os
import signal
import sys
import time


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
    best, best_score = None, -1
    for m in sorted(live):
        score = mix(fnv1a(cart_id, fnv1a(m) ^ 0x9e3779b97f4a7c15))
        if score > best_score:
            best, best_score = m, score
    return best


def call(port, method, path, token, body=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        c.request(method, path, body=json.dumps(body).encode() if body is not None else None,
                  headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"})
        r = c.getresponse()
        return r.status, r.read()
    except OSError:
        return None, b""
    finally:
        c.close()


def main():
    if sys.argv[1] == "split":
        me, seeds, src, local, remote = sys.argv[2:7]
        live = seeds.split(",")
        with open(src) as f, open(local, "w") as l, open(remote, "w") as r:
            for line in f:
                cid = line.strip()
                if cid:
                    (l if owner_of(cid, live) == me else r).write(cid + "\n")
    elif sys.argv[1] == "failover":
        port_a, seeds, victim, pid, token = int(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5]), sys.argv[6]
        live = seeds.split(",")
        while True:
            st, body = call(port_a, "POST", "/api/v1/cart", token, {})
            if st != 201:
                sys.exit("failover: POST /cart answered %s: %s" % (st, body[:300]))
            cid = json.loads(body)["id"]
            if owner_of(cid, live) == victim:
                break
        item = {"productId": "bench-tee", "variantId": "v1", "quantity": 1}
        for _ in range(50):
            call(port_a, "POST", "/api/v1/cart/%s/items" % cid, token, item)
        os.kill(pid, signal.SIGKILL)
        t0 = time.time()
        while True:
            st, _ = call(port_a, "POST", "/api/v1/cart/%s/items" % cid, token, item)
            if st == 201:
                break
            time.sleep(0.005)
        print("%.3f" % (time.time() - t0))


main()
