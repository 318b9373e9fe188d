#!/usr/bin/env bash
# Shared pieces of the benchmark scripts: start cartd, load a catalog and carts, run wrk.
BIN="${CARTD_BIN:-build/cartd}"
DURATION="${BENCH_DURATION:-10s}"
CONNS="${BENCH_CONNECTIONS:-64}"
CARTS="${BENCH_CARTS:-1000}"
BENCH_TMP=$(mktemp -d)
CARTD_PID=""

bench_cleanup() { bench_stop; rm -rf "$BENCH_TMP"; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# bench_start STORE_URL [ENV=VALUE...]: starts cartd, waits for health, sets URL.
bench_start() {
  local store="$1"; shift
  local port; port=$(free_port)
  env CARTD_HTTP_PORT="$port" CARTD_STORE_URL="$store" CARTD_AUTH_JWT_SECRET=bench-secret-0123456789 \
      CARTD_HTTP_ACCESS_LOG=false CARTD_CART_IDLE_TIMEOUT=1h CARTD_RATE_LIMIT_ENABLED=false \
      CARTD_CART_MAX_ACTIVE_CARTS=0 "$@" \
      "$BIN" serve > "$BENCH_TMP/cartd-$port.log" 2>&1 &
  CARTD_PID=$!
  URL="http://127.0.0.1:$port"
  PORT=$port
  for _ in $(seq 1 100); do curl -sf "$URL/api/v1/health" >/dev/null && return 0; sleep 0.1; done
  echo "cartd did not start:"; cat "$BENCH_TMP/cartd-$port.log"; return 1
}

bench_stop() {
  [ -n "$CARTD_PID" ] && kill -TERM "$CARTD_PID" 2>/dev/null && wait "$CARTD_PID" 2>/dev/null
  CARTD_PID=""
}

# bench_data: a product with 5 variants and $CARTS carts of one user; exports TOKEN, CART_IDS.
bench_data() {
  export TOKEN; TOKEN=$(CARTD_AUTH_JWT_SECRET=bench-secret-0123456789 "$BIN" token --sub bench-user)
  local admin; admin=$(CARTD_AUTH_JWT_SECRET=bench-secret-0123456789 "$BIN" token --sub bench-admin --role admin)
  local variants=""
  for v in 1 2 3 4 5; do variants="$variants{\"id\":\"v$v\",\"sku\":\"T$v\",\"price\":1999,\"stock\":1000000000},"; done
  curl -sf -X PUT "$URL/api/v1/admin/products/bench-tee" -H "Authorization: Bearer $admin" \
    -H 'Content-Type: application/json' \
    -d "{\"name\":\"Tee\",\"currency\":\"USD\",\"active\":true,\"variants\":[${variants%,}]}" >/dev/null
  export CART_IDS="$BENCH_TMP/carts-$PORT.txt"
  python3 bench/make_carts.py "$PORT" "$TOKEN" "$CARTS" > "$CART_IDS"
}

# cpu_ticks: user + system CPU time of the cartd process so far, in clock ticks (/proc/PID/stat
# fields 14 and 15; the name field holds no space for cartd).
# With CARTD_PIDS set (a cluster: every node's pid), the sum over those processes: a forwarded
# request costs CPU on the node that took it and on the owner.
cpu_ticks() {
  local p t=0
  for p in ${CARTD_PIDS:-$CARTD_PID}; do
    t=$((t + $(awk '{ print $14 + $15 }' "/proc/$p/stat")))
  done
  echo "$t"
}
CLK_TCK=$(getconf CLK_TCK)

# bench_wrk NAME CONNECTIONS SCRIPT PATH: prints "NAME req/s p50_ms p99_ms non2xx cpu_us", where
# cpu_us is the server's CPU time (utime + stime of cartd over the run) per request served: the
# figure that stays put on a noisy shared machine, where req/s and latency do not.
bench_wrk() {
  local out t=2 c0 c1
  [ "$2" -ge 2 ] || t=1
  c0=$(cpu_ticks)
  if [ -n "$3" ]; then
    out=$(wrk -t$t -c"$2" -d"$DURATION" --latency -s "$3" "$URL$4")
  else
    out=$(wrk -t$t -c"$2" -d"$DURATION" --latency "$URL$4")
  fi
  c1=$(cpu_ticks)
  echo "$out" > "$BENCH_TMP/$1.wrk"
  awk -v name="$1" -v ticks="$((c1 - c0))" -v hz="$CLK_TCK" '
    function ms(v) { if (v ~ /us$/) return v/1000; if (v ~ /ms$/) return v+0; if (v ~ /s$/) return v*1000; return v }
    /^ +50%/ { p50 = ms($2) } /^ +99%/ { p99 = ms($2) }
    /requests in/ { n = $1 }
    /Requests\/sec/ { rps = $2 } /Non-2xx/ { bad = $NF }
    END { printf "%s %.0f %.2f %.2f %d %.1f\n", name, rps, p50, p99, bad + 0, (n > 0 ? ticks / hz * 1e6 / n : 0) }' <<< "$out"
}

bench_table() {
  printf '%-24s %10s %9s %9s %8s %12s\n' scenario req/s p50_ms p99_ms non2xx cpu_us/req
  for r in "$@"; do printf '%-24s %10s %9s %9s %8s %12s\n' $r; done
}

# journey_data: 3 products with huge stock, and $CONNS user tokens in $TOKENS.
journey_data() {
  local admin; admin=$(CARTD_AUTH_JWT_SECRET=bench-secret-0123456789 "$BIN" token --sub bench-admin --role admin)
  local p price=(0 1999 2499 999)
  for p in 1 2 3; do
    curl -sf -X PUT "$URL/api/v1/admin/products/journey-p$p" -H "Authorization: Bearer $admin" \
      -H 'Content-Type: application/json' \
      -d "{\"name\":\"Product $p\",\"currency\":\"USD\",\"active\":true,\"variants\":[{\"id\":\"v1\",\"sku\":\"J$p\",\"price\":${price[$p]},\"stock\":100000000}]}" \
      >/dev/null || { echo "could not create product journey-p$p"; return 1; }
  done
  TOKENS="$BENCH_TMP/tokens-$PORT.txt"
  : > "$TOKENS"
  local i
  for i in $(seq 1 "$CONNS"); do
    CARTD_AUTH_JWT_SECRET=bench-secret-0123456789 "$BIN" token --sub "shopper-$i" --ttl 1h >> "$TOKENS"
  done
}
