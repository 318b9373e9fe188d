"""deploy/: the Kubernetes manifests, the Dockerfile and the compose file, held against cartd itself.

The binary is the authority on what it accepts: `cartd config --print --json` lists every
configuration key (name, environment variable, type, effective value, secret or not) and
`cartd routes` the router's table. Nothing here keeps its own copy of either, so a key added to
config/config.cpp that no deployment file sets, a misspelt variable, a probe on a path the
router does not have or a secret in a ConfigMap fails here, naming it.

    python3 tests/ops/test_manifests.py        # CARTD_BIN names the binary (default build/cartd)

Needs PyYAML (Debian: python3-yaml). Does not need Docker or a Kubernetes cluster.
"""
import functools
import json
import os
import re
import shlex
import subprocess
import tempfile
import unittest
from urllib.parse import urlparse

import debian_yaml  # noqa: F401  (first: PyYAML, else Debian's Python)
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("CARTD_BIN", os.path.join(ROOT, "build", "cartd"))
DEPLOY = os.path.join(ROOT, "deploy")
K8S = os.path.join(DEPLOY, "k8s")
DOCKERFILE = os.path.join(DEPLOY, "Dockerfile")
COMPOSE = os.path.join(DEPLOY, "docker-compose.yml")

# Keys that no deployment file may set, each with its reason.
EXCLUDED = {
    "testing.crash_after_authorize": "a fault point for tests: the process exits after the "
                                     "provider authorized; never set in production",
    "testing.crash_after_order": "a fault point for tests: the process exits after the order "
                                 "committed; never set in production",
}
# Keys with a value of their own in every pod: set in the Deployment (env or its start-up
# shell), not in the ConfigMap.
PER_POD = {
    "node.name": "the pod's name (fieldRef metadata.name)",
    "cluster.node": "the pod's own IP and cluster port (bound by the node)",
    "cluster.seeds": "resolved from the headless Service by the container's start-up shell",
}
# Variables of the cartd container that are not cartd configuration (read by Kubernetes'
# $(VAR) expansion or by the start-up shell).
NON_CONFIG_ENV = {"POD_IP", "POD_NAME", "CLUSTER_SERVICE", "CLUSTER_PORT"}
# Keys that must come from a Secret whatever the binary says about masking them (a URL can
# carry a password).
SECRET_ENV = {"CARTD_AUTH_JWT_SECRET", "CARTD_STORE_URL", "CARTD_REDIS_URL",
              "CARTD_PAYMENTS_API_KEY", "CARTD_PAYMENTS_WEBHOOK_SECRET"}
PLACEHOLDER = "CHANGE_ME"
ENV_REF = re.compile(r"\bCARTD_[A-Za-z0-9_]+")


# --- cartd itself -----------------------------------------------------------------------------

def base_env(extra=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith("CARTD_")}
    env.update(extra or {})
    return env


def run_config_print(extra_env=None):
    """`cartd config --print --json` under `extra_env`: (returncode, parsed keys or None, stderr)."""
    if not os.path.exists(BIN):
        raise AssertionError("no cartd binary at %s (CARTD_BIN)" % BIN)
    with tempfile.TemporaryDirectory(prefix="cartd-ops-") as cwd:
        p = subprocess.run([BIN, "config", "--print", "--json"], cwd=cwd, env=base_env(extra_env),
                           capture_output=True, text=True, timeout=60)
    keys = None
    if p.returncode == 0:
        try:
            keys = json.loads(p.stdout)["keys"]
        except (ValueError, KeyError, TypeError) as e:
            raise AssertionError("`cartd config --print --json` printed no {\"keys\": [...]} "
                                 "object (%s): %r" % (e, p.stdout[:300]))
    return p.returncode, keys, p.stderr


@functools.lru_cache(maxsize=None)
def known_keys():
    """{key: entry} from the binary, defaults only (no CARTD_* of the caller's environment)."""
    rc, keys, err = run_config_print()
    if rc != 0:
        raise AssertionError("`%s config --print --json` failed (exit %d): %s"
                             % (BIN, rc, err.strip()[:500]))
    out = {}
    for k in keys:
        for field in ("key", "env", "type", "value", "secret"):
            if field not in k:
                raise AssertionError("config --print entry without %r: %r" % (field, k))
        expected_env = "CARTD_" + k["key"].upper().replace(".", "_")
        if k["env"] != expected_env:
            raise AssertionError("%s: env %s, expected %s" % (k["key"], k["env"], expected_env))
        out[k["key"]] = k
    if not out:
        raise AssertionError("config --print listed no keys")
    return out


def env_to_key():
    return {k["env"]: name for name, k in known_keys().items()}


