#!/usr/bin/env python3
"""Small measuring client for bench/compare and bench/soak (standard library only).

Subcommands (all traffic to the URLs given, which the scripts keep on 127.0.0.1):
  freeport                      print a free TCP port on 127.0.0.1
  first URL FIFO TIMEOUT_S      write a line to FIFO (the launcher waits on it, then execs the
                                exporter), then poll URL (new connection each try, every 1 ms) until
                                it answers 200; print milliseconds since the line was written
  quiet MAX_WAIT_S MIN_IDLE     wait until the machine is at least MIN_IDLE idle (0..1) over 2 s,
                                at most MAX_WAIT_S; print the idle fraction seen
  seq URL N                     N sequential GETs on one keep-alive connection (reconnects when the
                                server closes); print JSON: n, errors, p50_ms, p99_ms, mean_ms, wall_s,
                                cpu_s (the client's own CPU time)
  conc URL C SECONDS            C threads scraping for SECONDS (a fallback when wrk is missing);
                                print JSON: requests, errors, rps
  upstream SIM_URL              print the total of the simulator's /_sim/requests counts
  report TSV                    print the comparison table from the results file (medians per row)
  proc PID                      print JSON: rss_kib, hwm_kib, cpu_ticks (utime+stime) and cpu_ns
                                (schedstat's run time of every thread, in nanoseconds) of PID
  machine                       print the machine's busy and total CPU ticks (/proc/stat)
  synth FIXTURES N OUTDIR       write OUTDIR/task.json and OUTDIR/stats.json: one task of N
                                containers, the Fargate capture's running `prometheus` container
                                (FIXTURES/fargate_*) copied N times (benches/pipeline.rs's synth500
                                recipe), for bench/host-scale and bench/callgrind
"""

import http.client
import json
import os
import resource
import socket
import statistics
import sys
import threading
import time
import urllib.parse


def split(url):
    u = urllib.parse.urlsplit(url)
    return u.hostname, u.port or 80, (u.path or "/") + (("?" + u.query) if u.query else "")


def freeport():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    print(s.getsockname()[1])
    s.close()


def first(url, fifo, timeout_s):
    """Release the waiting launcher through FIFO, then poll URL until it answers 200."""
    host, port, path = split(url)
    with open(fifo, "w") as go:  # blocks until the launcher waits on the FIFO
        t0 = time.perf_counter_ns()
        go.write("go\n")
    deadline = time.monotonic() + float(timeout_s)
    while time.monotonic() < deadline:
        try:
            c = http.client.HTTPConnection(host, port, timeout=2)
            c.request("GET", path)
            r = c.getresponse()
            r.read()
            c.close()
            if r.status == 200:
                print("%.1f" % ((time.perf_counter_ns() - t0) / 1e6))
                return 0
        except (OSError, http.client.HTTPException):
            pass
        time.sleep(0.001)
    print("timeout")
    return 1


def quiet(max_wait_s, min_idle):
    """Wait (at most MAX_WAIT_S) until the CPUs were at least MIN_IDLE idle over 2 s; print it."""

    def snap():
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        return v[3] + v[4], sum(v)

    deadline = time.monotonic() + float(max_wait_s)
    while True:
        i0, t0 = snap()
        time.sleep(2)
        i1, t1 = snap()
        idle = (i1 - i0) / max(1, t1 - t0)
        if idle >= float(min_idle) or time.monotonic() >= deadline:
            print("%.2f" % idle)
            return 0


