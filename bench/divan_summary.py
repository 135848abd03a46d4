#!/usr/bin/env python3
"""Summarise `cargo bench --bench pipeline` output (divan tree) as a Markdown table:
median time, allocations and bytes allocated per iteration, for every bench and input, and the
cost per container from the two generated inputs (synth500 - synth10) / 490. Given several
outputs (several runs), the time shown is the median of the runs' medians.

    for i in 1 2 3; do cargo bench --bench pipeline > bench/out/divan.$i.txt; done
    python3 bench/divan_summary.py bench/out/divan.*.txt
"""
import re
import statistics
import sys

UNITS = {"ns": 1e-3, "µs": 1.0, "us": 1.0, "ms": 1e3, "s": 1e6}
SIZE = {"B": 1, "KB": 1e3, "MB": 1e6, "GB": 1e9}


def parse(path):
    rows = {}
    bench = case = None
    expect = None
    for raw in open(path, encoding="utf-8"):
        line = raw.rstrip("\n")
        m = re.match(r"^[├╰]─ (\w+)\s", line)
        if m:
            bench = m.group(1)
            continue
        m = re.match(r"^[│ ]  [├╰]─ (\w+)\s+([\d.]+) (ns|µs|us|ms|s)\s+│\s+([\d.]+) (ns|µs|us|ms|s)\s+│\s+([\d.]+) (ns|µs|us|ms|s)", line)
        if m and bench:
            case = m.group(1)
            rows[(bench, case)] = {"median_us": float(m.group(6)) * UNITS[m.group(7)]}
            expect = None
            continue
        if case is None:
            continue
        # The first column of a detail line, whatever tree drawing precedes it.
        first = re.sub(r"^[│\s]+", "", line).split("│")[0].strip()
        if first.endswith(":"):
            expect = first[:-1]
            continue
        if expect and first:
            r = rows[(bench, case)]
            if re.fullmatch(r"\d+", first):
                r[expect + "_n"] = int(first)
            else:
                m = re.fullmatch(r"([\d.]+) (B|KB|MB|GB)", first)
                if m:
                    r[expect + "_bytes"] = float(m.group(1)) * SIZE[m.group(2)]
                    expect = None
    return rows


def fmt_us(v):
    return "%.3f ms" % (v / 1000) if v >= 1000 else "%.1f µs" % v


def main():
    runs = [parse(p) for p in (sys.argv[1:] or ["bench/out/divan.txt"])]
    rows = {}
    for key in runs[0]:
        r = dict(runs[0][key])
        r["median_us"] = statistics.median(x[key]["median_us"] for x in runs if key in x)
        rows[key] = r
    print("(%d run%s)" % (len(runs), "" if len(runs) == 1 else "s"))
    print()
    benches = []
    for b, _ in rows:
        if b not in benches:
            benches.append(b)
    cases = ["fargate", "ec2", "synth10", "synth500"]
    print("| bench | " + " | ".join(cases) + " | per extra container (synth500 - synth10) / 490 |")
    print("|---|" + "---|" * (len(cases) + 1))
    for b in benches:
        cells = []
        for c in cases:
            r = rows.get((b, c))
            if not r:
                cells.append("n/a")
                continue
            allocs = r.get("alloc_n", 0) + r.get("grow_n", 0)
            cells.append("%s, %d allocs, %.1f KB" % (fmt_us(r["median_us"]), allocs, r.get("alloc_bytes", 0) / 1e3))
        a, z = rows.get((b, "synth10")), rows.get((b, "synth500"))
        if a and z:
            per = (z["median_us"] - a["median_us"]) / 490
            per_alloc = ((z.get("alloc_n", 0) + z.get("grow_n", 0)) - (a.get("alloc_n", 0) + a.get("grow_n", 0))) / 490
            cells.append("%.1f µs, %.1f allocs" % (per, per_alloc))
        else:
            cells.append("n/a")
        print("| %s | %s |" % (b, " | ".join(cells)))


if __name__ == "__main__":
    main()