@functools.lru_cache(maxsize=None)
def routes():
    """{"GET /api/v1/health", ...} from `cartd routes`."""
    if not os.path.exists(BIN):
        raise AssertionError("no cartd binary at %s (CARTD_BIN)" % BIN)
    p = subprocess.run([BIN, "routes"], capture_output=True, text=True, timeout=30, env=base_env())
    if p.returncode != 0:
        raise AssertionError("`cartd routes` failed: %s" % p.stderr)
    out = set()
    for line in p.stdout.splitlines():
        method, _, pattern = line.strip().partition(" ")
        if method and pattern.startswith("/"):
            out.add(method + " " + pattern)
    if not out:
        raise AssertionError("`cartd routes` printed no routes: %r" % p.stdout[:300])
    return out


def parse_ms(text):
    """cartd's durations (250ms, 2s, 15m, 24h, 1d); bare digits are milliseconds."""
    m = re.fullmatch(r"(\d+)(ms|s|m|h|d)?", str(text).strip())
    if not m:
        raise ValueError("not a duration: %r" % text)
    return int(m.group(1)) * {"ms": 1, "s": 1000, "m": 60000, "h": 3600000, "d": 86400000,
                              None: 1}[m.group(2)]


def normalized(kind, value):
    value = str(value)
    if kind == "duration":
        return parse_ms(value)
    if kind == "boolean":
        return value.lower() in ("true", "1", "yes", "on")
    if kind == "integer":
        return int(value)
    return value


# --- the files --------------------------------------------------------------------------------

@functools.lru_cache(maxsize=None)
def k8s_files():
    """{file name: [documents]} of deploy/k8s."""
    out = {}
    for name in sorted(os.listdir(K8S)):
        if name.endswith((".yaml", ".yml")):
            with open(os.path.join(K8S, name)) as f:
                out[name] = [d for d in yaml.safe_load_all(f) if d is not None]
    return out


def objects(kind=None):
    docs = [d for name, ds in k8s_files().items() if name != "kustomization.yaml" for d in ds]
    return [d for d in docs if kind is None or d.get("kind") == kind]


def one(kind, name):
    found = [d for d in objects(kind) if d["metadata"]["name"] == name]
    if len(found) != 1:
        raise AssertionError("expected one %s %s in deploy/k8s, found %d" % (kind, name, len(found)))
    return found[0]


def deployment():
    return one("Deployment", "cartd")


def pod_spec():
    return deployment()["spec"]["template"]["spec"]


def container():
    cs = [c for c in pod_spec()["containers"] if c["name"] == "cartd"]
    assert len(cs) == 1, "the Deployment has no container named cartd"
    return cs[0]


def container_ports():
    return {p["name"]: p["containerPort"] for p in container()["ports"]}


def container_env():
    """[(name, entry)] of the cartd container's env, in order."""
    return [(e["name"], e) for e in container().get("env", [])]


def env_from_names(kind):
    key = {"ConfigMap": "configMapRef", "Secret": "secretRef"}[kind]
    return [e[key]["name"] for e in container().get("envFrom", []) if key in e]


def configmap_data():
    data = {}
    for name in env_from_names("ConfigMap"):
        data.update(one("ConfigMap", name).get("data", {}))
    return data


def secret_data():
    data = {}
    for name in env_from_names("Secret"):
        s = one("Secret", name)
        data.update(s.get("stringData", {}))
        data.update(s.get("data", {}))
    return data


def startup_script():
    """The container's shell script (command sh -c, args[0]), or ""."""
    c = container()
    cmd = list(c.get("command", [])) + list(c.get("args", []))
    if len(cmd) >= 3 and cmd[0] in ("/bin/sh", "sh", "/bin/bash") and cmd[1] in ("-c", "-ec"):
        return cmd[2]
    return ""


def script_env_names(script):
    """CARTD_* names the start-up shell assigns or reads."""
    return set(ENV_REF.findall(script))


@functools.lru_cache(maxsize=None)
def dockerfile():
    """[(instruction, argument text)] with continuation lines joined, comments dropped."""
    with open(DOCKERFILE) as f:
        text = f.read()
    lines, buf = [], ""
    for raw in text.splitlines():
        s = raw.strip()
        if not buf and (not s or s.startswith("#")):
            continue
        if buf and s.startswith("#"):
            continue
        if s.endswith("\\"):
            buf += s[:-1] + " "
            continue
        buf += s
        instr, _, arg = buf.partition(" ")
        lines.append((instr.upper(), arg.strip()))
        buf = ""
    return lines


def dockerfile_stages():
    stages = []
    for instr, arg in dockerfile():
        if instr == "FROM":
            stages.append({"from": arg, "lines": []})
        elif stages:
            stages[-1]["lines"].append((instr, arg))
    return stages


def dockerfile_env(stage):
    env = {}
    for instr, arg in stage["lines"]:
        if instr != "ENV":
            continue
        for tok in shlex.split(arg):
            k, eq, v = tok.partition("=")
            if eq:
                env[k] = v
    return env


@functools.lru_cache(maxsize=None)
def compose():
    with open(COMPOSE) as f:
        return yaml.safe_load(f)


