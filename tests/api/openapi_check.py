"""Checks an answer of the server against http/openapi.json (Python 3 standard library only).

`check(method, path, status, headers, body_bytes)` returns the list of violations (strings):
a status the operation does not list, a content type it does not describe, or a JSON body that
does not match the response's schema. Both test clients call it after every response and fail
the test that made the request when something is wrong (`CARTD_API_SCHEMA_CHECK=0` turns it
off; `=log` records without failing). `CARTD_API_SCHEMA_LOG=<file>` appends every violation
found to that file, one JSON line each.

The schema subset is the one the file uses: $ref to #/components/..., type (also a list of
types), nullable, properties, required, items, enum, oneOf/anyOf/allOf, additionalProperties,
pattern, minimum/maximum, minLength/maxLength, minItems/maxItems; format is ignored.
An object schema without `additionalProperties` is CLOSED: a field it does not list is a
violation ("field X not described"); `additionalProperties: true` or a schema opens it.

Not checked: paths matching no template (unknown routes), methods a path does not define
(405 answers), the bodies of /api/v1/openapi.json and /metrics, and 204/304 (no body).
"""
import json
import os
import re
import threading

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SPEC_PATH = os.path.join(ROOT, "http", "openapi.json")
METHODS = ("get", "put", "post", "patch", "delete", "head", "options")
SKIP_BODY = ("/api/v1/openapi.json", "/metrics")
NO_BODY = (204, 304)

_lock = threading.Lock()
_spec = None
_templates = None  # [(segments, literal count, path item)]


def mode():
    """'on' (violations fail the request), 'log' (recorded only) or 'off'."""
    v = os.environ.get("CARTD_API_SCHEMA_CHECK", "1").strip().lower()
    if v in ("0", "false", "off", "no"):
        return "off"
    return "log" if v == "log" else "on"


def _segments(path):
    # As the router splits a path: empty segments (a doubled or trailing slash) do not count.
    return [s for s in path.split("/") if s]


def _load():
    global _spec, _templates
    with _lock:
        if _spec is None:
            with open(SPEC_PATH, encoding="utf-8") as f:
                spec = json.load(f)
            base = spec.get("servers", [{"url": ""}])[0]["url"].rstrip("/")
            templates = []
            for path, item in spec.get("paths", {}).items():
                prefix = item.get("servers", [{"url": base}])[0]["url"].rstrip("/")
                segs = _segments(prefix + path)
                literal = sum(1 for s in segs if not (s.startswith("{") and s.endswith("}")))
                templates.append((segs, literal, path, item))
            _templates = templates
            _spec = spec
    return _spec


def find_operation(method, path):
    """(template, operation) for a request path (with its /api/v1 base, query allowed), or
    (template, None) when the path has no such method, or (None, None) for no template."""
    _load()
    segs = _segments(path.split("?", 1)[0].split("#", 1)[0])
    best = None
    for tsegs, literal, template, item in _templates:
        if len(tsegs) != len(segs):
            continue
        if all((t.startswith("{") and t.endswith("}")) or t == s for t, s in zip(tsegs, segs)):
            if best is None or literal > best[0]:
                best = (literal, template, item)
    if best is None:
        return None, None
    return best[1], best[2].get(method.lower())


def _resolve(schema):
    seen = 0
    while isinstance(schema, dict) and "$ref" in schema:
        ref = schema["$ref"]
        if not ref.startswith("#/"):
            raise ValueError("unsupported $ref %r" % ref)
        node = _spec
        for part in ref[2:].split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
        schema = node
        seen += 1
        if seen > 32:
            raise ValueError("$ref loop at %r" % ref)
    return schema


def _type_ok(t, v):
    if t == "null":
        return v is None
    if t == "boolean":
        return isinstance(v, bool)
    if t == "integer":
        return isinstance(v, int) and not isinstance(v, bool)
    if t == "number":
        return isinstance(v, (int, float)) and not isinstance(v, bool)
    if t == "string":
        return isinstance(v, str)
    if t == "array":
        return isinstance(v, list)
    if t == "object":
        return isinstance(v, dict)
    return True


def _describe(v):
    s = json.dumps(v)
    return s if len(s) <= 80 else s[:77] + "..."


def _object_shape(schema):
    """(properties, additional, required) of an object schema, allOf members merged:
    additional is None (closed), True (open) or a schema for the other fields."""
    schema = _resolve(schema)
    props = dict(schema.get("properties", {}))
    required = list(schema.get("required", []))
    additional = schema.get("additionalProperties")
    for member in schema.get("allOf", []):
        p, a, r = _object_shape(member)
        props.update({k: v for k, v in p.items() if k not in props})
        required += r
        if a is True or (a is not None and additional is None):
            additional = a
    if additional is False:
        additional = None
    return props, additional, required


def _nullable(schema):
    schema = _resolve(schema)
    t = schema.get("type")
    return schema.get("nullable") is True or t == "null" or (isinstance(t, list) and "null" in t)


def validate(schema, value, where="body"):
    """The violations of `value` against `schema` (a list of strings)."""
    out = []
    _validate(schema, value, where, out, closed=True)
    return list(dict.fromkeys(out))  # allOf members and their whole may both see a field


