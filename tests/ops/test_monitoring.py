"""The monitoring files (deploy/prometheus, deploy/grafana) against promtool and the real cartd.

- promtool checks both Prometheus configs and the rules, runs the rules' unit tests, and parses
  every dashboard expression (skipped, with the reason, when promtool is not installed: Debian's
  `prometheus` package provides it).
- Every metric a rule or a dashboard panel names must be a family the real binary exports, with
  the label names it really has. The binary runs as a one-node cluster on PostgreSQL (the
  cluster families exist only then): CARTD_TEST_PG_URL if set, else a private server; without
  PostgreSQL it runs on SQLite and the cluster names are reported as not checked.
- Every alert has a severity, a summary, a description and a one-line runbook, and a unit test
  where it fires and one where it does not; every per-node panel filters by $node and has a
  cluster-wide twin.

    python3 tests/ops/test_monitoring.py      # CARTD_BIN names the binary (default build/cartd)

Standard library and PyYAML (python3-yaml).
"""
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest
import uuid

import debian_yaml  # noqa: F401  (first: PyYAML, else Debian's Python)
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "api"))

import cartd_api  # noqa: E402  (tests/api: the one way tests start cartd)
from cartd_api import ADMIN, Server, free_port, new_cart, new_user, put_product  # noqa: E402

PROM_DIR = os.path.join(ROOT, "deploy", "prometheus")
RULES = os.path.join(PROM_DIR, "rules", "cartd.rules.yml")
RULE_TESTS = os.path.join(PROM_DIR, "tests", "cartd.rules.test.yml")
CONFIGS = [os.path.join(PROM_DIR, "prometheus.yml"), os.path.join(ROOT, "deploy", "prometheus.yml")]
DASHBOARD = os.path.join(ROOT, "deploy", "grafana", "cartd.json")
DASHBOARD_JS = "http/static/dashboard.js"  # the built-in one

# Series Prometheus makes itself, not cartd.
PROMETHEUS_OWN = {"up", "ALERTS", "ALERTS_FOR_STATE"}
# Labels Prometheus adds at scrape time (job, instance) or that belong to a histogram's buckets.
TARGET_LABELS = {"job", "instance", "__name__"}
SEVERITIES = {"critical", "warning"}
NODE_FILTER = 'instance=~"$node"'
PER_NODE, CLUSTER = " (per node)", " (cluster)"


def load_yaml(path):
    with open(path) as f:
        return yaml.safe_load(f)


def load_dashboard():
    with open(DASHBOARD) as f:
        return json.load(f)


def rules():
    return [r for g in load_yaml(RULES)["groups"] for r in g["rules"]]


def alerts():
    return [r for r in rules() if "alert" in r]


def panels(dashboard):
    """Every panel with queries, rows' nested panels included."""
    for p in dashboard["panels"]:
        yield from p.get("panels", [])
        if p.get("targets"):
            yield p


def dashboard_exprs(dashboard):
    """(where, PromQL) for every panel query, as Grafana would send it."""
    for p in panels(dashboard):
        for t in p["targets"]:
            yield "panel %r %s" % (p["title"], t["refId"]), t["expr"]


def variable_metrics(dashboard):
    """(where, metric) for each label_values(metric, label) variable query."""
    for v in dashboard["templating"]["list"]:
        q = v.get("query")
        q = q.get("query", "") if isinstance(q, dict) else (q or "")
        m = re.match(r"\s*label_values\(\s*([^,{\s]+)", q)
        if m:
            yield "variable $%s" % v["name"], m.group(1)


def as_promql(expr):
    """Grafana's variables replaced by what they may stand for, so promtool can parse it."""
    return (expr.replace("$__rate_interval", "5m").replace("$__interval", "1m")
            .replace("$__range", "1h").replace("$node", ".*"))


# --- A small PromQL reader: just enough to find the metric names and their matchers. ----------

# Aggregations, operators and modifiers: words that are never metric names.
KEYWORDS = {"sum", "min", "max", "avg", "count", "stddev", "stdvar", "topk", "bottomk",
            "quantile", "count_values", "group", "and", "or", "unless", "atan2", "by",
            "without", "on", "ignoring", "group_left", "group_right", "bool", "offset",
            "inf", "nan"}
# Modifiers followed by a parenthesised list of label names.
LABEL_LISTS = {"by", "without", "on", "ignoring", "group_left", "group_right"}
IDENT = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")
MATCHER = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)\s*(?:=~|!~|!=|=)\s*"')


def _skip_string(s, i):
    quote, i = s[i], i + 1
    while i < len(s) and s[i] != quote:
        i += 2 if s[i] == "\\" else 1
    return i + 1


