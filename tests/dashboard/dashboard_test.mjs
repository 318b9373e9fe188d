// Headless-browser test of the operator dashboard (GET /dashboard).
//
// Starts the real cartd (CARTD_BIN, default <repo>/build/cartd) on a free port with a fresh
// SQLite file, checks the dashboard's credentials, opens the page in Debian's Chromium through
// playwright-core (no browser download: CHROMIUM_BIN, default /usr/bin/chromium), waits for it
// to poll, checks its charts are drawn, drives carts and checkouts through the public API from
// here, and checks that the page's figures and series follow. Any console error, page error or
// failed same-origin request fails the test. Exits 0 only when every check passed; prints
// "dashboard: N passed, N failed" last.
//
// Environment: CARTD_BIN, CHROMIUM_BIN, DASHBOARD_SCREENSHOT (an extra copy of the screenshot),
// CARTD_TEST_KEEP=1 (keep the temporary directory with cartd.log).

import { spawn } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

/// Polls `predicate` in the page until it is true. page.waitForFunction would do, but its
/// in-page poller evaluates a string, which the dashboard's CSP (no 'unsafe-eval') refuses;
/// page.evaluate goes through the DevTools protocol, which CSP does not govern.
async function waitInPage(page, predicate, arg, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await page.evaluate(predicate, arg)) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting in the page`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, "..", "..");
const BIN = process.env.CARTD_BIN || path.join(ROOT, "build", "cartd");
const CHROMIUM = process.env.CHROMIUM_BIN || "/usr/bin/chromium";
const JWT_SECRET = "test-secret-0123456789";
const OPERATOR_TOKEN = "operator-token-0123456789";
const SCREENSHOT = path.join(HERE, "screenshots", "dashboard.png");
const LOAD_SECONDS = 4;
const LOAD_WORKERS = 4;
const LOAD_MAX_CARTS = 2000; // the load stops at this many carts even if time is left

// ------------------------------------------------------------------------------------------
// Reporting: each check prints a line; the first failure ends the run.

let passed = 0;
let failed = 0;

class CheckFailed extends Error {}

function fail(message) {
  throw new CheckFailed(message);
}

function expect(cond, message) {
  if (!cond) fail(message);
}

async function check(name, fn) {
  try {
    const note = await fn();
    passed++;
    console.log(`ok   ${name}${note ? ` (${note})` : ""}`);
  } catch (e) {
    failed++;
    console.log(`FAIL ${name}: ${e instanceof CheckFailed ? e.message : e.stack || e}`);
    throw e;
  }
}

// ------------------------------------------------------------------------------------------
// Credentials: HS256 JWTs minted here with the secret cartd is started with.

const b64url = (v) => Buffer.from(typeof v === "string" ? v : JSON.stringify(v)).toString("base64url");

function jwt(sub, roles = []) {
  const now = Math.floor(Date.now() / 1000);
  const claims = { sub, iat: now, exp: now + 3600 };
  if (roles.length) claims.roles = roles;
  const signing = `${b64url({ alg: "HS256", typ: "JWT" })}.${b64url(claims)}`;
  const sig = crypto.createHmac("sha256", JWT_SECRET).update(signing).digest("base64url");
  return `${signing}.${sig}`;
}

// ------------------------------------------------------------------------------------------
// The cartd process.

async function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

class Cartd {
  constructor(dir, port) {
    this.dir = dir;
    this.port = port;
    this.base = `http://127.0.0.1:${port}`;
    this.logPath = path.join(dir, "cartd.log");
    this.exited = null;
  }

  start() {
    if (!fs.existsSync(BIN)) fail(`no cartd binary at ${BIN} (build it, or set CARTD_BIN)`);
    const log = fs.openSync(this.logPath, "a");
    this.proc = spawn(BIN, ["serve"], {
      cwd: this.dir,
      stdio: ["ignore", log, log],
      env: {
        ...process.env,
        CARTD_HTTP_PORT: String(this.port),
        CARTD_STORE_URL: `sqlite://${path.join(this.dir, "cartd.db")}`,
        CARTD_AUTH_JWT_SECRET: JWT_SECRET,
        CARTD_AUTH_OPERATOR_TOKEN: OPERATOR_TOKEN,
      },
    });
    fs.closeSync(log);
    this.proc.on("exit", (code, signal) => (this.exited = { code, signal }));
  }

  async waitHealthy(timeoutMs = 30000) {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (this.exited) fail(`cartd exited during start-up (${JSON.stringify(this.exited)})`);
      try {
        const r = await fetch(`${this.base}/api/v1/health`);
        if (r.status === 200) return;
      } catch {
        // not listening yet
      }
      await sleep(100);
    }
    fail(`cartd did not answer GET /api/v1/health with 200 within ${timeoutMs} ms`);
  }

  async stop() {
    if (!this.proc || this.exited) return;
    this.proc.kill("SIGTERM");
    for (let i = 0; i < 150 && !this.exited; i++) await sleep(100);
    if (!this.exited) this.proc.kill("SIGKILL");
  }

  killNow() {
    if (this.proc && !this.exited) this.proc.kill("SIGKILL");
  }

  logTail(lines = 40) {
    try {
      return fs.readFileSync(this.logPath, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
    } catch {
      return "(no log)";
    }
  }

  /** One JSON request; returns {status, headers, body (parsed or text)}. */
  async request(method, p, { token, headers = {}, body } = {}) {
    const h = { ...headers };
    if (token) h.Authorization = `Bearer ${token}`;
    if (body !== undefined) h["Content-Type"] = "application/json";
    const r = await fetch(`${this.base}${p}`, {
      method,
      headers: h,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await r.text();
    let parsed = text;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      // not JSON: keep the text
    }
    return { status: r.status, headers: r.headers, body: parsed };
  }
}

// ------------------------------------------------------------------------------------------
// Load: carts with items, and every third cart checked out with the simulated provider.

const ADDRESS = {
  name: "Ada Operator",
  line1: "1 Main St",
  city: "Springfield",
  postalCode: "12345",
  country: "US",
};

async function seedCatalog(cartd, admin) {
  const product = {
    name: "Dashboard Tee",
    currency: "USD",
    active: true,
    variants: [
      { id: "v-s", sku: "DASH-S", price: 1999, stock: 100000 },
      { id: "v-m", sku: "DASH-M", price: 2499, stock: 100000 },
    ],
  };
  const r = await cartd.request("PUT", "/api/v1/admin/products/dash-tee", { token: admin, body: product });
  expect(
    r.status === 200 || r.status === 201,
    `PUT /admin/products answered ${r.status}: ${JSON.stringify(r.body)}`,
  );
}

async function loadWorker(cartd, worker, untilMs, tally) {
  for (let n = 0; Date.now() < untilMs && tally.carts < LOAD_MAX_CARTS; n++) {
    // A user per cart: the rate limit is per principal, and this is many shoppers' traffic.
    const token = jwt(`dashboard-load-${worker}-${n}`);
    const cart = await cartd.request("POST", "/api/v1/cart", { token, body: { currency: "USD" } });
    expect(cart.status === 201, `POST /cart answered ${cart.status}: ${JSON.stringify(cart.body)}`);
    tally.carts++;
    const items = `/api/v1/cart/${cart.body.id}/items`;
    for (const variantId of ["v-s", "v-m"]) {
      const r = await cartd.request("POST", items, {
        token,
        body: { productId: "dash-tee", variantId, quantity: 1 + (n % 3) },
      });
      expect(r.status === 201, `POST ${items} answered ${r.status}: ${JSON.stringify(r.body)}`);
      tally.items++;
    }
    // A 404 now and then, so the route table has a 4xx to show.
    await cartd.request("GET", `/api/v1/cart/${crypto.randomUUID()}`, { token });
    if (n % 3 !== 0) continue;
    const session = await cartd.request("POST", "/api/v1/checkout/session", {
      token,
      body: { cartId: cart.body.id, shippingAddress: ADDRESS },
    });
    expect(
      session.status === 201,
      `POST /checkout/session answered ${session.status}: ${JSON.stringify(session.body)}`,
    );
    tally.checkouts++;
    const order = await cartd.request("POST", "/api/v1/checkout/process", {
      token,
      body: { sessionId: session.body.id, payment: { method: "card", token: "tok_visa" } },
    });
    expect(
      order.status === 201,
      `POST /checkout/process answered ${order.status}: ${JSON.stringify(order.body)}`,
    );
    tally.orders++;
  }
}

async function generateLoad(cartd, seconds) {
  const tally = { carts: 0, items: 0, checkouts: 0, orders: 0 };
  const until = Date.now() + seconds * 1000;
  const workers = Array.from({ length: LOAD_WORKERS }, (_, i) => loadWorker(cartd, i, until, tally));
  await Promise.all(workers);
  return tally;
}

// ------------------------------------------------------------------------------------------
// The page, seen from the browser.

/** Counts the canvases under .chart and, per canvas, its pixels that are not transparent. */
function canvasInkInPage() {
  return [...document.querySelectorAll(".chart canvas")].map((c) => {
    const ctx = c.getContext("2d");
    const { data } = ctx.getImageData(0, 0, c.width, c.height);
    let ink = 0;
    for (let i = 3; i < data.length; i += 4) if (data[i] !== 0) ink++;
    const chart = c.closest(".chart");
    return { id: chart ? chart.id : "", width: c.width, height: c.height, ink };
  });
}

/** The figures and series the test follows, read from the page. */
function figuresInPage() {
  const d = window.cartdDashboard;
  const value = (id) => {
    const el = document.getElementById(id);
    return el && el.dataset.value !== undefined && el.dataset.value !== "" ? Number(el.dataset.value) : null;
  };
  const rate = (d.series["requests.rate"] || []).filter((v) => v != null);
  return {
    polls: d.polls,
    lastError: d.lastError,
    points: (d.series.t || []).length,
    cartsCreated: value("biz-carts-created"),
    checkoutsCompleted: value("biz-checkouts-completed"),
    avgOrderValue: value("biz-avg-order"),
    requestRateMax: rate.length ? Math.max(...rate) : 0,
    routes: [...document.querySelectorAll("#routes-table tbody tr")].map((tr) => tr.dataset.route),
  };
}

async function main() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cartd-dashboard-"));
  const cartd = new Cartd(dir, await freePort());
  process.on("exit", () => cartd.killNow());
  for (const sig of ["SIGINT", "SIGTERM"]) process.on(sig, () => process.exit(1));

  let browser = null;
  const problems = []; // console errors, page errors, failed requests: any one fails the test
  try {
    await check("cartd starts and answers /api/v1/health", async () => {
      cartd.start();
      await cartd.waitHealthy();
      return `${BIN} on port ${cartd.port}`;
    });

    await check("the dashboard refuses a caller without credentials", async () => {
      for (const p of ["/dashboard", "/dashboard/data", "/dashboard/app.js"]) {
        const r = await cartd.request("GET", p);
        expect(r.status === 401, `GET ${p} without credentials answered ${r.status}, expected 401`);
      }
      const r = await cartd.request("GET", "/dashboard");
      const challenge = r.headers.get("www-authenticate") || "";
      expect(
        /^Basic\b/i.test(challenge),
        `401 without a Basic challenge (WWW-Authenticate: ${JSON.stringify(challenge)})`,
      );
      const wrong = await cartd.request("GET", "/dashboard", { token: "not-the-operator-token" });
      expect(wrong.status === 401, `a wrong bearer token answered ${wrong.status}, expected 401`);
    });

    await check("the dashboard admits the operator token, an admin JWT and Basic", async () => {
      const page = await cartd.request("GET", "/dashboard", { token: OPERATOR_TOKEN });
      expect(page.status === 200, `GET /dashboard with the operator token answered ${page.status}`);
      expect(
        /text\/html/.test(page.headers.get("content-type") || ""),
        `content-type ${page.headers.get("content-type")}`,
      );
      const csp = page.headers.get("content-security-policy") || "";
      expect(
        /default-src 'self'/.test(csp),
        `no Content-Security-Policy with default-src 'self' (got ${JSON.stringify(csp)})`,
      );
      const admin = await cartd.request("GET", "/dashboard/data", {
        token: jwt("dashboard-admin", ["admin"]),
      });
      expect(admin.status === 200, `GET /dashboard/data with an admin JWT answered ${admin.status}`);
      expect(admin.body && typeof admin.body.metrics === "object", `/dashboard/data has no metrics object`);
      const user = await cartd.request("GET", "/dashboard/data", { token: jwt("dashboard-user") });
      expect(
        user.status === 401 || user.status === 403,
        `a non-admin JWT answered ${user.status}, expected 401 or 403`,
      );
      const basic = Buffer.from(`operator:${OPERATOR_TOKEN}`).toString("base64");
      const viaBasic = await cartd.request("GET", "/dashboard/data", {
        headers: { Authorization: `Basic ${basic}` },
      });
      expect(viaBasic.status === 200, `GET /dashboard/data with Basic answered ${viaBasic.status}`);
    });

    browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
    const context = await browser.newContext({
      viewport: { width: 1400, height: 1000 },
      extraHTTPHeaders: { Authorization: `Bearer ${OPERATOR_TOKEN}` },
    });
    const page = await context.newPage();
    page.on("console", (m) => m.type() === "error" && problems.push(`console: ${m.text()}`));
    page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
    page.on("requestfailed", (r) => problems.push(`request failed: ${r.url()} ${r.failure()?.errorText}`));
    page.on("response", (r) => r.status() >= 400 && problems.push(`HTTP ${r.status()} for ${r.url()}`));
    // Everything the page loads comes from cartd itself: no CDN, nothing external.
    page.on("request", (r) => {
      const url = r.url();
      if (!url.startsWith(`${cartd.base}/`) && !url.startsWith("data:"))
        problems.push(`external request: ${url}`);
    });
    const noProblems = () => expect(problems.length === 0, problems.join("; "));

    await check("the page loads and polls /dashboard/data at least 3 times", async () => {
      const r = await page.goto(`${cartd.base}/dashboard`);
      expect(r && r.status() === 200, `GET /dashboard in the browser answered ${r && r.status()}`);
      await waitInPage(page, () => Number(document.body.dataset.polls) >= 3, null, 20000);
      const f = await page.evaluate(figuresInPage);
      expect(f.lastError === null, `cartdDashboard.lastError is ${JSON.stringify(f.lastError)}`);
      noProblems();
      return `${f.polls} polls`;
    });

    await check("every chart has a drawn canvas", async () => {
      const charts = await page.$$eval(".chart", (els) => els.map((e) => e.id));
      expect(charts.length >= 8, `only ${charts.length} .chart elements`);
      const canvases = await page.evaluate(canvasInkInPage);
      for (const id of charts) {
        const c = canvases.find((x) => x.id === id);
        expect(c, `chart #${id} has no canvas`);
        expect(c.width > 0 && c.height > 0, `chart #${id} canvas is ${c.width}x${c.height}`);
        expect(c.ink > 100, `chart #${id} canvas is blank (${c.ink} pixels drawn)`);
      }
      return `${charts.length} charts`;
    });

    await check("a browser answering the Basic prompt gets a polling page", async () => {
      const basic = await browser.newContext({
        httpCredentials: { username: "operator", password: OPERATOR_TOKEN },
      });
      const other = await basic.newPage();
      const own = [];
      other.on("pageerror", (e) => own.push(`page error: ${e.message}`));
      other.on("console", (m) => m.type() === "error" && own.push(`console: ${m.text()}`));
      try {
        await other.goto(`${cartd.base}/dashboard`);
        await waitInPage(other, () => Number(document.body.dataset.polls) >= 2, null, 15000);
        expect(own.length === 0, own.join("; "));
      } finally {
        await basic.close();
      }
    });

    let before;
    let tally;
    await check(`load for ${LOAD_SECONDS} s through the API`, async () => {
      await seedCatalog(cartd, jwt("dashboard-admin", ["admin"]));
      before = await page.evaluate(figuresInPage);
      tally = await generateLoad(cartd, LOAD_SECONDS);
      expect(tally.carts > 0 && tally.orders > 0, `no load: ${JSON.stringify(tally)}`);
      return `${tally.carts} carts, ${tally.items} items, ${tally.orders} orders`;
    });

    await check("the figures and series follow the load", async () => {
      const polls = before.polls;
      const want = (before.cartsCreated || 0) + tally.carts;
      try {
        await waitInPage(
          page,
          ([p, w]) => {
            const el = document.getElementById("biz-carts-created");
            return window.cartdDashboard.polls >= p + 2 && el && Number(el.dataset.value) >= w;
          },
          [polls, want],
          15000,
        );
      } catch {
        const now = await page.evaluate(figuresInPage);
        fail(`carts created shows ${now.cartsCreated}, expected at least ${want} (polls ${now.polls})`);
      }
      const after = await page.evaluate(figuresInPage);
      expect(after.lastError === null, `cartdDashboard.lastError is ${JSON.stringify(after.lastError)}`);
      expect(after.points > before.points, `series.t did not grow (${before.points} -> ${after.points})`);
      expect(
        after.requestRateMax > before.requestRateMax,
        `requests.rate did not grow (max ${before.requestRateMax} -> ${after.requestRateMax})`,
      );
      expect(
        (after.checkoutsCompleted || 0) >= (before.checkoutsCompleted || 0) + tally.orders,
        `checkouts completed shows ${after.checkoutsCompleted}, expected at least ${tally.orders} more than ${before.checkoutsCompleted}`,
      );
      expect(after.avgOrderValue > 0, `average order value shows ${after.avgOrderValue}`);
      expect(
        after.routes.includes("/api/v1/cart"),
        `no /api/v1/cart row in the routes table (${after.routes.join(", ")})`,
      );
      noProblems();
      return `carts ${before.cartsCreated} -> ${after.cartsCreated}, peak ${after.requestRateMax.toFixed(1)} req/s`;
    });

    await check("screenshot", async () => {
      fs.mkdirSync(path.dirname(SCREENSHOT), { recursive: true });
      await page.screenshot({ path: SCREENSHOT, fullPage: true });
      if (process.env.DASHBOARD_SCREENSHOT) fs.copyFileSync(SCREENSHOT, process.env.DASHBOARD_SCREENSHOT);
      noProblems();
      return path.relative(ROOT, SCREENSHOT);
    });
  } catch (e) {
    if (!(e instanceof CheckFailed) && failed === 0) {
      failed++;
      console.log(`FAIL ${e.stack || e}`);
    }
    if (problems.length) console.log(`browser problems:\n  ${problems.join("\n  ")}`);
    console.log(`--- cartd log (last lines of ${cartd.logPath}) ---\n${cartd.logTail()}`);
  } finally {
    if (browser) await browser.close().catch(() => {});
    await cartd.stop();
    if (!process.env.CARTD_TEST_KEEP && failed === 0) fs.rmSync(dir, { recursive: true, force: true });
    else console.log(`kept ${dir}`);
  }
  console.log(`dashboard: ${passed} passed, ${failed} failed`);
  process.exitCode = failed === 0 ? 0 : 1;
}

await main();