def compose_env(service):
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(item.partition("=")[::2] for item in env)
    return {k: "" if v is None else str(v) for k, v in env.items()}


def interpolate(value):
    """Compose's ${VAR:-default} / ${VAR-default} / ${VAR:?err} with the defaults (no .env)."""
    def sub(m):
        name, op, arg = m.group(1), m.group(2) or "", m.group(3) or ""
        if op in (":-", "-"):
            return arg
        return "x" * 32  # ${VAR}, ${VAR:?…}: a value the caller must give; any will do here
    return re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}", sub, value)


def cartd_services():
    out = {}
    for name, svc in compose()["services"].items():
        image = str(svc.get("image", ""))
        dockerfile_ = (svc.get("build") or {}).get("dockerfile", "") if isinstance(svc.get("build"), dict) else ""
        if image.split(":")[0] == "cartd" or dockerfile_.endswith("deploy/Dockerfile"):
            out[name] = svc
    return out


def http_get_probe(name):
    probe = container().get(name)
    assert probe and "httpGet" in probe, "the cartd container has no httpGet %s" % name
    return probe["httpGet"]


def resolve_port(port, ports):
    return ports.get(port) if isinstance(port, str) else port


def host_port(text):
    host, _, port = text.rpartition(":")
    return host, int(port)


def assert_effective(tc, keys, k2e, env, printed, where):
    """Every non-secret variable of `env` is what cartd printed as that key's effective value."""
    by_key = {k["key"]: k for k in printed}
    wrong = []
    for var, value in env.items():
        name = k2e.get(var)
        if name is None or keys[name]["secret"]:
            continue
        got = by_key.get(name, {}).get("value")
        try:
            ok = normalized(keys[name]["type"], got) == normalized(keys[name]["type"], value)
        except (ValueError, TypeError):
            ok = False
        if not ok:
            wrong.append("%s=%r is effective as %r" % (var, value, got))
    tc.assertEqual(wrong, [], "%s values cartd does not take as given" % where)


# --- Kubernetes -------------------------------------------------------------------------------