def _skip_group(s, i, close):
    """s[i] opens a group ({, [ or (); the index just past its closing character."""
    depth, opening = 0, s[i]
    while i < len(s):
        c = s[i]
        if c in "\"'`":
            i = _skip_string(s, i)
            continue
        if c == opening:
            depth += 1
        elif c == close:
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    raise ValueError("unbalanced %s in %r" % (opening, s))


def selectors(expr):
    """[(metric name, matcher text or '')] for every vector selector in a PromQL expression."""
    out, i, n = [], 0, len(expr)
    while i < n:
        c = expr[i]
        if c in "\"'`":
            i = _skip_string(expr, i)
        elif c == "[":
            i = _skip_group(expr, i, "]")  # ranges, subqueries: durations and $__rate_interval
        elif c == "{":
            i = _skip_group(expr, i, "}")  # a selector without a name: none are used
        elif c.isdigit() or (c == "." and i + 1 < n and expr[i + 1].isdigit()):
            while i < n and (expr[i].isalnum() or expr[i] in "._"):
                i += 1  # numbers and durations (0.99, 1e3, 5m, 1d)
        elif c == "$":
            i += 1
            while i < n and (expr[i].isalnum() or expr[i] == "_"):
                i += 1
        elif IDENT.match(c):
            word = IDENT.match(expr, i).group(0)
            i += len(word)
            k = i
            while k < n and expr[k].isspace():
                k += 1
            nxt = expr[k] if k < n else ""
            if word.lower() in LABEL_LISTS and nxt == "(":
                i = _skip_group(expr, k, ")")
            elif word.lower() in KEYWORDS or nxt == "(":
                pass  # operator or function call
            else:
                matcher = ""
                if nxt == "{":
                    end = _skip_group(expr, k, "}")
                    matcher, i = expr[k:end], end
                out.append((word, matcher))
        else:
            i += 1
    return out


# --- The real exposition. -----------------------------------------------------------------------

SAMPLE = re.compile(r"^([A-Za-z_:][A-Za-z0-9_:]*)(\{(.*)\})?\s")
LABEL = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)="(?:[^"\\]|\\.)*"')


def families_of(text):
    """{family: type} from the # TYPE lines (prometheus-cpp writes one per family that has at
    least one child), and {family: label names seen on its samples}."""
    kinds, labels = {}, {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(None, 3)
            kinds[name] = kind.strip()
            labels.setdefault(name, set())
    for line in text.splitlines():
        m = SAMPLE.match(line)
        if not m:
            continue
        name = m.group(1)
        for suffix in ("_bucket", "_sum", "_count"):
            if name.endswith(suffix) and kinds.get(name[: -len(suffix)]) in ("histogram", "summary"):
                name = name[: -len(suffix)]
                break
        labels.setdefault(name, set()).update(LABEL.findall(m.group(3) or ""))
    return kinds, labels


def family_of(name, kinds):
    """(family, error): the exported family a series name belongs to. A histogram X exports
    X_bucket, X_sum and X_count, never X itself."""
    kind = kinds.get(name)
    if kind in ("counter", "gauge", "untyped"):
        return name, None
    if kind in ("histogram", "summary"):
        return None, "%s is a %s: its series are %s_bucket, %s_sum and %s_count" % (
            name, kind, name, name, name)
    for suffix, allowed in (("_bucket", ("histogram",)), ("_sum", ("histogram", "summary")),
                            ("_count", ("histogram", "summary"))):
        base = name[: -len(suffix)]
        if name.endswith(suffix) and kinds.get(base) in allowed:
            return base, None
    return None, "%s is not exported by cartd" % name


def exercise(server):
    """A product, a cart, an item, its totals and a 404: the labelled families get children."""
    c = server.client()
    user = new_user()
    pid = put_product(c)
    cart = new_cart(c, user)
    st, _, _, raw = c.post("/cart/%s/items" % cart["id"],
                           {"productId": pid, "variantId": "v-red", "quantity": 2}, headers=user)
    assert st == 201, (st, raw)
    st, _, _, raw = c.get("/cart/%s/totals" % cart["id"], headers=user)
    assert st == 200, (st, raw)
    st, _, _, raw = c.get("/cart/%s" % uuid.uuid4(), headers=user)
    assert st == 404, (st, raw)
    for path in ("/health", "/health/ready"):
        st, _, _, raw = c.get(path)
        assert st == 200, (path, st, raw)
    st, hdrs, _, raw = c.get("/metrics", base=False)
    assert st == 200, (st, raw)
    c.conn.close()
    return raw.decode()


class PostgresForCluster:
    """A database for a one-node cluster: a new one in CARTD_TEST_PG_URL, or a private server."""

    def __init__(self):
        self.private = None
        base = os.environ.get("CARTD_TEST_PG_URL")
        if base:
            name = "cartd_ops_" + uuid.uuid4().hex[:12]
            subprocess.run(["psql", base, "-qc", "CREATE DATABASE " + name], check=True,
                           capture_output=True)
            self.url = base.rsplit("/", 1)[0] + "/" + name
        elif glob.glob("/usr/lib/postgresql/*/bin/initdb"):
            from private_servers import PrivatePostgres
            self.private = PrivatePostgres()
            self.url = self.private.url()
        else:
            self.url = None

    def destroy(self):
        if self.private:
            self.private.destroy()


def require_promtool():
    if not shutil.which("promtool"):
        raise unittest.SkipTest("promtool is not installed (Debian: apt-get install prometheus)")


def promtool(*args):
    p = subprocess.run(["promtool", *args], capture_output=True, text=True, timeout=300)
    return p.returncode, (p.stdout + p.stderr).strip()


class PromtoolTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        require_promtool()

    def test_configs_are_valid(self):
        for path in CONFIGS:
            with self.subTest(config=os.path.relpath(path, ROOT)):
                rc, out = promtool("check", "config", path)
                self.assertEqual(rc, 0, out)

    def test_rules_are_valid(self):
        rc, out = promtool("check", "rules", RULES)
        self.assertEqual(rc, 0, out)

    def test_rule_unit_tests_pass(self):
        rc, out = promtool("test", "rules", RULE_TESTS)
        self.assertEqual(rc, 0, out)

    def test_dashboard_expressions_parse(self):
        # promtool has no "parse this expression": every panel query becomes a recording rule.
        exprs = list(dashboard_exprs(load_dashboard()))
        group = {"groups": [{"name": "grafana", "rules": [
            {"record": "grafana:query_%d" % i, "expr": as_promql(e)}
            for i, (_, e) in enumerate(exprs)]}]}
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "grafana.rules.yml")
            with open(path, "w") as f:
                yaml.safe_dump(group, f)
            rc, out = promtool("check", "rules", path)
        where = "\n".join("grafana:query_%d = %s" % (i, w) for i, (w, _) in enumerate(exprs))
        self.assertEqual(rc, 0, out + "\n" + where)


