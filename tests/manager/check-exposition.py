#!/usr/bin/env python3
"""Checks Prometheus text exposition (format 0.0.4) on stdin as Prometheus's parser reads it, and
more strictly: every family has # HELP and # TYPE before its samples, its samples are together, no
series twice, histograms have cumulative buckets ending in le="+Inf" equal to _count.
With python3-prometheus-client installed, its parser must read the text too.
Exit 0 when it passes; else the problems on stderr and exit 1."""
import math
import re
import sys

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"'
SAMPLE = re.compile(r"^(" + NAME + r")(\{(?:" + LABEL + r"(?:," + LABEL + r")*,?)?\})? (\S+)( -?[0-9]+)?$")
TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}
SUFFIXES = {"histogram": ("_bucket", "_sum", "_count"), "summary": ("_sum", "_count")}


def value_of(text):
    if text in ("+Inf", "-Inf", "NaN"):
        return float(text.replace("Inf", "inf").replace("NaN", "nan"))
    return float(text)


def family_of(name, types):
    for fam, kind in types.items():
        if name == fam:
            return fam
        if any(name == fam + s for s in SUFFIXES.get(kind, ())):
            return fam
    return name


def check_histogram(fam, samples, problems):
    series = {}
    for name, labels, value in samples:
        key = tuple(sorted((k, v) for k, v in labels.items() if k != "le"))
        series.setdefault(key, {"buckets": [], "count": None, "sum": None})
        if name == fam + "_bucket":
            if "le" not in labels:
                problems.append(f"{fam}: a bucket without le")
                continue
            series[key]["buckets"].append((value_of(labels["le"]), value))
        elif name == fam + "_count":
            series[key]["count"] = value
        elif name == fam + "_sum":
            series[key]["sum"] = value
    for key, s in series.items():
        b = s["buckets"]
        les = [le for le, _ in b]
        if not b or not math.isinf(les[-1]):
            problems.append(f"{fam}{dict(key)}: no le=\"+Inf\" bucket last")
            continue
        if les != sorted(les) or len(set(les)) != len(les):
            problems.append(f"{fam}{dict(key)}: le values not strictly ascending")
        counts = [c for _, c in b]
        if counts != sorted(counts):
            problems.append(f"{fam}{dict(key)}: buckets not cumulative")
        if s["count"] is None or s["sum"] is None:
            problems.append(f"{fam}{dict(key)}: _count or _sum missing")
        elif s["count"] != counts[-1]:
            problems.append(f"{fam}{dict(key)}: _count {s['count']} != +Inf bucket {counts[-1]}")


def check(text):
    problems = []
    helps, types, order, samples, seen = {}, {}, [], {}, set()
    if text and not text.endswith("\n"):
        problems.append("the text does not end with a newline")
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        if line.startswith("#"):
            parts = line.split(None, 3)
            if len(parts) >= 3 and parts[1] in ("HELP", "TYPE"):
                fam = parts[2]
                if not re.fullmatch(NAME, fam):
                    problems.append(f"line {n}: bad family name {fam!r}")
                table = helps if parts[1] == "HELP" else types
                if fam in table:
                    problems.append(f"line {n}: second # {parts[1]} for {fam}")
                if fam in samples:
                    problems.append(f"line {n}: # {parts[1]} for {fam} after its samples")
                value = parts[3] if len(parts) > 3 else ""
                if parts[1] == "TYPE" and value not in TYPES:
                    problems.append(f"line {n}: unknown type {value!r}")
                table[fam] = value
            continue
        m = SAMPLE.match(line)
        if not m:
            problems.append(f"line {n}: not a sample: {line!r}")
            continue
        name = m.group(1)
        labels = dict(re.findall(LABEL, m.group(2) or ""))
        try:
            value = value_of(m.group(7))
        except ValueError:
            problems.append(f"line {n}: bad value {m.group(7)!r}")
            continue
        fam = family_of(name, types)
        if fam not in types or fam not in helps:
            problems.append(f"line {n}: {name}: its family has no # HELP and # TYPE before it")
        if order and order[-1] != fam and fam in samples:
            problems.append(f"line {n}: {fam}'s samples are not together")
        if not order or order[-1] != fam:
            order.append(fam)
        series = (name, tuple(sorted(labels.items())))
        if series in seen:
            problems.append(f"line {n}: series {name}{labels} twice")
        seen.add(series)
        if types.get(fam) == "counter" and value < 0:
            problems.append(f"line {n}: counter {name} negative")
        samples.setdefault(fam, []).append((name, labels, value))
    for fam, kind in types.items():
        if kind == "histogram" and fam in samples:
            check_histogram(fam, samples[fam], problems)
    return problems


def main():
    text = sys.stdin.read()
    problems = check(text)
    try:
        from prometheus_client.parser import text_string_to_metric_families
    except ImportError:
        text_string_to_metric_families = None
    if text_string_to_metric_families:
        try:
            list(text_string_to_metric_families(text))
        except Exception as e:   # noqa: BLE001 - any parser error is a finding
            problems.append(f"prometheus_client: {e}")
    for p in problems:
        print(p, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
