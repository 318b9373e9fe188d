/* cartd operator dashboard, served as /dashboard/app.js.
 *
 * Polls /dashboard/data once a second (same origin: the browser sends the operator's
 * credentials; this file knows no token), keeps five minutes of derived series in memory and
 * draws them with uPlot. Counters become rates and histograms become mean and p99 over a
 * trailing window of WINDOW_S seconds, from the difference between two snapshots.
 *
 * No framework, no build step: the file is embedded in cartd as it is. The page runs under
 * `script-src 'self'; style-src 'self'`, so nothing here writes a style attribute or HTML
 * markup; text goes in with textContent (route labels can carry a client's path).
 *
 * For tests: window.cartdDashboard = {polls, errors, lastError, series} and
 * document.body.dataset.polls, both updated after every successful poll.
 */
"use strict";

(() => {
  const POLL_MS = 1000;
  const FETCH_TIMEOUT_MS = 5000;
  const HISTORY_S = 300; // series kept client-side
  const WINDOW_S = 5; // rates and quantiles over this trailing window
  const TOP_ROUTES = 6; // lines on the per-route charts
  const MAX_ROUTE_ROWS = 30;
  const CHART_HEIGHT = 200;
  const PALETTE = ["#2563eb", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#ca8a04", "#db2777", "#4b5563"];
  const ERROR_COLOR = "#c62828";

  // ---- reading the metrics object defensively ----------------------------------------------
  // metrics: {"<family>": {type, samples: [{labels, value} | {labels, count, sum, buckets}]}}.
  // Any part may be missing or of another shape; such parts read as absent, never throw.

  const num = (v) => (typeof v === "number" && Number.isFinite(v) ? v : null);
  const label = (s, key) => (s && s.labels && s.labels[key] != null ? String(s.labels[key]) : "");
  const seriesKey = (labels) => JSON.stringify(Object.entries(labels || {}).sort());

  function samplesOf(metrics, name) {
    const f = metrics && metrics[name];
    return f && Array.isArray(f.samples) ? f.samples.filter((s) => s && typeof s === "object") : [];
  }

  /** Sum of a counter's or gauge's samples; null when the family is absent. */
  function total(metrics, name) {
    const ss = samplesOf(metrics, name);
    return ss.length ? ss.reduce((a, s) => a + (num(s.value) || 0), 0) : null;
  }

  /** A counter's or gauge's values summed by one label: Map(label value -> sum). */
  function byLabel(metrics, name, key) {
    const out = new Map();
    for (const s of samplesOf(metrics, name)) {
      const k = label(s, key);
      out.set(k, (out.get(k) || 0) + (num(s.value) || 0));
    }
    return out;
  }

  /** A histogram sample as {count, sum, buckets: [{le, count}] by ascending le}, or null. */
  function hist(s) {
    if (num(s.count) === null) return null;
    const buckets = (Array.isArray(s.buckets) ? s.buckets : [])
      .map((b) => ({ le: num(b && b.le), count: num(b && b.count) }))
      .filter((b) => b.le !== null && b.count !== null)
      .sort((a, b) => a.le - b.le);
    return { count: s.count, sum: num(s.sum) || 0, buckets };
  }

  /** Adds histogram b into a (bucket counts added per bound). */
  function mergeInto(a, b) {
    if (!b) return a;
    if (!a) return { count: b.count, sum: b.sum, buckets: b.buckets.map((x) => ({ ...x })) };
    const at = new Map(a.buckets.map((x) => [x.le, x]));
    for (const x of b.buckets) {
      if (at.has(x.le)) at.get(x.le).count += x.count;
      else a.buckets.push({ ...x });
    }
    a.buckets.sort((x, y) => x.le - y.le);
    a.count += b.count;
    a.sum += b.sum;
    return a;
  }

  // ---- differences between two snapshots -------------------------------------------------
  // Taken per labelled series, so that a series which went down (the process restarted)
  // counts from zero instead of giving a negative rate, and one that appeared counts whole.

  /** [{labels, d}] for each series of a counter family: its increase since `prev`. */
  function counterDeltas(cur, prev, name) {
    const before = new Map(samplesOf(prev, name).map((s) => [seriesKey(s.labels), num(s.value)]));
    return samplesOf(cur, name).map((s) => {
      const c = num(s.value) || 0;
      const p = before.get(seriesKey(s.labels));
      return { labels: s.labels || {}, d: p == null || c < p ? c : c - p };
    });
  }

  /** [{labels, h}] for each series of a histogram family: its observations since `prev`. */
  function histDeltas(cur, prev, name) {
    const before = new Map();
    for (const s of samplesOf(prev, name)) before.set(seriesKey(s.labels), hist(s));
    const out = [];
    for (const s of samplesOf(cur, name)) {
      const c = hist(s);
      if (!c) continue;
      const p = before.get(seriesKey(s.labels));
      if (!p || c.count < p.count) {
        out.push({ labels: s.labels || {}, h: c });
        continue;
      }
      const pb = new Map(p.buckets.map((b) => [b.le, b.count]));
      const buckets = c.buckets.map((b) => ({ le: b.le, count: Math.max(0, b.count - (pb.get(b.le) || 0)) }));
      out.push({ labels: s.labels || {}, h: { count: c.count - p.count, sum: c.sum - p.sum, buckets } });
    }
    return out;
  }

  /** Groups deltas by one label (or all together with key null), adding them up. */
  function groupHists(deltas, key) {
    const out = new Map();
    for (const { labels, h } of deltas) {
      const k = key ? label({ labels }, key) : "";
      out.set(k, mergeInto(out.get(k), h));
    }
    return out;
  }

  /**
   * The q-quantile of a histogram, as Prometheus' histogram_quantile computes it: linear
   * within the bucket holding the rank (the first bucket starts at 0); a rank beyond the last
   * finite bound (the +Inf bucket, which the JSON omits) gives that bound. Null when empty.
   */
  function quantile(q, h) {
    if (!h || !(h.count > 0) || !h.buckets.length) return null;
    const rank = q * h.count;
    let lower = 0;
    let below = 0;
    for (const b of h.buckets) {
      if (b.count >= rank) {
        const inside = b.count - below;
        return inside > 0 ? lower + (b.le - lower) * ((rank - below) / inside) : b.le;
      }
      lower = b.le;
      below = b.count;
    }
    return h.buckets[h.buckets.length - 1].le;
  }

  const mean = (h) => (h && h.count > 0 ? h.sum / h.count : null);
  const toMs = (s) => (s == null ? null : s * 1000);

  // ---- one poll's derived figures -------------------------------------------------------

  // Each derive* function reads one area from the context `x`: x.m the current metrics, x.b
  // the base metrics (null on the first poll: no rates yet), x.perS(d) a rate over the window;
  // it writes series points into x.values (flat, by series name) and table rows into x.now.

  function deriveActors(x) {
    const { m, b, values } = x;
    for (const [kind, v] of byLabel(m, "cartd_actors_live", "kind")) values[`live.${kind}`] = v;
    for (const [kind, v] of byLabel(m, "cartd_actor_mailbox_depth", "kind")) values[`mailbox.${kind}`] = v;
    values["outbox.waiting"] = total(m, "cartd_outbox_waiting");
    if (!b) return;
    for (const [kind, h] of groupHists(histDeltas(m, b, "cartd_actor_message_seconds"), "kind")) {
      values[`message.mean.${kind}`] = toMs(mean(h));
      values[`message.p99.${kind}`] = toMs(quantile(0.99, h));
    }
    const batch = groupHists(histDeltas(m, b, "cartd_snapshot_batch_size"), null).get("");
    values["batch.mean"] = mean(batch);
    values["batch.p99"] = quantile(0.99, batch);
    const commit = groupHists(histDeltas(m, b, "cartd_snapshot_commit_seconds"), null).get("");
    values["commit.mean"] = toMs(mean(commit));
    values["commit.p99"] = toMs(quantile(0.99, commit));
  }

  /** Requests by route: lifetime totals always, window figures once there is a base. */
  function deriveRequests(x) {
    const { m, b, perS, values, now } = x;
    const routeOf = (name) =>
      now.routes.get(name) || now.routes.set(name, { route: name, total: 0, n: 0, n5: 0, n4: 0 }).get(name);
    for (const s of samplesOf(m, "cartd_http_requests_total"))
      routeOf(label(s, "route")).total += num(s.value) || 0;
    if (!b) return;
    let all = 0;
    let errors = 0;
    for (const { labels, d } of counterDeltas(m, b, "cartd_http_requests_total")) {
      const r = routeOf(label({ labels }, "route"));
      const status = Number(label({ labels }, "status"));
      r.n += d;
      all += d;
      if (status >= 500) {
        r.n5 += d;
        errors += d;
      } else if (status >= 400) {
        r.n4 += d;
      }
    }
    const latency = histDeltas(m, b, "cartd_http_request_duration_seconds");
    for (const [name, h] of groupHists(latency, "route")) {
      const r = routeOf(name);
      r.mean = toMs(mean(h));
      r.p99 = toMs(quantile(0.99, h));
    }
    for (const r of now.routes.values()) {
      r.rate = perS(r.n);
      r.rate5 = perS(r.n5);
      r.rate4 = perS(r.n4);
      r.errorPct = r.n > 0 ? (100 * r.n5) / r.n : null;
      values[`route.rate.${r.route}`] = r.rate;
      values[`route.p99.${r.route}`] = r.p99;
    }
    values["requests.rate"] = perS(all);
    values["requests.errors"] = perS(errors);
    values["requests.p99"] = toMs(quantile(0.99, groupHists(latency, null).get("")));
  }

  /** Bulkheads: gauges now, rejections as a rate. */
  function deriveBulkheads(x) {
    const { m, b, perS, values, now } = x;
    const poolOf = (name) => now.pools.get(name) || now.pools.set(name, { pool: name }).get(name);
    for (const [pool, v] of byLabel(m, "cartd_bulkhead_in_flight", "pool")) poolOf(pool).inFlight = v;
    for (const [pool, v] of byLabel(m, "cartd_bulkhead_queued", "pool")) poolOf(pool).queued = v;
    for (const [pool, v] of byLabel(m, "cartd_bulkhead_rejected_total", "pool")) poolOf(pool).rejected = v;
    if (b) {
      for (const { labels, d } of counterDeltas(m, b, "cartd_bulkhead_rejected_total")) {
        const p = poolOf(label({ labels }, "pool"));
        p.rejectedRate = (p.rejectedRate || 0) + perS(d);
      }
    }
    for (const p of now.pools.values()) {
      values[`bulkhead.inFlight.${p.pool}`] = p.inFlight;
      values[`bulkhead.queued.${p.pool}`] = p.queued;
    }
  }

  /** Forwarding between nodes: the families exist only on a node in a cluster. */
  function deriveCluster(x) {
    const { m, b, perS, now } = x;
    if (!b || !samplesOf(m, "cartd_cluster_forwarded_total").length) return;
    let answered = 0;
    let lost = 0;
    for (const { labels, d } of counterDeltas(m, b, "cartd_cluster_forwarded_total")) {
      if (label({ labels }, "outcome") === "answered") answered += d;
      else lost += d;
    }
    now.forwarded = perS(answered);
    now.forwardFailed = perS(lost);
    now.forwardP99 = toMs(
      quantile(0.99, groupHists(histDeltas(m, b, "cartd_cluster_forward_seconds"), null).get("")),
    );
  }

  /** Business figures as rates: per minute reads better than per second at shop volumes. */
  function deriveBusiness(x) {
    const { m, b, perS, values } = x;
    if (!b) return;
    const perMin = (name) => perS(counterDeltas(m, b, name).reduce((a, c) => a + c.d, 0)) * 60;
    values["business.carts"] = perMin("cartd_carts_created_total");
    values["business.started"] = perMin("cartd_checkouts_started_total");
    values["business.completed"] = perMin("cartd_checkouts_completed_total");
  }

  /**
   * From the current snapshot and the one WINDOW_S earlier (base, null on the first poll):
   * `values` (one entry per series point) and `now` (what the tables show).
   */
  function derive(cur, base) {
    const dt = base ? cur.t - base.t : 0;
    const b = dt > 0 ? base.m : null;
    const x = {
      m: cur.m,
      b,
      perS: (d) => (b ? d / dt : null),
      values: {},
      now: { routes: new Map(), pools: new Map() },
    };
    for (const area of [deriveActors, deriveRequests, deriveBulkheads, deriveCluster, deriveBusiness])
      area(x);
    return { values: x.values, now: x.now };
  }

  // ---- history: snapshots for the window, derived series for five minutes -----------------

  class History {
    constructor() {
      this.t = []; // seconds since the epoch (server time), one per successful poll
      this.cols = new Map(); // series name -> values aligned with t (null: no value then)
      this.snaps = []; // recent raw snapshots {t, m}, just enough to span WINDOW_S
    }

    /** The snapshot to difference against: the oldest within WINDOW_S, else the newest. */
    base(t) {
      const inWindow = this.snaps.find((s) => s.t >= t - WINDOW_S - 0.25 && s.t < t);
      return inWindow || this.snaps[this.snaps.length - 1] || null;
    }

    add(snap, values) {
      const n = this.t.length;
      this.t.push(snap.t);
      for (const [k, v] of Object.entries(values)) {
        if (!this.cols.has(k)) this.cols.set(k, new Array(n).fill(null));
        this.cols.get(k).push(v == null || !Number.isFinite(v) ? null : v);
      }
      for (const col of this.cols.values()) if (col.length === n) col.push(null);
      this.prune(snap.t - HISTORY_S);
      this.snaps.push(snap);
      while (this.snaps.length > 1 && this.snaps[1].t < snap.t - WINDOW_S - 1) this.snaps.shift();
    }

    prune(cut) {
      let drop = 0;
      while (drop < this.t.length && this.t[drop] < cut) drop++;
      if (!drop) return;
      this.t.splice(0, drop);
      for (const [k, col] of this.cols) {
        col.splice(0, drop);
        if (col.every((v) => v === null)) this.cols.delete(k); // a route or pool gone quiet
      }
    }

    col(name) {
      return this.cols.get(name) || new Array(this.t.length).fill(null);
    }

    names(prefix) {
      return [...this.cols.keys()].filter((k) => k.startsWith(prefix)).map((k) => k.slice(prefix.length));
    }

    latest(name) {
      const col = this.cols.get(name);
      return col && col.length ? col[col.length - 1] : null;
    }

    /** The series as a plain object, for tests and the console. */
    asObject() {
      return Object.fromEntries([["t", this.t], ...this.cols]);
    }
  }

  // ---- formatting ---------------------------------------------------------------------

  function fmtNum(v) {
    if (v == null || !Number.isFinite(v)) return "–";
    const a = Math.abs(v);
    if (a >= 1e6) return `${(v / 1e6).toFixed(1)}M`;
    if (a >= 1e4) return `${(v / 1e3).toFixed(1)}k`;
    if (a >= 100 || Number.isInteger(v)) return String(Math.round(v));
    return v.toFixed(a >= 10 ? 1 : 2);
  }

  function fmtMs(v) {
    if (v == null || !Number.isFinite(v)) return "–";
    if (v >= 1000) return `${(v / 1000).toFixed(2)} s`;
    return `${v.toFixed(v >= 100 ? 0 : v >= 10 ? 1 : 2)} ms`;
  }

  const fmtRate = (v) => (v == null ? "–" : `${fmtNum(v)}/s`);
  const fmtPct = (v) => (v == null || !Number.isFinite(v) ? "–" : `${v.toFixed(1)} %`);
  const fmtMoney = (minor) =>
    minor == null
      ? "–"
      : (minor / 100).toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  const shortRoute = (r) => (r.startsWith("/api/v1/") ? r.slice(7) : r);

  function fmtDuration(s) {
    if (s == null || !Number.isFinite(s)) return "–";
    const d = Math.floor(s / 86400);
    const h = Math.floor((s % 86400) / 3600);
    const m = Math.floor((s % 3600) / 60);
    if (d) return `${d}d ${h}h`;
    if (h) return `${h}h ${m}m`;
    return m ? `${m}m ${Math.floor(s % 60)}s` : `${Math.floor(s)}s`;
  }

  const UNITS = {
    count: { axis: fmtNum, value: fmtNum },
    rate: { axis: fmtNum, value: fmtRate },
    perMin: { axis: fmtNum, value: (v) => (v == null ? "–" : `${fmtNum(v)}/min`) },
    ms: { axis: fmtMs, value: fmtMs },
  };

  // ---- charts -------------------------------------------------------------------------

  /**
   * One uPlot time-series chart in a .chart element. Its lines can change (a route appears);
   * uPlot's series are fixed per instance, so a changed set of lines builds a new one.
   */
  class Chart {
    constructor(el, unit) {
      this.el = el;
      this.unit = UNITS[unit];
      this.plot = null;
      this.signature = "";
      this.colors = new Map(); // line label -> colour, kept across rebuilds
      new ResizeObserver(() => this.plot && this.plot.setSize(this.size())).observe(el);
    }

    size() {
      return { width: Math.max(200, this.el.clientWidth), height: CHART_HEIGHT };
    }

    colorOf(line) {
      if (line.color) return line.color;
      if (!this.colors.has(line.label))
        this.colors.set(line.label, PALETTE[this.colors.size % PALETTE.length]);
      return this.colors.get(line.label);
    }

    /** lines: [{label, values, color?, dash?}], values aligned with t. */
    update(t, lines) {
      const signature = lines.map((l) => l.label).join("\n");
      if (!this.plot || signature !== this.signature) this.build(lines, signature);
      this.plot.setData([t, ...lines.map((l) => l.values)]);
    }

    build(lines, signature) {
      if (this.plot) this.plot.destroy();
      this.signature = signature;
      const unit = this.unit;
      const grid = { stroke: "#eceef2", width: 1 };
      const opts = {
        ...this.size(),
        title: this.el.dataset.title || "",
        scales: {
          x: { time: true },
          // From zero: these are all amounts; an empty chart still gets a scale.
          y: { range: (u, min, max) => [0, max > 0 ? max * 1.1 : 1] },
        },
        series: [
          {},
          ...lines.map((l) => ({
            label: l.label,
            stroke: this.colorOf(l),
            width: 1.5,
            dash: l.dash,
            points: { show: false },
            value: (u, v) => unit.value(v),
          })),
        ],
        axes: [
          { stroke: "#6b7280", grid, ticks: grid },
          { stroke: "#6b7280", grid, ticks: grid, size: 64, values: (u, ticks) => ticks.map(unit.axis) },
        ],
        cursor: { drag: { x: false, y: false } },
      };
      this.plot = new uPlot(opts, [[], ...lines.map(() => [])], this.el);
    }
  }

  // ---- the page -------------------------------------------------------------------------

  const $ = (id) => document.getElementById(id);

  /** Sets a figure's text, and its raw number as data-value (read by the tests). */
  function setFigure(id, value, text) {
    const el = $(id);
    if (!el) return;
    el.textContent = text;
    el.dataset.value = value == null || !Number.isFinite(value) ? "" : String(value);
  }

  function badge(text, cls) {
    const span = document.createElement("span");
    span.className = `badge ${cls}`;
    span.textContent = text;
    return span;
  }

  /** Replaces a table body: rows of cells, a cell being text or {text|node, cls}. */
  function fillTable(id, rows, emptyText, decorate) {
    const tbody = document.querySelector(`#${id} tbody`);
    const cols = document.querySelectorAll(`#${id} thead th`).length;
    const trs = rows.map((cells, i) => {
      const tr = document.createElement("tr");
      for (const c of cells) {
        const td = document.createElement("td");
        const cell = typeof c === "object" && c !== null ? c : { text: c };
        if (cell.node) td.append(cell.node);
        else td.textContent = cell.text == null ? "–" : String(cell.text);
        if (cell.cls) td.className = cell.cls;
        tr.append(td);
      }
      if (decorate) decorate(tr, i);
      return tr;
    });
    if (!trs.length) {
      const tr = document.createElement("tr");
      tr.className = "empty";
      const td = document.createElement("td");
      td.colSpan = cols;
      td.textContent = emptyText;
      tr.append(td);
      trs.push(tr);
    }
    tbody.replaceChildren(...trs);
  }

  const obj = (v) => (v && typeof v === "object" && !Array.isArray(v) ? v : {});
  const stateClass = (s) =>
    ({
      ok: "ok",
      up: "ok",
      closed: "ok",
      degraded: "warn",
      joining: "warn",
      half_open: "warn",
      "half-open": "warn",
    })[s] || (s === "down" || s === "open" || s === "full" ? "bad" : "");

  function renderHeader(data, health) {
    $("node").textContent = data.node || health.node || "?";
    $("version").textContent = data.version || health.version || "?";
    $("uptime").textContent = fmtDuration(num(data.uptimeSeconds) ?? num(health.uptimeSeconds));
    const status = typeof health.status === "string" ? health.status : "unknown";
    const el = $("health-status");
    el.textContent = status;
    el.className = `badge ${stateClass(status)}`;
    $("updated").textContent = new Date().toLocaleTimeString();
  }

  function renderTiles(h) {
    const sumOf = (prefix) => h.names(prefix).reduce((a, k) => a + (h.latest(prefix + k) || 0), 0);
    setFigure("now-carts", h.latest("live.cart"), fmtNum(h.latest("live.cart")));
    setFigure("now-checkouts", h.latest("live.checkout"), fmtNum(h.latest("live.checkout")));
    setFigure("now-rps", h.latest("requests.rate"), fmtNum(h.latest("requests.rate")));
    const errors = h.latest("requests.errors");
    setFigure("now-errors", errors, fmtNum(errors));
    $("now-errors").classList.toggle("bad", errors > 0);
    setFigure("now-p99", h.latest("requests.p99"), fmtMs(h.latest("requests.p99")));
    setFigure("now-mailbox", sumOf("mailbox."), fmtNum(sumOf("mailbox.")));
    setFigure("now-outbox", h.latest("outbox.waiting"), fmtNum(h.latest("outbox.waiting")));
  }

  function renderBusiness(m) {
    const created = total(m, "cartd_carts_created_total");
    const started = total(m, "cartd_checkouts_started_total");
    const completed = total(m, "cartd_checkouts_completed_total");
    setFigure("biz-carts-created", created, fmtNum(created));
    setFigure("biz-checkouts-started", started, fmtNum(started));
    setFigure("biz-checkouts-completed", completed, fmtNum(completed));
    const conversion = started > 0 ? (100 * (completed || 0)) / started : null;
    setFigure("biz-conversion", conversion, fmtPct(conversion));
    // Order totals are in minor units of their currency; shown as major units, no symbol
    // (orders in several currencies share the one histogram).
    let orders = null;
    for (const s of samplesOf(m, "cartd_order_value")) orders = mergeInto(orders, hist(s));
    const avgMinor = mean(orders);
    setFigure("biz-avg-order", avgMinor == null ? null : avgMinor / 100, fmtMoney(avgMinor));
    const abandoned = total(m, "cartd_carts_abandoned");
    setFigure("biz-abandoned", abandoned, fmtNum(abandoned));
  }

  /** The routes most requested since start, for the charts (stable between polls). */
  function topRoutes(now) {
    return [...now.routes.values()]
      .sort((a, b) => b.total - a.total)
      .slice(0, TOP_ROUTES)
      .map((r) => r.route);
  }

  function renderRoutes(now) {
    const rows = [...now.routes.values()]
      .sort((a, b) => (b.rate || 0) - (a.rate || 0) || b.total - a.total)
      .slice(0, MAX_ROUTE_ROWS);
    fillTable(
      "routes-table",
      rows.map((r) => [
        { text: r.route, cls: "route" },
        { text: fmtNum(r.rate), cls: "num" },
        { text: fmtNum(r.rate5), cls: r.rate5 > 0 ? "num bad" : "num" },
        { text: fmtNum(r.rate4), cls: "num" },
        { text: fmtPct(r.errorPct), cls: r.errorPct > 0 ? "num bad" : "num" },
        { text: fmtMs(r.mean), cls: "num" },
        { text: fmtMs(r.p99), cls: "num" },
        { text: fmtNum(r.total), cls: "num" },
      ]),
      "no requests yet",
      (tr, i) => (tr.dataset.route = rows[i].route),
    );
  }

  function renderBulkheads(now, health) {
    const fromHealth = obj(obj(health.components).bulkheads);
    const names = new Set([...now.pools.keys(), ...Object.keys(fromHealth)]);
    const rows = [...names].sort().map((name) => {
      const p = now.pools.get(name) || {};
      const hb = obj(fromHealth[name]);
      return [
        name,
        { text: fmtNum(num(hb.workers)), cls: "num" },
        { text: fmtNum(p.inFlight ?? num(hb.inFlight)), cls: "num" },
        { text: fmtNum(p.queued ?? num(hb.queued)), cls: "num" },
        { text: fmtNum(num(hb.queueMax)), cls: "num" },
        { text: fmtNum(p.rejectedRate), cls: p.rejectedRate > 0 ? "num bad" : "num" },
        { text: fmtNum(p.rejected ?? num(hb.rejected)), cls: "num" },
      ];
    });
    fillTable("bulkheads-table", rows, "no bulkheads");
  }

  function renderBreakers(m, health) {
    const fromHealth = obj(obj(health.components).circuitBreakers);
    const gauge = byLabel(m, "cartd_circuit_breaker_state", "name");
    const opened = byLabel(m, "cartd_circuit_breaker_opened_total", "name");
    const names = new Set([...gauge.keys(), ...Object.keys(fromHealth)]);
    const rows = [...names].sort().map((name) => {
      const hb = obj(fromHealth[name]);
      // The gauge says 0 closed, 1 open, 2 half-open; the health section names it.
      const state =
        typeof hb.state === "string"
          ? hb.state
          : ["closed", "open", "half_open"][gauge.get(name)] || "unknown";
      return [
        name,
        { node: badge(state, stateClass(state)) },
        typeof hb.provider === "string" ? hb.provider : "–",
        { text: fmtNum(num(hb.consecutiveFailures)), cls: "num" },
        { text: fmtNum(opened.has(name) ? opened.get(name) : num(hb.opened)), cls: "num" },
      ];
    });
    fillTable("breakers-table", rows, "no circuit breakers");
  }

  function renderCluster(data, health, now) {
    const c = obj(obj(health.components).cluster);
    const members = Array.isArray(c.members) ? c.members.map(obj) : [];
    const rows = members.map((mb) => {
      const name = String(mb.address || mb.node || mb.name || "?") + (mb.self ? " (this node)" : "");
      const state =
        typeof mb.state === "string" ? mb.state : mb.up === true ? "up" : mb.up === false ? "down" : "?";
      return [
        name,
        { node: badge(state, stateClass(state)) },
        { text: fmtNum(num(mb.incarnation)), cls: "num" },
      ];
    });
    if (!members.length)
      rows.push([`${data.node || health.node || "this node"} (this node)`, { node: badge("up", "ok") }, "–"]);
    const parts = [
      c.mode === "single-node" || !members.length ? "single node" : `cluster, ${c.status || "?"}`,
    ];
    if (num(c.membersUp) != null) parts.push(`${c.membersUp} of ${c.membersKnown ?? "?"} up`);
    for (const [k, text] of [
      ["forwarded", "forwarded"],
      ["forwardFailures", "forward failures"],
      ["servedForOthers", "served for others"],
      ["rehomedCarts", "re-homed carts"],
    ]) {
      if (num(c[k]) != null) parts.push(`${text} ${fmtNum(c[k])}`);
    }
    if (now.forwarded != null) {
      parts.push(
        `forwarding ${fmtRate(now.forwarded)} (p99 ${fmtMs(now.forwardP99)}, timed out ${fmtRate(now.forwardFailed)})`,
      );
    }
    $("cluster-summary").textContent = parts.join(" · ");
    fillTable("members-table", rows, "no members");
  }

  function renderOutbox(health) {
    const e = obj(obj(health.components).events);
    const status = typeof e.status === "string" ? e.status : "unknown";
    const parts = [status === "disabled" ? "relay disabled (no Redis configured)" : `relay ${status}`];
    if (typeof e.role === "string") parts.push(e.role);
    if (num(e.published) != null) parts.push(`published ${fmtNum(e.published)}`);
    $("outbox-status").textContent = parts.join(" · ");
  }

  function renderCharts(charts, h, now) {
    const line = (label, name, extra) => ({ label, values: h.col(name), ...extra });
    const byPrefix = (prefix, fmt) =>
      h
        .names(prefix)
        .sort()
        .map((k) => line(fmt ? fmt(k) : k, prefix + k));
    const routes = topRoutes(now);
    charts.requests.update(h.t, [
      line("all", "requests.rate", { color: "#111827" }),
      ...routes.map((r) => line(shortRoute(r), `route.rate.${r}`)),
      line("5xx", "requests.errors", { color: ERROR_COLOR, dash: [4, 3] }),
    ]);
    charts.latency.update(h.t, [
      line("all", "requests.p99", { color: "#111827" }),
      ...routes.map((r) => line(shortRoute(r), `route.p99.${r}`)),
    ]);
    charts.live.update(
      h.t,
      byPrefix("live.", (k) => (k === "cart" ? "carts" : k === "checkout" ? "checkout sessions" : k)),
    );
    charts.business.update(h.t, [
      line("carts created", "business.carts"),
      line("checkouts started", "business.started"),
      line("checkouts completed", "business.completed"),
    ]);
    charts.mailbox.update(h.t, byPrefix("mailbox."));
    charts.message.update(h.t, [
      ...byPrefix("message.mean.", (k) => `${k} mean`),
      ...byPrefix("message.p99.", (k) => `${k} p99`),
    ]);
    charts.batch.update(h.t, [line("mean", "batch.mean"), line("p99", "batch.p99")]);
    charts.commit.update(h.t, [line("mean", "commit.mean"), line("p99", "commit.p99")]);
    charts.outbox.update(h.t, [line("waiting", "outbox.waiting")]);
    charts.bulkheads.update(h.t, [
      ...byPrefix("bulkhead.inFlight.", (k) => `${k} in flight`),
      ...byPrefix("bulkhead.queued.", (k) => `${k} queued`),
    ]);
  }

  // ---- polling --------------------------------------------------------------------------

  const history = new History();
  const state = { polls: 0, errors: 0, lastError: null, series: history.asObject() };
  window.cartdDashboard = state;

  function showError(message) {
    state.errors++;
    state.lastError = message;
    const el = $("poll-error");
    el.textContent = `Not updating: ${message}`;
    el.hidden = false;
  }

  async function fetchData() {
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), FETCH_TIMEOUT_MS);
    try {
      const r = await fetch("/dashboard/data", {
        credentials: "same-origin",
        cache: "no-store",
        signal: abort.signal,
      });
      if (r.status === 401 || r.status === 403)
        throw new Error(`not authorised (HTTP ${r.status}): reload the page to sign in`);
      if (!r.ok) throw new Error(`HTTP ${r.status} from /dashboard/data`);
      const data = await r.json();
      if (!data || typeof data !== "object") throw new Error("/dashboard/data is not a JSON object");
      return data;
    } catch (e) {
      throw e.name === "AbortError"
        ? new Error(`no answer from /dashboard/data within ${FETCH_TIMEOUT_MS} ms`)
        : e;
    } finally {
      clearTimeout(timer);
    }
  }

  function render(charts, data) {
    const t = num(data.time) != null ? data.time / 1000 : Date.now() / 1000;
    const last = history.t[history.t.length - 1];
    if (last != null && t <= last) return false; // the same snapshot again: nothing new
    const snap = { t, m: obj(data.metrics) };
    const { values, now } = derive(snap, history.base(t));
    history.add(snap, values);
    const health = obj(data.health);
    renderHeader(data, health);
    renderTiles(history);
    renderBusiness(snap.m);
    renderRoutes(now);
    renderBulkheads(now, health);
    renderBreakers(snap.m, health);
    renderCluster(data, health, now);
    renderOutbox(health);
    renderCharts(charts, history, now);
    return true;
  }

  async function poll(charts) {
    const started = Date.now();
    let data = null;
    try {
      data = await fetchData();
    } catch (e) {
      showError(e && e.message ? e.message : String(e)); // the server may be restarting
    }
    if (data) {
      try {
        if (render(charts, data)) {
          state.polls++;
          state.lastError = null;
          state.series = history.asObject();
          document.body.dataset.polls = String(state.polls);
          $("poll-error").hidden = true;
        }
      } catch (e) {
        // A bug here, or data of a shape this page does not know: say so, keep polling.
        console.error(e);
        showError(`cannot show the data: ${e && e.message ? e.message : e}`);
      }
    }
    // Chained, not setInterval: a slow answer never stacks polls up.
    setTimeout(() => poll(charts), Math.max(0, POLL_MS - (Date.now() - started)));
  }

  function start() {
    if (typeof uPlot !== "function") {
      showError("the chart library (/dashboard/uplot.js) did not load");
      return;
    }
    const charts = {};
    for (const [key, unit] of Object.entries({
      requests: "rate",
      latency: "ms",
      live: "count",
      business: "perMin",
      mailbox: "count",
      message: "ms",
      batch: "count",
      commit: "ms",
      outbox: "count",
      bulkheads: "count",
    })) {
      charts[key] = new Chart($(`chart-${key}`), unit);
    }
    poll(charts);
  }

  start();
})();