class RulesShapeTest(unittest.TestCase):
    def test_every_alert_has_severity_summary_description_and_a_one_line_runbook(self):
        for a in alerts():
            with self.subTest(alert=a["alert"]):
                self.assertIn(a.get("labels", {}).get("severity"), SEVERITIES)
                ann = a.get("annotations", {})
                for key in ("summary", "description", "runbook"):
                    self.assertTrue(str(ann.get(key, "")).strip(), "no annotations.%s" % key)
                self.assertNotIn("\n", ann["runbook"].strip(), "runbook must be one line")

    def test_every_alert_has_a_case_that_fires_and_one_that_does_not(self):
        fires, quiet = set(), set()
        for case in load_yaml(RULE_TESTS)["tests"]:
            for t in case.get("alert_rule_test", []):
                (fires if t.get("exp_alerts") else quiet).add(t["alertname"])
        for a in alerts():
            with self.subTest(alert=a["alert"]):
                self.assertIn(a["alert"], fires, "no unit test where it fires")
                self.assertIn(a["alert"], quiet, "no unit test where it stays silent")

    def test_configs_load_the_rules(self):
        cfg = load_yaml(CONFIGS[0])
        self.assertEqual(cfg["rule_files"], ["rules/cartd.rules.yml"])
        job = cfg["scrape_configs"][0]
        self.assertEqual((job["job_name"], job["metrics_path"]), ("cartd", "/metrics"))
        self.assertEqual(job["static_configs"][0]["targets"],
                         ["cartd-1:8080", "cartd-2:8080", "cartd-3:8080"])


