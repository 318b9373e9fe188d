#!/usr/bin/env python3
"""Folds `perf script` output into stacks and draws them as a flame graph (SVG), standard
library only (Debian 12 has no FlameGraph package).

    perf script -i perf.data | bench/flamegraph.py --title "add-item" --out add_item.svg \
        [--folded add_item.folded] [--top 25]

Prints the functions with the most samples on the stack (inclusive) and at its top
(exclusive), as percentages of all samples, so the figures can go in the README as text.
"""
import argparse
import collections
import html
import re
import sys

FRAME = re.compile(r"^\s*[0-9a-f]+\s+(.*?)\s+\((.*)\)\s*$")


def simplify(sym):
    """Keeps a C++ symbol readable: no argument lists, no template arguments, no offsets."""
    sym = re.sub(r"\+0x[0-9a-f]+$", "", sym)
    out, depth = [], 0
    for ch in sym:  # drop <...> and (...) contents
        if ch in "<(":
            depth += 1
            if depth == 1:
                out.append("<>" if ch == "<" else "()")
            continue
        if ch in ">)":
            depth = max(0, depth - 1)
            continue
        if depth == 0:
            out.append(ch)
    s = "".join(out).replace("()", "").replace("<>", "")
    return s.strip() or "[unknown]"


def read_stacks(stream):
    """Yields (thread name, [frames root..leaf]) for each sample of `perf script`."""
    header, frames = None, []
    for line in stream:
        line = line.rstrip("\n")
        if not line.strip():
            if header is not None and frames:
                yield header, list(reversed(frames))
            header, frames = None, []
            continue
        if header is None:
            header = line.split()[0] if line.split() else "?"
            continue
        m = FRAME.match(line)
        if m:
            sym, dso = m.group(1), m.group(2)
            if sym == "[unknown]":
                sym = "[" + dso.rsplit("/", 1)[-1] + "]"
            frames.append(simplify(sym))
    if header is not None and frames:
        yield header, list(reversed(frames))


def svg(folded, title, width=1400, row=16):
    total = sum(folded.values())
    root = {"n": 0, "kids": {}}
    for stack, n in folded.items():
        node = root
        node["n"] += n
        for f in stack:
            node = node["kids"].setdefault(f, {"n": 0, "kids": {}})
            node["n"] += n
    rects, maxdepth = [], 0

    def walk(node, x, depth):
        nonlocal maxdepth
        maxdepth = max(maxdepth, depth)
        for name, kid in sorted(node["kids"].items()):
            w = kid["n"] / total * width
            if w >= 0.5:
                rects.append((x, depth, w, name, kid["n"]))
                walk(kid, x, depth + 1)
            x += w

    walk(root, 0.0, 0)
    height = (maxdepth + 3) * row
    out = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="monospace" font-size="11">' % (width, height),
           '<rect width="100%%" height="100%%" fill="#fff"/><text x="4" y="%d">%s (%d samples)</text>' % (row - 4, html.escape(title), total)]
    for x, depth, w, name, n in rects:
        y = height - (depth + 1) * row
        h = (hash(name) & 0xFFFF) / 0xFFFF
        color = "rgb(%d,%d,%d)" % (220 + int(35 * h), 90 + int(110 * h), 40 + int(40 * (1 - h)))
        label = name if len(name) * 6.5 < w else name[: max(0, int(w / 6.5) - 2)] + ".." if w > 20 else ""
        out.append('<g><title>%s: %d samples (%.1f%%)</title><rect x="%.1f" y="%d" width="%.1f" height="%d" fill="%s" stroke="#fff" stroke-width="0.3"/>'
                   '<text x="%.1f" y="%d">%s</text></g>' % (html.escape(name), n, n * 100.0 / total, x, y, w, row - 1, color, x + 2, y + row - 4, html.escape(label)))
    out.append("</svg>")
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--title", default="cartd")
    ap.add_argument("--out", required=True)
    ap.add_argument("--folded")
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--thread-prefix", default="", help="keep samples of threads whose name starts so")
    a = ap.parse_args()
    folded = collections.Counter()
    for thread, frames in read_stacks(sys.stdin):
        if a.thread_prefix and not thread.startswith(a.thread_prefix):
            continue
        folded[tuple([thread.rstrip("0123456789-")] + frames)] += 1
    total = sum(folded.values())
    if not total:
        sys.exit("flamegraph: no samples")
    with open(a.out, "w") as f:
        f.write(svg(folded, a.title))
    if a.folded:
        with open(a.folded, "w") as f:
            for stack, n in sorted(folded.items(), key=lambda kv: -kv[1]):
                f.write(";".join(stack) + " %d\n" % n)
    inclusive, exclusive = collections.Counter(), collections.Counter()
    for stack, n in folded.items():
        for f in set(stack[1:]):
            inclusive[f] += n
        exclusive[stack[-1]] += n
    print("%d samples" % total)
    print("top of stack (self):")
    for f, n in exclusive.most_common(a.top):
        print("  %5.1f%%  %s" % (n * 100.0 / total, f))
    print("on the stack (inclusive):")
    for f, n in inclusive.most_common(a.top):
        print("  %5.1f%%  %s" % (n * 100.0 / total, f))


if __name__ == "__main__":
    main()
