#!/usr/bin/env python3
"""Host mode against a real Docker Engine: `ecs-exporter host --source docker` on the sandbox
daemon of tools/docker-sandbox (started by .ci/run), with two ECS-shaped "tasks" started by
`docker-sandbox run-task` (--cpus 0.25 --memory 64m --cpu-shares 256 each).

For every sandbox container it checks: present with its task ARN and container name; CPU seconds
growing between two scrapes; memory usage within 10 % of the kernel's cgroup file for that
container read at the same moment; and the limits equal to those given to `docker run`.

Usage: docker_host.py BINARY   (DOCKER_HOST=unix://... in the environment; run as root)
Exit 0 when every check passes; each failure is printed on its own line.
"""

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
SANDBOX = os.path.join(HERE, "..", "..", "tools", "docker-sandbox")
LINE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse(text):
    """Samples as a list of (name, {labels}, value)."""
    out = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = LINE.match(line)
        if not m:
            raise ValueError("bad line: " + line)
        labels = dict(LABEL.findall(m.group(2) or ""))
        out.append((m.group(1), labels, float(m.group(3))))
    return out


def value(samples, name, **want):
    got = [v for (n, l, v) in samples if n == name and all(l.get(k) == w for k, w in want.items())]
    return got[0] if len(got) == 1 else None


def cgroup_memory(cid):
    """The kernel's memory usage of a container: cgroup v1 memory.usage_in_bytes, or v2
    memory.current; None when neither is found."""
    for p in (
        f"/sys/fs/cgroup/memory/docker/{cid}/memory.usage_in_bytes",
        f"/sys/fs/cgroup/docker/{cid}/memory.current",
        f"/sys/fs/cgroup/system.slice/docker-{cid}.scope/memory.current",
    ):
        try:
            with open(p) as f:
                return int(f.read().strip())
        except OSError:
            continue
    return None


def scrape(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        return r.read().decode()


def main():
    binary = sys.argv[1]
    docker_host = os.environ["DOCKER_HOST"]
    tasks = {}
    for name, n, net in (("web", 2, "none"), ("worker", 3, "bridge")):
        out = subprocess.run([SANDBOX, "run-task", name, str(n), net], check=True, capture_output=True, text=True).stdout
        lines = out.strip().splitlines()
        arn = lines[0]
        tasks[arn] = [(l.split()[0], l.split()[1]) for l in lines[1:]]
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    exp = subprocess.Popen(
        [binary, "host", "--source", "docker", "--docker.host", docker_host,
         "--web.listen-address", f"127.0.0.1:{port}", "--metadata.cache-ttl", "0s"],
        stderr=subprocess.PIPE, text=True)
    failures = []
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        time.sleep(1.5)  # let the containers get past their start
        first = parse(scrape(port))
        kernel = {}
        for arn, cs in tasks.items():
            for cid, _ in cs:
                kernel[cid] = cgroup_memory(cid)
        time.sleep(2.0)
        second = parse(scrape(port))
        if value(first, "ecs_exporter_up") != 1.0:
            failures.append("ecs_exporter_up is not 1")
        for arn, cs in tasks.items():
            for i, (cid, dname) in enumerate(cs, start=1):
                who = f"{dname} ({cid[:12]})"
                cname = f"c{i}"
                info = [l for (n, l, v) in first if n == "ecs_container_info" and l.get("container_id") == cid]
                if len(info) != 1:
                    failures.append(f"{who}: ecs_container_info missing")
                    continue
                if info[0].get("task_arn") != arn or info[0].get("container_name") != cname:
                    failures.append(f"{who}: labels {info[0]}, want task_arn={arn} container_name={cname}")
                key = dict(task_arn=arn, container_name=cname)
                a = value(first, "ecs_container_cpu_usage_seconds_total", **key)
                b = value(second, "ecs_container_cpu_usage_seconds_total", **key)
                if a is None or b is None or not b > a:
                    failures.append(f"{who}: CPU seconds did not grow: {a} then {b}")
                mem = value(first, "ecs_container_memory_usage_bytes", **key)
                k = kernel.get(cid)
                if mem is None or k is None or abs(mem - k) > 0.10 * k:
                    failures.append(f"{who}: memory usage {mem}, kernel says {k} (10 % allowed)")
                # docker run --cpus 0.25 --memory 64m --cpu-shares 256:
                # 0.25 vCPU hard limit; 64 × 1048576 = 67108864 bytes; 256 / 1024 = 0.25 vCPU reserved.
                for fam, want in (("ecs_container_cpu_limit_vcpus", 0.25),
                                  ("ecs_container_memory_limit_bytes", 67108864.0),
                                  ("ecs_container_cpu_reserved_vcpus", 0.25)):
                    got = value(first, fam, **key)
                    if got != want:
                        failures.append(f"{who}: {fam} = {got}, want {want}")
                print(f"ok: {who}: task {arn.rsplit('/', 1)[1][:8]} {cname}, cpu {a:.3f} -> {b:.3f} s, "
                      f"memory {mem:.0f} vs kernel {k}, limits 0.25 vCPU / 64 MiB / 256 shares")
    finally:
        exp.terminate()
        exp.wait(timeout=10)
        for arn in tasks:
            subprocess.run([SANDBOX, "stop-task", arn], capture_output=True)
    for f in failures:
        print("FAIL: " + f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