class DashboardShapeTest(unittest.TestCase):
    def setUp(self):
        self.d = load_dashboard()

    def test_node_variable_lists_the_instances(self):
        v = {x["name"]: x for x in self.d["templating"]["list"]}["node"]
        self.assertEqual(v["definition"], "label_values(cartd_http_requests_total, instance)")
        self.assertTrue(v["multi"] and v["includeAll"])
        self.assertGreaterEqual(self.d["schemaVersion"], 36)

    def test_panel_ids_are_unique(self):
        ids = [p["id"] for p in self.d["panels"]]
        self.assertEqual(len(ids), len(set(ids)))

    def test_per_node_panels_filter_every_selector_by_node_and_have_a_cluster_twin(self):
        titles = {p["title"] for p in panels(self.d)}
        for p in panels(self.d):
            title = p["title"]
            if title.endswith(PER_NODE):
                twin = title[: -len(PER_NODE)] + CLUSTER
                self.assertIn(twin, titles, "%r has no cluster-wide twin" % title)
                for t in p["targets"]:
                    for name, matcher in selectors(t["expr"]):
                        self.assertIn(NODE_FILTER, matcher,
                                      "%r: %s is not filtered by $node" % (title, name))
            elif title.endswith(CLUSTER):
                self.assertIn(title[: -len(CLUSTER)] + PER_NODE, titles)
                for t in p["targets"]:
                    self.assertNotIn("$node", t["expr"], "%r: cluster-wide, yet filtered" % title)

    def test_the_reader_finds_names_and_matchers(self):
        # The PromQL reader that the metric test below relies on.
        got = selectors('histogram_quantile(0.99, sum without (instance, le) (rate('
                        'x_bucket{route!~"/a{1}", instance=~"$node"}[$__rate_interval]))) '
                        '/ on (job) group_left () y:z offset 1d > bool 2 and up')
        self.assertEqual(got, [("x_bucket", '{route!~"/a{1}", instance=~"$node"}'),
                               ("y:z", ""), ("up", "")])


class MetricNamesTest(unittest.TestCase):
    """Every name in the rules and the dashboard against a scrape of the real binary."""

    @classmethod
    def setUpClass(cls):
        if not os.path.exists(cartd_api.BIN):
            raise AssertionError("no cartd binary at %s (build it, or set CARTD_BIN)" % cartd_api.BIN)
        cls.pg = PostgresForCluster()
        try:
            env = {}
            if cls.pg.url:
                env = {"CARTD_STORE_URL": cls.pg.url,
                       "CARTD_CLUSTER_NODE": "127.0.0.1:%d" % free_port()}
            cls.server = Server(**env)
            cls.cluster = bool(cls.pg.url)
            try:
                cls.text = exercise(cls.server)
            finally:
                code = cls.server.stop()
            assert code == 0, "cartd exited %s on SIGTERM" % code
        except BaseException:
            cls.pg.destroy()
            raise
        cls.kinds, cls.labels = families_of(cls.text)

    @classmethod
    def tearDownClass(cls):
        cls.pg.destroy()

    def used(self):
        """(where, name, matcher) for every selector in the rules and the dashboard."""
        d = load_dashboard()
        for r in rules():
            where = "rule %s" % r.get("alert", r.get("record"))
            for name, matcher in selectors(r["expr"]):
                yield where, name, matcher
        for where, expr in dashboard_exprs(d):
            for name, matcher in selectors(expr):
                yield where, name, matcher
        for where, name in variable_metrics(d):
            yield where, name, ""
        # The built-in dashboard (/dashboard) reads families by name from /dashboard/data.
        with open(os.path.join(ROOT, "http", "static", "dashboard.js")) as f:
            for name in sorted(set(re.findall(r"\bcartd_[a-z_]+\b", f.read()))):
                yield DASHBOARD_JS, name, ""

    def test_scrape_declares_families(self):
        # Guards the parsing below: a scrape without # TYPE lines would make every check moot.
        self.assertEqual(self.kinds.get("cartd_http_requests_total"), "counter")
        self.assertEqual(self.kinds.get("cartd_http_request_duration_seconds"), "histogram")

    def test_every_metric_used_is_exported_with_those_labels(self):
        recorded = {r["record"] for r in rules() if "record" in r}
        problems, unchecked = [], set()
        for where, name, matcher in self.used():
            if name in PROMETHEUS_OWN:
                continue
            if ":" in name:
                if name not in recorded:
                    problems.append("%s: %s is not a recording rule of %s" % (
                        where, name, os.path.relpath(RULES, ROOT)))
                continue
            if not self.cluster and name.startswith("cartd_cluster_") and name not in self.kinds:
                unchecked.add(name)
                continue
            if where == DASHBOARD_JS:
                # /dashboard/data is keyed by family (a histogram by its own name).
                if name not in self.kinds:
                    problems.append("%s: %s is not a family cartd exports" % (where, name))
                continue
            family, error = family_of(name, self.kinds)
            if error:
                problems.append("%s: %s" % (where, error))
                continue
            have = self.labels.get(family, set())
            for label in MATCHER.findall(matcher):
                if label in TARGET_LABELS or (label == "le" and name.endswith("_bucket")):
                    continue
                if label not in have:
                    problems.append("%s: %s has no label %r (it has %s)" % (
                        where, name, label, ", ".join(sorted(have)) or "none"))
        self.assertEqual(problems, [], "\n" + "\n".join(sorted(set(problems))))
        if unchecked:
            self.skipTest("cluster families are exported only by a cluster node, which needs "
                          "PostgreSQL (not found); not checked: " + ", ".join(sorted(unchecked)))


if __name__ == "__main__":
    unittest.main()