class KubernetesManifests(unittest.TestCase):
    def test_every_file_parses_and_kustomization_lists_them(self):
        files = k8s_files()
        self.assertTrue(files, "no manifests in deploy/k8s")
        for name, docs in files.items():
            self.assertTrue(docs, "%s is empty" % name)
            for d in docs:
                for field in ("apiVersion", "kind"):
                    self.assertIn(field, d, "%s: a document without %s" % (name, field))
                if d["kind"] != "Kustomization":
                    self.assertTrue(d.get("metadata", {}).get("name"), "%s: %s without a name"
                                    % (name, d["kind"]))
        with open(os.path.join(K8S, "kustomization.yaml")) as f:
            listed = set(yaml.safe_load(f)["resources"])
        self.assertEqual(listed, set(files) - {"kustomization.yaml"},
                         "kustomization.yaml resources differ from the files in deploy/k8s")

    def test_the_objects_are_there(self):
        for kind, name in [("Deployment", "cartd"), ("Service", "cartd"),
                           ("Service", "cartd-cluster"), ("Ingress", "cartd"),
                           ("HorizontalPodAutoscaler", "cartd"), ("PodDisruptionBudget", "cartd"),
                           ("ConfigMap", "cartd-config"), ("Secret", "cartd-secrets")]:
            one(kind, name)
        self.assertEqual(deployment()["spec"]["replicas"], 3)
        self.assertEqual(container()["image"], "cartd:latest")
        self.assertEqual(container_ports(), {"http": 8080, "cluster": 4000})
        self.assertEqual(one("HorizontalPodAutoscaler", "cartd")["apiVersion"], "autoscaling/v2")

    def test_envfrom_names_existing_configmap_and_secret(self):
        self.assertEqual(env_from_names("ConfigMap"), ["cartd-config"])
        self.assertEqual(env_from_names("Secret"), ["cartd-secrets"])

    def test_every_variable_is_a_cartd_key(self):
        known = env_to_key()
        bad = []
        for where, names in [("ConfigMap", configmap_data()), ("Secret", secret_data())]:
            bad += ["%s: %s" % (where, n) for n in names if n not in known]
        for n, _ in container_env():
            if n not in known and n not in NON_CONFIG_ENV:
                bad.append("Deployment env: %s" % n)
        bad += ["Deployment start-up shell: %s" % n
                for n in script_env_names(startup_script()) if n not in known]
        self.assertEqual(bad, [], "not configuration variables of cartd (typo? a key cartd "
                                  "does not have?)")

    def test_every_key_is_set_or_excluded_with_a_reason(self):
        keys = known_keys()
        k2e = {name: k["env"] for name, k in keys.items()}
        placed = set(configmap_data()) | set(secret_data())
        pod_env = {n for n, _ in container_env()} | script_env_names(startup_script())
        missing = []
        for name, env in sorted(k2e.items()):
            if name in EXCLUDED:
                continue
            if name in PER_POD:
                if env not in pod_env:
                    missing.append("%s (%s): per pod (%s) but not in the Deployment"
                                   % (name, env, PER_POD[name]))
                continue
            if env not in placed:
                missing.append("%s (%s)" % (name, env))
        self.assertEqual(missing, [], "keys of cartd set neither in the ConfigMap nor in the "
                                      "Secret (nor per pod, nor excluded in tests/ops)")
        stale = [k for k in list(EXCLUDED) + list(PER_POD) if k not in keys]
        self.assertEqual(stale, [], "tests/ops lists keys cartd does not have")
        for name in EXCLUDED:
            self.assertFalse(k2e[name] in placed | pod_env, "%s (%s) is excluded (%s) but set"
                             % (name, k2e[name], EXCLUDED[name]))
        for name in PER_POD:
            self.assertFalse(k2e[name] in placed, "%s (%s) is per pod (%s): not in the "
                             "ConfigMap/Secret" % (name, k2e[name], PER_POD[name]))

    def test_secrets_only_in_the_secret(self):
        keys = known_keys()
        secret_envs = {k["env"] for k in keys.values() if k["secret"]} | SECRET_ENV
        cm = configmap_data()
        literal_env = {n for n, e in container_env() if "value" in e}
        self.assertEqual(sorted(secret_envs & set(cm)), [], "secrets in the ConfigMap")
        self.assertEqual(sorted(secret_envs & literal_env), [], "secrets as literal env")
        unplaced = [e for e in secret_envs
                    if e not in secret_data() and env_to_key().get(e) not in EXCLUDED]
        self.assertEqual(sorted(unplaced), [], "secrets missing from the Secret")
        for k, v in secret_data().items():
            self.assertEqual(v, PLACEHOLDER, "%s: the Secret in git holds placeholders only" % k)
        for s in objects("Secret"):
            for k, v in (s.get("stringData") or {}).items():
                self.assertEqual(v, PLACEHOLDER, "%s/%s: placeholders only" % (s["metadata"]["name"], k))
            self.assertFalse(s.get("data"), "%s: use stringData placeholders, no data"
                             % s["metadata"]["name"])

    def test_cartd_accepts_the_configuration(self):
        """The ConfigMap, with valid stand-ins for the Secret and the per-pod values, is taken
        by cartd as written: every value shows up as the effective value."""
        keys = known_keys()
        k2e = env_to_key()
        with tempfile.TemporaryDirectory(prefix="cartd-ops-tls-") as tls_dir:
            env = dict(configmap_data())
            # The TLS files are mounted in the pod; here any readable file will do.
            for var in [v for v in env if v.startswith("CARTD_CLUSTER_TLS_")]:
                path = os.path.join(tls_dir, os.path.basename(env[var]))
                with open(path, "w") as f:
                    f.write("stand-in\n")
                env[var] = path
            stand_ins = {
                "CARTD_AUTH_JWT_SECRET": "k8s-test-secret-0123456789abcdef",
                "CARTD_STORE_URL": "postgresql://cartd:pw@127.0.0.1:1/cartd",
                "CARTD_REDIS_URL": "redis://127.0.0.1:1",
                "CARTD_AUTH_OPERATOR_TOKEN": "k8s-test-operator-token-0123456789",
                "CARTD_PAYMENTS_API_KEY": "test-key",
                "CARTD_PAYMENTS_WEBHOOK_SECRET": "test-webhook-secret",
            }
            for var in secret_data():
                env[var] = stand_ins.get(var, "stand-in-value-0123456789")
            env["CARTD_CLUSTER_NODE"] = "10.0.0.1:%d" % container_ports()["cluster"]
            env["CARTD_NODE_NAME"] = "cartd-7d9f8-abcde"
            env["CARTD_CLUSTER_SEEDS"] = "10.0.0.1:4000,10.0.0.2:4000,10.0.0.3:4000"
            rc, printed, err = run_config_print(env)
        self.assertEqual(rc, 0, "cartd refuses the ConfigMap: %s" % err.strip())
        assert_effective(self, keys, k2e, env, printed, "ConfigMap")

    def test_probes_hit_routes_on_the_http_port(self):
        known = routes()
        ports = container_ports()
        self.assertTrue("CARTD_HTTP_PORT" in configmap_data(), "the ConfigMap sets no CARTD_HTTP_PORT")
        http_port = int(configmap_data()["CARTD_HTTP_PORT"])
        self.assertEqual(ports["http"], http_port, "containerPort http vs CARTD_HTTP_PORT")
        expected = {"livenessProbe": "/api/v1/health", "readinessProbe": "/api/v1/health/ready"}
        for name in ("livenessProbe", "readinessProbe", "startupProbe"):
            if name == "startupProbe" and "startupProbe" not in container():
                continue
            get = http_get_probe(name)
            self.assertTrue("GET " + get["path"] in known, "%s path %s is not a GET route of "
                            "cartd (`cartd routes`)" % (name, get["path"]))
            self.assertEqual(resolve_port(get["port"], ports), http_port, "%s port" % name)
            if name in expected:
                self.assertEqual(get["path"], expected[name])

    def test_grace_period_covers_prestop_drain_and_request_timeout(self):
        cm = configmap_data()
        pre = container()["lifecycle"]["preStop"]["exec"]["command"]
        self.assertEqual(pre, ["/bin/sleep", "5"])
        sleep_ms = int(pre[1]) * 1000
        self.assertIn("CARTD_HTTP_DRAIN_PERIOD", cm)
        need = sleep_ms + parse_ms(cm["CARTD_HTTP_DRAIN_PERIOD"]) + parse_ms(cm["CARTD_HTTP_REQUEST_TIMEOUT"])
        grace = pod_spec()["terminationGracePeriodSeconds"] * 1000
        self.assertGreaterEqual(grace, need, "terminationGracePeriodSeconds")
        self.assertGreater(grace, need, "no margin left for the shutdown itself")

    def test_security_context(self):
        sc = container()["securityContext"]
        self.assertIs(sc.get("runAsNonRoot"), True)
        self.assertEqual(sc.get("runAsUser"), 10001)
        self.assertIs(sc.get("readOnlyRootFilesystem"), True)
        self.assertIs(sc.get("allowPrivilegeEscalation"), False)
        self.assertEqual(sc.get("capabilities", {}).get("drop"), ["ALL"])
        psc = pod_spec().get("securityContext", {})
        self.assertNotEqual(psc.get("runAsUser", 10001), 0)
        self.assertNotEqual(psc.get("runAsNonRoot", True), False)
        res = container()["resources"]
        for part in ("requests", "limits"):
            self.assertTrue({"cpu", "memory"} <= set(res.get(part, {})), "resources.%s" % part)
        volumes = {v["name"]: v for v in pod_spec()["volumes"]}
        tmp = [m for m in container()["volumeMounts"] if m["mountPath"] == "/tmp"]
        self.assertEqual(len(tmp), 1, "no volume at /tmp")
        self.assertIn("emptyDir", volumes[tmp[0]["name"]])

    def test_cluster_tls_files_come_from_a_mounted_secret(self):
        cm = configmap_data()
        tls = {v: p for v, p in cm.items() if v.startswith("CARTD_CLUSTER_TLS_")}
        if not tls:
            return  # no TLS between nodes: nothing to mount
        self.assertEqual(len(tls), 3, "cluster.tls_* go together: all three or none")
        volumes = {v["name"]: v for v in pod_spec()["volumes"]}
        for var, path in tls.items():
            mounts = [m for m in container()["volumeMounts"]
                      if os.path.dirname(path) == m["mountPath"].rstrip("/")]
            self.assertEqual(len(mounts), 1, "%s=%s: no volume mounted there" % (var, path))
            vol = volumes[mounts[0]["name"]]
            self.assertIn("secret", vol, "%s: not a Secret volume" % var)
            sec = one("Secret", vol["secret"]["secretName"])
            self.assertIn(os.path.basename(path), sec.get("stringData", {}) or sec.get("data", {}),
                          "%s: the Secret has no %s" % (var, os.path.basename(path)))
            # 10001 must be able to read it: fsGroup with a group-readable mode, or world-readable.
            mode = vol["secret"].get("defaultMode", 0o644)
            group_ok = pod_spec().get("securityContext", {}).get("fsGroup") == 10001 and mode & 0o040
            self.assertTrue(group_ok or mode & 0o004, "%s: unreadable for uid 10001" % var)

    def test_cluster_wiring(self):
        env = dict(container_env())
        ports = container_ports()
        self.assertEqual(env["POD_IP"]["valueFrom"]["fieldRef"]["fieldPath"], "status.podIP")
        names = [n for n, _ in container_env()]
        self.assertLess(names.index("POD_IP"), names.index("CARTD_CLUSTER_NODE"),
                        "$(POD_IP) expands only for variables defined before")
        self.assertEqual(env["CARTD_CLUSTER_NODE"]["value"], "$(POD_IP):%d" % ports["cluster"])
        self.assertIn("CARTD_NODE_NAME", env)
        headless = one("Service", env["CLUSTER_SERVICE"]["value"])
        self.assertEqual(headless["spec"].get("clusterIP"), "None")
        self.assertIs(headless["spec"].get("publishNotReadyAddresses"), True)
        hp = headless["spec"]["ports"]
        self.assertEqual([p["port"] for p in hp], [ports["cluster"]])
        self.assertEqual(resolve_port(hp[0].get("targetPort", hp[0]["port"]), ports), ports["cluster"])
        self.assertEqual(int(env["CLUSTER_PORT"]["value"]), ports["cluster"])
        self.assert_selects_pods(headless["spec"]["selector"], "headless Service")
        script = startup_script()
        self.assertIn("export CARTD_CLUSTER_SEEDS=", script)
        self.assertIn("$CLUSTER_SERVICE", script)
        self.assertRegex(script, r"(?m)^\s*exec /usr/local/bin/cartd serve\s*$",
                         "cartd must be PID 1 (exec) to get the SIGTERM")

    def test_startup_shell_turns_the_service_name_into_seeds(self):
        """The container's shell, run here with `localhost` for the headless Service and cartd
        replaced by an echo: the seeds are the resolved addresses with the cluster port."""
        script = startup_script()
        exec_line = "exec /usr/local/bin/cartd serve"
        self.assertIn(exec_line, script)
        script = script.replace(exec_line, 'echo "SEEDS=$CARTD_CLUSTER_SEEDS"')
        env = dict(container_env())
        run_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "CLUSTER_SERVICE": "localhost",
                   "CLUSTER_PORT": env["CLUSTER_PORT"]["value"],
                   "CARTD_CLUSTER_NODE": "10.255.0.1:" + env["CLUSTER_PORT"]["value"]}
        p = subprocess.run(["/bin/sh", "-c", script], env=run_env, capture_output=True, text=True,
                           timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)
        seeds = [l[6:] for l in p.stdout.splitlines() if l.startswith("SEEDS=")]
        self.assertEqual(seeds, ["127.0.0.1:" + env["CLUSTER_PORT"]["value"]], p.stdout)

    def assert_selects_pods(self, selector, what):
        labels = deployment()["spec"]["template"]["metadata"]["labels"]
        match = selector.get("matchLabels", selector) if isinstance(selector, dict) else {}
        self.assertTrue(match, "%s: empty selector" % what)
        for k, v in match.items():
            self.assertEqual(labels.get(k), v, "%s selects %s=%s, pods have %r" % (what, k, v, labels))

    def test_services_and_ingress_reach_existing_ports(self):
        ports = container_ports()
        self.assert_selects_pods(deployment()["spec"]["selector"], "Deployment selector")
        for svc in objects("Service"):
            self.assert_selects_pods(svc["spec"]["selector"], "Service " + svc["metadata"]["name"])
            for p in svc["spec"]["ports"]:
                target = p.get("targetPort", p["port"])
                self.assertIn(resolve_port(target, ports), ports.values(),
                              "Service %s targets port %r the container does not have"
                              % (svc["metadata"]["name"], target))
        api = one("Service", "cartd")
        self.assertEqual(api["spec"].get("type", "ClusterIP"), "ClusterIP")
        self.assertEqual([(p["port"], p["targetPort"]) for p in api["spec"]["ports"]], [(80, "http")])
        ing = one("Ingress", "cartd")
        self.assertEqual(ing["spec"]["ingressClassName"], "nginx")
        known = routes()
        for rule in ing["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                self.assertEqual(path["path"], "/api/v1")
                self.assertTrue([r for r in known if r.split(" ", 1)[1].startswith(path["path"] + "/")],
                                "no route of cartd under the Ingress path %s" % path["path"])
                be = path["backend"]["service"]
                svc = one("Service", be["name"])
                svc_ports = svc["spec"]["ports"]
                if "name" in be["port"]:
                    self.assertIn(be["port"]["name"], [p.get("name") for p in svc_ports])
                else:
                    self.assertIn(be["port"]["number"], [p["port"] for p in svc_ports])

    def test_hpa_and_pdb(self):
        hpa = one("HorizontalPodAutoscaler", "cartd")["spec"]
        self.assertEqual(hpa["scaleTargetRef"], {"apiVersion": "apps/v1", "kind": "Deployment",
                                                 "name": deployment()["metadata"]["name"]})
        kinds = {(m["type"], (m.get("resource") or m.get("pods", {}).get("metric", {})).get("name"))
                 for m in hpa["metrics"]}
        self.assertIn(("Resource", "cpu"), kinds)
        self.assertIn(("Pods", "cartd_http_requests_per_second"), kinds)
        pdb = one("PodDisruptionBudget", "cartd")["spec"]
        self.assertEqual(pdb["minAvailable"], 2)
        self.assert_selects_pods(pdb["selector"], "PodDisruptionBudget")
        # A node drain must be able to evict one pod at the smallest scale.
        self.assertGreater(hpa["minReplicas"], pdb["minAvailable"])
        self.assertGreaterEqual(hpa["maxReplicas"], hpa["minReplicas"])


# --- Dockerfile -------------------------------------------------------------------------------

class Dockerfile(unittest.TestCase):
    def test_multi_stage_on_debian_12_with_the_project_scripts(self):
        stages = dockerfile_stages()
        self.assertGreaterEqual(len([s for s in stages if s["from"].split()[0] == "debian:12"]), 2)
        self.assertEqual(len(stages), len([s for s in stages if s["from"].split()[0] == "debian:12"]),
                         "every stage on debian:12")
        build_runs = " ".join(a for s in stages[:-1] for i, a in s["lines"] if i == "RUN")
        self.assertIn("scripts/bootstrap", build_runs)
        self.assertIn("scripts/build", build_runs)
        runtime = stages[-1]
        runs = " ".join(a for i, a in runtime["lines"] if i == "RUN")
        self.assertNotIn("scripts/", runs, "the runtime stage builds nothing")
        self.assertIn("curl", runs, "HEALTHCHECK needs curl")
        self.assertTrue([a for i, a in runtime["lines"] if i == "COPY" and "--from=" in a],
                        "the runtime stage copies the binary from the build stage")

    def test_runs_as_a_non_root_user(self):
        runtime = dockerfile_stages()[-1]
        users = [a for i, a in runtime["lines"] if i == "USER"]
        self.assertTrue(users, "no USER")
        user = users[-1].split(":")[0]
        self.assertNotIn(user, ("root", "0"))
        self.assertEqual(user, str(container()["securityContext"]["runAsUser"]),
                         "the image's USER and the Deployment's runAsUser differ")

    def test_expose_healthcheck_entrypoint(self):
        runtime = dockerfile_stages()[-1]
        env = dockerfile_env(runtime)
        exposed = {int(p.split("/")[0]) for i, a in runtime["lines"] if i == "EXPOSE" for p in a.split()}
        self.assertEqual(exposed, set(container_ports().values()), "EXPOSE vs the container ports")
        http_port = int(env["CARTD_HTTP_PORT"] if "CARTD_HTTP_PORT" in env
                        else known_keys()["http.port"]["value"])
        self.assertIn(http_port, exposed)
        self.assertEqual(env.get("CARTD_HTTP_ADDRESS"), "0.0.0.0", "loopback is unreachable")
        hc = [a for i, a in runtime["lines"] if i == "HEALTHCHECK"]
        self.assertEqual(len(hc), 1)
        cmd = hc[0].split("CMD", 1)[1].strip()
        argv = json.loads(cmd) if cmd.startswith("[") else shlex.split(cmd)
        self.assertEqual(os.path.basename(argv[0]), "curl")
        urls = [a for a in argv if a.startswith("http")]
        self.assertEqual(len(urls), 1)
        u = urlparse(urls[0])
        self.assertEqual(u.port, http_port, "HEALTHCHECK port")
        self.assertTrue("GET " + u.path in routes(), "HEALTHCHECK path %s is not a GET route of "
                        "cartd (`cartd routes`)" % u.path)
        self.assertIn("-f", "".join(a for a in argv if a.startswith("-") and not a.startswith("--")),
                      "curl without -f passes on a 503")
        self.assertEqual([a for i, a in runtime["lines"] if i == "STOPSIGNAL"], ["SIGTERM"])
        ep = [json.loads(a) for i, a in runtime["lines"] if i == "ENTRYPOINT"]
        self.assertEqual(len(ep), 1)
        self.assertEqual(os.path.basename(ep[0][0]), "cartd")
        self.assertEqual(ep[0][1:], ["serve"])

    def test_env_is_known_configuration(self):
        known = env_to_key()
        for stage in dockerfile_stages()[-1:]:
            for var in dockerfile_env(stage):
                if var.startswith("CARTD_"):
                    self.assertIn(var, known, "Dockerfile ENV %s is not a key of cartd" % var)
                    self.assertNotIn(var, SECRET_ENV, "a secret baked into the image: %s" % var)

    def test_dockerignore(self):
        with open(os.path.join(ROOT, ".dockerignore")) as f:
            entries = {l.strip().rstrip("/") for l in f if l.strip() and not l.startswith("#")}
        for e in ("build", "data", ".git"):
            self.assertIn(e, entries, ".dockerignore lacks %s" % e)


# --- docker compose ---------------------------------------------------------------------------

class Compose(unittest.TestCase):
    def test_three_cartd_nodes_with_unique_addresses_and_seeds_naming_them(self):
        nodes = cartd_services()
        self.assertEqual(len(nodes), 3, "cartd services: %s" % sorted(nodes))
        addresses = {}
        for name, svc in nodes.items():
            env = compose_env(svc)
            node = env.get("CARTD_CLUSTER_NODE")
            self.assertTrue(node, "%s: no CARTD_CLUSTER_NODE" % name)
            host, port = host_port(node)
            self.assertEqual(host, name, "%s binds %s: its own service name expected" % (name, node))
            addresses[name] = node
        self.assertEqual(len(set(addresses.values())), 3, "CARTD_CLUSTER_NODE not unique")
        for name, svc in nodes.items():
            seeds = compose_env(svc).get("CARTD_CLUSTER_SEEDS", "").split(",")
            self.assertEqual(sorted(seeds), sorted(addresses.values()),
                             "%s: seeds must name the cartd services' cluster addresses" % name)
        secrets = {compose_env(svc).get("CARTD_AUTH_JWT_SECRET") for svc in nodes.values()}
        self.assertEqual(len(secrets), 1, "one JWT secret for every node")
        self.assertTrue(next(iter(secrets)), "no CARTD_AUTH_JWT_SECRET")

    def test_every_cartd_variable_is_a_key_and_accepted(self):
        known = env_to_key()
        keys = known_keys()
        for name, svc in cartd_services().items():
            env = compose_env(svc)
            bad = [v for v in env if v not in known]
            self.assertEqual(bad, [], "%s: not configuration variables of cartd" % name)
            excluded = [v for v in env if known[v] in EXCLUDED]
            self.assertEqual(excluded, [], "%s sets excluded keys" % name)
            resolved = {k: interpolate(v) for k, v in env.items()}
            rc, printed, err = run_config_print(resolved)
            self.assertEqual(rc, 0, "cartd refuses %s's environment: %s" % (name, err.strip()))
            assert_effective(self, keys, known, resolved, printed, name)

    def test_backends_health_and_order(self):
        services = compose()["services"]
        nodes = cartd_services()
        for needed in ("postgres", "redis", "nginx", "prometheus"):
            self.assertIn(needed, services)
        for name, svc in services.items():
            self.assertIn("healthcheck", svc, "%s: no healthcheck" % name)
        known = routes()
        for name, svc in nodes.items():
            env = {k: interpolate(v) for k, v in compose_env(svc).items()}
            store = urlparse(env["CARTD_STORE_URL"])
            self.assertIn(store.scheme, ("postgresql", "postgres"))
            self.assertIn(store.hostname, services, "%s: store host is not a service" % name)
            redis = urlparse(env["CARTD_REDIS_URL"])
            self.assertIn(redis.hostname, services, "%s: Redis host is not a service" % name)
            deps = svc.get("depends_on", {})
            for backend in (store.hostname, redis.hostname):
                self.assertEqual(deps.get(backend, {}).get("condition"), "service_healthy",
                                 "%s must wait for a healthy %s" % (name, backend))
            test = svc["healthcheck"]["test"]
            urls = [a for a in test if isinstance(a, str) and a.startswith("http")]
            self.assertEqual(len(urls), 1, "%s: healthcheck without one URL" % name)
            u = urlparse(urls[0])
            self.assertTrue("GET " + u.path in known, "%s: healthcheck path %s is not a GET route "
                            "of cartd" % (name, u.path))
            self.assertEqual(u.port, int(env.get("CARTD_HTTP_PORT", "8080")))
        nginx_deps = services["nginx"].get("depends_on", {})
        for name in nodes:
            self.assertEqual(nginx_deps.get(name, {}).get("condition"), "service_healthy",
                             "nginx must wait for a healthy %s" % name)

    def test_nginx_balances_over_the_three_nodes(self):
        mounts = [v for v in compose()["services"]["nginx"]["volumes"] if "nginx.conf" in v]
        self.assertEqual(len(mounts), 1)
        host_path = os.path.join(DEPLOY, mounts[0].split(":")[0])
        self.assertTrue(os.path.isfile(host_path), host_path)
        with open(host_path) as f:
            conf = re.sub(r"#[^\n]*", "", f.read())
        servers = set(re.findall(r"^\s*server\s+([A-Za-z0-9._-]+:\d+)", conf, re.M))
        expected = {"%s:%s" % (n, compose_env(s).get("CARTD_HTTP_PORT", "8080"))
                    for n, s in cartd_services().items()}
        self.assertEqual(servers, expected, "nginx upstream servers vs the cartd services")
        self.assertIn("proxy_next_upstream error timeout http_502 http_503 http_504;", conf)
        self.assertNotIn("non_idempotent", conf)

    def test_prometheus_mounts_deploy_prometheus(self):
        vols = compose()["services"]["prometheus"]["volumes"]
        mount = [v for v in vols if v.split(":")[1] == "/etc/prometheus"]
        self.assertEqual(len(mount), 1, "deploy/prometheus at /etc/prometheus")
        host_dir = os.path.normpath(os.path.join(DEPLOY, mount[0].split(":")[0]))
        self.assertEqual(host_dir, os.path.join(DEPLOY, "prometheus"))
        conf_path = os.path.join(host_dir, "prometheus.yml")
        self.assertTrue(os.path.isfile(conf_path), "%s is missing" % conf_path)
        with open(conf_path) as f:
            conf = yaml.safe_load(f)
        targets = {t for job in conf.get("scrape_configs", []) for sc in job.get("static_configs", [])
                   for t in sc.get("targets", [])}
        for name, svc in cartd_services().items():
            self.assertIn("%s:%s" % (name, compose_env(svc).get("CARTD_HTTP_PORT", "8080")), targets,
                          "Prometheus does not scrape %s" % name)
        for rf in conf.get("rule_files", []):
            if not any(c in rf for c in "*?["):
                self.assertTrue(os.path.isfile(os.path.join(host_dir, rf)), "rule file %s" % rf)


if __name__ == "__main__":
    unittest.main()