def seq(url, n):
    host, port, path = split(url)
    n = int(n)
    conn = http.client.HTTPConnection(host, port, timeout=30)
    lat = []
    errors = 0
    start = time.perf_counter()
    for _ in range(n):
        t = time.perf_counter_ns()
        try:
            conn.request("GET", path)
            r = conn.getresponse()
            r.read()
            if r.status != 200:
                errors += 1
            if r.will_close:
                conn.close()
        except (OSError, http.client.HTTPException):
            errors += 1
            conn.close()
            conn = http.client.HTTPConnection(host, port, timeout=30)
            continue
        lat.append((time.perf_counter_ns() - t) / 1e6)
    wall = time.perf_counter() - start
    conn.close()
    lat.sort()
    ru = resource.getrusage(resource.RUSAGE_SELF)
    out = {"n": n, "errors": errors, "wall_s": round(wall, 3), "cpu_s": round(ru.ru_utime + ru.ru_stime, 3)}
    if lat:
        out.update(
            p50_ms=round(lat[len(lat) // 2], 3),
            p99_ms=round(lat[min(len(lat) - 1, int(len(lat) * 0.99))], 3),
            mean_ms=round(statistics.fmean(lat), 3),
        )
    print(json.dumps(out))
    return 0


def conc(url, c, seconds):
    host, port, path = split(url)
    stop = time.monotonic() + float(seconds)
    counts = []
    lock = threading.Lock()

    def worker():
        ok = err = 0
        conn = http.client.HTTPConnection(host, port, timeout=30)
        while time.monotonic() < stop:
            try:
                conn.request("GET", path)
                r = conn.getresponse()
                r.read()
                if r.status == 200:
                    ok += 1
                else:
                    err += 1
                if r.will_close:
                    conn.close()
            except (OSError, http.client.HTTPException):
                err += 1
                conn.close()
                conn = http.client.HTTPConnection(host, port, timeout=30)
        with lock:
            counts.append((ok, err))

    start = time.monotonic()
    threads = [threading.Thread(target=worker) for _ in range(int(c))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.monotonic() - start
    ok = sum(a for a, _ in counts)
    err = sum(b for _, b in counts)
    print(json.dumps({"requests": ok, "errors": err, "rps": round(ok / wall, 1), "wall_s": round(wall, 3)}))
    return 0


def upstream(sim_url):
    host, port, _ = split(sim_url)
    c = http.client.HTTPConnection(host, port, timeout=5)
    c.request("GET", "/_sim/requests")
    r = c.getresponse()
    body = json.loads(r.read())
    c.close()
    print(sum(int(v) for v in body.values()))
    return 0


def machine():
    """Print the machine's busy and total CPU ticks so far (all CPUs, from /proc/stat).

    Busy is user + nice + system + steal: interrupt and softirq time is left out, since the
    loopback traffic of the measurement itself is processed there."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:9]]
    print(v[0] + v[1] + v[2] + v[7], sum(v))
    return 0


def sched_ns(pid):
    """CPU time of every thread of PID in nanoseconds (/proc/PID/task/*/schedstat), or None."""
    total = 0
    try:
        for t in os.listdir("/proc/%s/task" % pid):
            with open("/proc/%s/task/%s/schedstat" % (pid, t)) as f:
                total += int(f.read().split()[0])
    except OSError:
        return None
    return total


def proc(pid):
    status = {}
    with open("/proc/%s/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            status[k] = v.strip()
    with open("/proc/%s/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # After the comm field: state is fields[0]; utime and stime are stat fields 14 and 15.
    ticks = int(fields[11]) + int(fields[12])
    print(json.dumps({
        "rss_kib": int(status["VmRSS"].split()[0]),
        "hwm_kib": int(status["VmHWM"].split()[0]),
        "cpu_ticks": ticks,
        "cpu_ns": sched_ns(pid),
    }))
    return 0


# Rows of the comparison table: key, label, unit, how to format, and which way is better.
ROWS = [
    ("rss_idle_mib", "RSS idle (after first scrape + 1 s)", "MiB", "%.2f"),
    ("rss_peak_mib", "RSS peak (VmHWM) after load, 16 concurrent scrapers", "MiB", "%.2f"),
    ("rss_after_mib", "RSS after load (VmRSS)", "MiB", "%.2f"),
    ("cpu_us_per_scrape", "CPU per scrape (utime+stime / sequential scrapes)", "us", "%.0f"),
    ("p50_ms", "latency p50, sequential keep-alive scrapes", "ms", "%.3f"),
    ("p99_ms", "latency p99, sequential keep-alive scrapes", "ms", "%.3f"),
    ("rps_c8", "throughput, wrk -c8 -t2 -d10s", "scrapes/s", "%.0f"),
    ("up_per_scrape_seq", "upstream requests per scrape (sequential)", "req", "%.3f"),
    ("up_per_scrape_c8", "upstream requests per scrape (concurrency 8)", "req", "%.4f"),
    ("up_per_s_c16", "upstream requests per second, 16 concurrent scrapers", "req/s", "%.1f"),
    ("start_ms", "process start to first successful scrape", "ms", "%.1f"),
    ("foreign_cpu_pct", "(noise) other processes' CPU during the sequential scrapes", "% of machine", "%.1f"),
]

CONFIGS = [("ours", "ours (cache-ttl 1s, default)"), ("ours_ttl0", "ours (cache-ttl 0)"), ("peer", "peer (Python 2.3.0)")]


def report(tsv):
    vals = {}
    with open(tsv) as f:
        for line in f:
            parts = line.split()
            if len(parts) != 4:
                continue
            _run, cfg, key, v = parts
            try:
                vals.setdefault((cfg, key), []).append(float(v))
            except ValueError:
                pass
    runs = {}
    for (cfg, key), vs in vals.items():
        runs[cfg] = max(runs.get(cfg, 0), len(vs))

    def med(cfg, key):
        vs = vals.get((cfg, key))
        return statistics.median(vs) if vs else None

    def fmt(v, f):
        return "n/a" if v is None else f % v

    def ratio(a, b):
        if a is None or b is None or b == 0:
            return "n/a"
        r = a / b
        return ("%.3f" if r < 0.1 else "%.2f") % r + "x"

    head = ["metric", "unit"] + [label for _, label in CONFIGS] + ["ours/peer", "ours ttl0/peer"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for key, label, unit, f in ROWS:
        o, o0, p = med("ours", key), med("ours_ttl0", key), med("peer", key)
        print("| " + " | ".join([label, unit, fmt(o, f), fmt(o0, f), fmt(p, f), ratio(o, p), ratio(o0, p)]) + " |")
    print()
    print("Medians of %s runs (ours / ours ttl0 / peer)." % " / ".join(str(runs.get(c, 0)) for c, _ in CONFIGS))
    if not runs.get("peer"):
        print("The peer is MISSING: only our figures are shown.")
    return 0


def synth(fixtures, n, out):
    n = int(n)
    task = json.load(open(f"{fixtures}/fargate_task_metadata.json"))
    stats = json.load(open(f"{fixtures}/fargate_task_stats.json"))
    tpl = next(c for c in task["Containers"] if c["Name"] == "prometheus")
    tid = tpl["DockerId"].split("-")[0]
    cs, ss = [], {}
    for i in range(n):
        cid, name = f"{tid}-{1_000_000_000 + i:010}", f"app-{i:03}"
        cs.append(dict(tpl, DockerId=cid, Name=name, DockerName=name))
        ss[cid] = dict(stats[tpl["DockerId"]], id=cid, name=name)
    task["Containers"] = cs
    json.dump(task, open(f"{out}/task.json", "w"))
    json.dump(ss, open(f"{out}/stats.json", "w"))


def main(argv):
    if len(argv) < 2:
        print(__doc__)
        return 2
    cmd, args = argv[1], argv[2:]
    fn = {"freeport": freeport, "first": first, "seq": seq, "conc": conc,
          "upstream": upstream, "report": report, "proc": proc,
          "quiet": quiet, "machine": machine, "synth": synth}.get(cmd)
    if fn is None:
        print(__doc__)
        return 2
    return fn(*args) or 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
