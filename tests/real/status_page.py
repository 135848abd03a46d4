#!/usr/bin/env python3
"""The status page in a real headless browser (Debian's chromium): it renders (a screenshot is
taken and the DOM dumped after rendering), says the mode, upstream and last read, has no
scripts, and every link on it works (each is loaded in the browser too).

Usage: status_page.py BINARY
"""

import html.parser
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

CHROMIUM = os.environ.get("CHROMIUM", "chromium")


def browser(url, *extra):
    """The DOM chromium renders for `url`."""
    profile = tempfile.mkdtemp(prefix="chromium-")
    out = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-dev-shm-usage",
         f"--user-data-dir={profile}", "--virtual-time-budget=2000", *extra, "--dump-dom", url],
        capture_output=True, text=True, timeout=60)
    return out.stdout


class Links(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.links, self.scripts, self.cells = [], 0, {}
        self._cell = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "a" and "href" in a:
            self.links.append(a["href"])
        if tag == "script":
            self.scripts += 1
        if tag == "td" and "id" in a:
            self._cell = a["id"]
            self.cells[self._cell] = ""

    def handle_endtag(self, tag):
        if tag == "td":
            self._cell = None

    def handle_data(self, data):
        if self._cell:
            self.cells[self._cell] += data


def main():
    binary = sys.argv[1]
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    exp = subprocess.Popen([binary, "--demo", "--web.listen-address", f"127.0.0.1:{port}"], stderr=subprocess.DEVNULL)
    failures = []
    base = f"http://127.0.0.1:{port}/"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(base + "health", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        urllib.request.urlopen(base + "metrics", timeout=5).read()  # so there is a last read
        dom = browser(base)
        shot = os.path.join(tempfile.mkdtemp(), "status.png")
        browser(base, f"--screenshot={shot}", "--window-size=1024,768")
        if not os.path.exists(shot) or os.path.getsize(shot) < 2000:
            failures.append("no screenshot rendered")
        p = Links()
        p.feed(dom)
        if "<h1>ECS Exporter</h1>" not in dom:
            failures.append("heading not rendered: " + dom[:300])
        if p.scripts:
            failures.append(f"{p.scripts} script elements")
        if not p.cells.get("mode", "").startswith("sidecar (demo"):
            failures.append(f"mode: {p.cells.get('mode')!r}")
        if "/task" not in p.cells.get("upstream", ""):
            failures.append(f"upstream: {p.cells.get('upstream')!r}")
        if not p.cells.get("last-read", "").startswith("ok, "):
            failures.append(f"last read: {p.cells.get('last-read')!r}")
        want = {"metrics": "ecs_exporter_up 1", "health": "ok", "docs/metrics": "ecs_container_cpu_usage_seconds_total"}
        if len(p.links) < 3:
            failures.append(f"links: {p.links}")
        for href in p.links:
            url = urllib.parse.urljoin(base, href)
            with urllib.request.urlopen(url, timeout=5) as r:
                if r.status != 200:
                    failures.append(f"{href}: HTTP {r.status}")
            rendered = browser(url)
            key = url[len(base):]
            if key in want and want[key] not in rendered:
                failures.append(f"{href}: rendered without {want[key]!r}: {rendered[:200]!r}")
        print(f"ok: status page rendered in {CHROMIUM} ({os.path.getsize(shot) if os.path.exists(shot) else 0} byte "
              f"screenshot), mode {p.cells.get('mode')!r}, {len(p.links)} links all load")
    finally:
        exp.terminate()
        exp.wait(timeout=10)
    for f in failures:
        print("FAIL: " + f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
