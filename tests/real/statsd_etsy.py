#!/usr/bin/env python3
"""The StatsD push against a real StatsD daemon: Etsy's statsd 0.9.0 (npm), receiving plain
StatsD from the real binary (`--demo --statsd.format statsd`). The values are read back
through the daemon's management interface (`gauges` and `counters`) and compared with
`/metrics`.

How the two are lined up: the push and the scrapes share one upstream read for
--metadata.cache-ttl (900 ms here, the push interval 1 s). When a gauge in the daemon changes, a
push has just landed; a scrape made at once reuses that push's read, so it shows the very values
pushed. The daemon never flushes during the test (flushInterval 1 h), so a counter holds the sum
of the increases pushed since the first push: the value at the last push less the value at the
first (the first push sends no counters).

Usage: statsd_etsy.py BINARY STATSD_DIR   (STATSD_DIR holds node_modules/statsd)
"""

import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

ENTRY = re.compile(r"'?([A-Za-z0-9_.\-]+)'?: (-?[0-9][0-9.e+\-]*)")
SAMPLE = re.compile(r'^([a-z_]+)\{([^}]*)\} (\S+)$')


def free_port(kind=socket.SOCK_STREAM):
    s = socket.socket(socket.AF_INET, kind)
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def mgmt(port, cmd):
    """A management command's answer, as name → value."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as t:
        t.sendall(cmd.encode() + b"\n")
        buf = b""
        while b"END" not in buf:
            chunk = t.recv(65536)
            if not chunk:
                break
            buf += chunk
    return {k: float(v) for k, v in ENTRY.findall(buf.decode())}


def scrape(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        return r.read().decode()


def series(body):
    """(family, container_name, interface) → value for the sidecar demo's series."""
    out = {}
    for line in body.splitlines():
        m = SAMPLE.match(line)
        if not m:
            continue
        labels = dict(re.findall(r'([a-z_]+)="([^"]*)"', m.group(2)))
        out[(m.group(1), labels.get("container_name", ""), labels.get("interface", ""))] = float(m.group(3))
    return out


def key_of(statsd_key, prefix):
    """ecs.demo.demo-web.<task id>.web.container.cpu_usage_seconds → (family, container, iface)."""
    parts = statsd_key[len(prefix):].split(".")
    # cluster, family, task id, then [container], [interface], group, name
    rest = parts[3:]
    group, name = rest[-2], rest[-1]
    ident = rest[:-2]
    container = iface = ""
    if group == "container" and ident:
        container = ident[0]
    elif group == "network":
        # [container], [interface]: the rate gauges have no interface; shared namespaces no container.
        if len(ident) == 2 or (len(ident) == 1 and name.endswith("_per_second")):
            container = ident[0]
        if len(ident) == 2 or (len(ident) == 1 and not name.endswith("_per_second")):
            iface = ident[-1]
    fam = f"ecs_{group}_{name}"
    return fam, container, iface


def main():
    binary, statsd_dir = sys.argv[1], sys.argv[2]
    udp, mport, web = free_port(socket.SOCK_DGRAM), free_port(), free_port()
    cfg = tempfile.NamedTemporaryFile("w", suffix=".js", delete=False)
    cfg.write('{ port: %d, address: "127.0.0.1", mgmt_port: %d, mgmt_address: "127.0.0.1", '
              'flushInterval: 3600000, backends: [], deleteIdleStats: false }\n' % (udp, mport))
    cfg.close()
    log = tempfile.NamedTemporaryFile("w+", suffix=".log", delete=False)
    daemon = subprocess.Popen(["node", os.path.join(statsd_dir, "node_modules/statsd/stats.js"), cfg.name],
                              stdout=log, stderr=subprocess.STDOUT)
    exp = None
    failures = []
    try:
        for _ in range(100):
            if daemon.poll() is not None:
                raise SystemExit("FAIL: statsd exited: " + open(log.name).read())
            try:
                socket.create_connection(("127.0.0.1", mport), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        else:
            raise SystemExit("FAIL: statsd's management port never answered: " + open(log.name).read())
        exp = subprocess.Popen([binary, "--demo", "--web.listen-address", f"127.0.0.1:{web}",
                                "--statsd.address", f"127.0.0.1:{udp}", "--statsd.format", "statsd",
                                "--statsd.interval", "1s", "--metadata.cache-ttl", "900ms"],
                               stderr=subprocess.DEVNULL)
        prefix = "ecs."
        probe = None

        def wait_push(prev):
            """Wait for a push whose probe gauge differs from `prev`; return (gauges, body)."""
            end = time.time() + 10
            while time.time() < end:
                g = mgmt(mport, "gauges")
                nonlocal probe
                if probe is None:
                    probe = next((k for k in g if k.startswith(prefix) and k.endswith(".web.container.memory_usage_bytes")), None)
                if probe is not None and g.get(probe) != prev:
                    return g, scrape(web)
                time.sleep(0.02)
            raise SystemExit("FAIL: no push reached the daemon")

        g1, b1 = wait_push(None)
        first = series(b1)
        g, body = g1, b1
        for _ in range(3):
            g, body = wait_push(g[probe])
        counters = mgmt(mport, "counters")
        last = series(body)
        checked_g = checked_c = 0
        for k, v in g.items():
            if not k.startswith(prefix) or ".exporter." in k or "utilisation" in k or ".task." in k.split(".")[-2:-1]:
                continue
            fam, c, i = key_of(k, prefix)
            want = last.get((fam, c, i))
            if want is None:
                continue
            checked_g += 1
            if abs(want - v) > 1e-6 * max(1.0, abs(want)):
                failures.append(f"gauge {k}: daemon {v}, /metrics {want}")
        for k, v in counters.items():
            if not k.startswith(prefix) or k.split(".")[-2] == "task":
                continue
            fam, c, i = key_of(k, prefix)
            a, b = first.get((fam + "_total", c, i)), last.get((fam + "_total", c, i))
            if a is None or b is None:
                continue
            checked_c += 1
            if abs((b - a) - v) > 1e-6 * max(1.0, abs(b - a)):
                failures.append(f"counter {k}: daemon {v}, /metrics {b} - {a} = {b - a}")
        up = g.get(prefix + "exporter.up")
        if up != 1:
            failures.append(f"ecs.exporter.up = {up}")
        cpu = [k for k in counters if k.endswith(".web.container.cpu_usage_seconds")]
        if not cpu or counters[cpu[0]] <= 0:
            failures.append(f"the web container's CPU counter did not grow: {cpu and counters[cpu[0]]}")
        if checked_g < 10 or checked_c < 10:
            failures.append(f"too few values compared: {checked_g} gauges, {checked_c} counters")
        bad = mgmt(mport, "counters").get("statsd.bad_lines_seen", 0)
        if bad:
            failures.append(f"the daemon saw {bad} bad lines")
        print(f"ok: {checked_g} gauges and {checked_c} counters in Etsy statsd equal /metrics "
              f"(web CPU {cpu and counters[cpu[0]]:.6f} s over 3 pushes)")
    finally:
        if exp:
            exp.terminate()
            exp.wait(timeout=10)
        daemon.terminate()
        daemon.wait(timeout=10)
        os.unlink(cfg.name)
        os.unlink(log.name)
    for f in failures:
        print("FAIL: " + f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