def _validate(schema, value, where, out, closed):
    schema = _resolve(schema)
    if schema is True or schema == {}:
        return
    if value is None and _nullable(schema):
        return
    t = schema.get("type")
    if t is not None:
        types = t if isinstance(t, list) else [t]
        if not any(_type_ok(x, value) for x in types):
            out.append("%s: %s is not %s" % (where, _describe(value), "|".join(types)))
            return
    if "enum" in schema and value not in schema["enum"]:
        out.append("%s: %s is not one of %s" % (where, _describe(value), _describe(schema["enum"])))
    for member in schema.get("allOf", []):
        # Members see the fields the whole allOf describes: closedness is judged below.
        _validate(member, value, where, out, closed=False)
    for key in ("oneOf", "anyOf"):
        if key in schema:
            results = []
            for member in schema[key]:
                errs = []
                _validate(member, value, where, errs, closed=True)
                results.append(errs)
            matched = sum(1 for r in results if not r)
            if matched == 0:
                best = min(results, key=len)
                out.append("%s: matches no %s branch (closest: %s)" % (where, key, "; ".join(best)))
            elif key == "oneOf" and matched > 1:
                out.append("%s: matches %d oneOf branches" % (where, matched))
    if isinstance(value, dict) and (t == "object" or "properties" in schema or "allOf" in schema
                                    or "additionalProperties" in schema):
        props, additional, required = _object_shape(schema)
        for name in required:
            if name not in value:
                out.append("%s: required field %s missing" % (where, name))
        for name, v in value.items():
            sub = "%s.%s" % (where, name)
            if name in props:
                _validate(props[name], v, sub, out, closed=True)
            elif isinstance(additional, dict):
                _validate(additional, v, sub, out, closed=True)
            elif additional is None and closed:
                out.append("%s: field %s not described" % (where, name))
    if isinstance(value, list):
        if "items" in schema:
            for i, v in enumerate(value):
                _validate(schema["items"], v, "%s[%d]" % (where, i), out, closed=True)
        if "minItems" in schema and len(value) < schema["minItems"]:
            out.append("%s: fewer than %s items" % (where, schema["minItems"]))
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            out.append("%s: more than %s items" % (where, schema["maxItems"]))
    if isinstance(value, str):
        if "pattern" in schema and not re.search(schema["pattern"], value):
            out.append("%s: %s does not match %s" % (where, _describe(value), schema["pattern"]))
        if "minLength" in schema and len(value) < schema["minLength"]:
            out.append("%s: shorter than %s" % (where, schema["minLength"]))
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            out.append("%s: longer than %s" % (where, schema["maxLength"]))
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            out.append("%s: %s below minimum %s" % (where, value, schema["minimum"]))
        if "maximum" in schema and value > schema["maximum"]:
            out.append("%s: %s above maximum %s" % (where, value, schema["maximum"]))


def _media_type(headers):
    for k, v in (headers or {}).items():
        if k.lower() == "content-type":
            return v.split(";", 1)[0].strip().lower()
    return ""


def _response_for(op, status):
    responses = op.get("responses", {})
    for key in (str(status), "%dXX" % (status // 100), "%dxx" % (status // 100), "default"):
        if key in responses:
            return _resolve(responses[key])
    return None


def check(method, path, status, headers, body_bytes):
    """The violations of one answer (an empty list when the file describes it)."""
    _load()
    template, op = find_operation(method, path)
    if op is None:
        return []
    what = "%s %s" % (method.upper(), template)
    response = _response_for(op, status)
    if response is None:
        return ["%s: status %s not described (described: %s)"
                % (what, status, ", ".join(sorted(op.get("responses", {}))))]
    if status in NO_BODY or not body_bytes:
        return []
    bare = path.split("?", 1)[0]
    if bare.rstrip("/") in SKIP_BODY:
        return []
    ctype = _media_type(headers)
    content = response.get("content")
    if not content:
        return ["%s %s: a %s body the file does not describe" % (what, status, ctype or "untyped")]
    media = content.get(ctype)
    if media is None:
        return ["%s %s: content-type %r not described (described: %s)"
                % (what, status, ctype, ", ".join(sorted(content)))]
    if "json" not in ctype or "schema" not in media:
        return []
    try:
        value = json.loads(body_bytes)
    except ValueError as e:
        return ["%s %s: body is not JSON (%s)" % (what, status, e)]
    return ["%s %s: %s" % (what, status, v) for v in validate(media["schema"], value)]


def record(method, path, status, violations, body_bytes):
    """Appends violations to CARTD_API_SCHEMA_LOG (when set)."""
    log = os.environ.get("CARTD_API_SCHEMA_LOG")
    if not log or not violations:
        return
    line = json.dumps({"method": method, "path": path, "status": status,
                       "violations": violations,
                       "body": (body_bytes or b"")[:500].decode("utf-8", "replace")})
    with _lock:
        with open(log, "a", encoding="utf-8") as f:
            f.write(line + "\n")


def enforce(method, path, status, headers, body_bytes):
    """What the clients call after each response: raises AssertionError on a violation."""
    if mode() == "off":
        return
    violations = check(method, path, status, headers, body_bytes)
    if not violations:
        return
    record(method, path, status, violations, body_bytes)
    if mode() == "on":
        raise AssertionError("%s %s answered %s, which http/openapi.json does not describe:\n  %s\n"
                             "body: %r" % (method, path, status, "\n  ".join(violations),
                                           (body_bytes or b"")[:500]))
