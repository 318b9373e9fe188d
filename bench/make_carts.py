"""Creates N carts for a user (keep-alive, a few threads) and prints their ids."""
import http.client
import json
import sys
import threading

port, token, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
ids, lock = [], threading.Lock()


def work(count):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    for _ in range(count):
        conn.request("POST", "/api/v1/cart", body=b"{}", headers={
            "Authorization": "Bearer " + token, "Content-Type": "application/json"})
        resp = conn.getresponse()
        body = resp.read()
        if resp.status != 201:
            raise SystemExit("create cart: %d %s" % (resp.status, body[:200]))
        with lock:
            ids.append(json.loads(body)["id"])


threads = [threading.Thread(target=work, args=(n // 4 + (1 if i < n % 4 else 0),)) for i in range(4)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print("\n".join(ids))
