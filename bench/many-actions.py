#!/usr/bin/env python3
"""Many actions on a small memory budget: 10,000 distinct hello actions deployed
on one wisp server, a few in steady use, the others called once in a while.

One run, two phases on the same data directory:

1. policy: `wisp serve --hot-budget-mb BUDGET` (the access-pattern policy evicts
   templates over the budget; their compiled code stays on disk);
2. baseline: the same server restarted with an unlimited budget, every action
   called once so every template stays in memory (what wisp did before the
   policy, and what a platform without one does).

Each phase: IN_USE actions are called in a steady SCMA loop while a sweep calls
SWEEP other actions once each (cold from disk under the policy). Prints the peak
server RSS of each phase against the 256 MiB target, the latency of hot calls and
of cold-from-disk calls, and checks that the in-use actions stayed hot.

Environment: ACTIONS (10000), IN_USE (20), SWEEP (2000), BUDGET_MB (64),
TARGET_MB (256), WISP (target/release/wisp), OUT (bench/results/many-actions.md).
"""

import base64
import concurrent.futures as cf
import json
import os
import re
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

ACTIONS = int(os.environ.get("ACTIONS", 10000))
IN_USE = int(os.environ.get("IN_USE", 20))
SWEEP = int(os.environ.get("SWEEP", 2000))
BUDGET_MB = int(os.environ.get("BUDGET_MB", 64))
TARGET_MB = int(os.environ.get("TARGET_MB", 256))
WISP = os.environ.get("WISP", "target/release/wisp")
OUT = os.environ.get("OUT", "bench/results/many-actions.md")
KEY = "bench:bench"
AUTH = "Basic " + base64.b64encode(KEY.encode()).decode()


def leb(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def section(sid, payload):
    return bytes([sid]) + leb(len(payload)) + payload


def vec(items):
    return leb(len(items)) + b"".join(items)


def name(s):
    return leb(len(s)) + s.encode()


def hello_module(i):
    """A WASI preview1 command printing {"hello": i}: distinct bytes per action,
    so each has its own compiled code."""
    text = json.dumps({"hello": i}).encode() + b"\n"
    i32 = 0x7F
    types = vec([
        bytes([0x60]) + vec([bytes([i32])] * 4) + vec([bytes([i32])]),  # fd_write
        bytes([0x60, 0, 0]),  # _start
    ])
    imports = vec([name("wasi_snapshot_preview1") + name("fd_write") + bytes([0x00]) + leb(0)])
    funcs = vec([leb(1)])
    memory = vec([bytes([0x00, 0x01])])
    exports = vec([name("memory") + bytes([0x02]) + leb(0), name("_start") + bytes([0x00]) + leb(1)])

    def const(v):
        return bytes([0x41]) + sleb(v)

    body = (
        const(0) + const(16) + bytes([0x36, 0x02, 0x00])  # iov.base = 16
        + const(4) + const(len(text)) + bytes([0x36, 0x02, 0x00])  # iov.len
        + const(1) + const(0) + const(1) + const(8) + bytes([0x10]) + leb(0) + bytes([0x1A])
        + bytes([0x0B])
    )
    code = vec([leb(len(body) + 1) + bytes([0]) + body])
    data = vec([bytes([0x00]) + const(16) + bytes([0x0B]) + leb(len(text)) + text])
    return (
        b"\0asm" + struct.pack("<I", 1)
        + section(1, types) + section(2, imports) + section(3, funcs) + section(5, memory)
        + section(7, exports) + section(10, code) + section(11, data)
    )


def sleb(v):
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if (v == 0 and not b & 0x40) or (v == -1 and b & 0x40):
            out.append(b)
            return bytes(out)
        out.append(b | 0x80)


def call(url, method="GET", body=None, ctype=None, timeout=60):
    req = urllib.request.Request(url, data=body, method=method)
    req.add_header("Authorization", AUTH)
    if ctype:
        req.add_header("Content-Type", ctype)
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return r.status, r.read()


class Server:
    def __init__(self, data_dir, budget_mb):
        self.proc = subprocess.Popen(
            [WISP, "serve", "--listen", "127.0.0.1:0", "--data-dir", data_dir, "--api-key", KEY,
             "--hot-budget-mb", str(budget_mb)],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = self.proc.stdout.readline()
        m = re.search(r"http://[0-9.:]+", line)
        if not m:
            raise SystemExit(f"wisp serve did not start: {line!r}")
        self.url = m.group(0)
        self.peak_kib = 0
        self._stop = False
        self._sampler = threading.Thread(target=self._sample, daemon=True)
        self._sampler.start()

    def rss_kib(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def _sample(self):
        while not self._stop:
            try:
                self.peak_kib = max(self.peak_kib, self.rss_kib())
            except OSError:
                return
            time.sleep(0.05)

    def action(self, n):
        return f"{self.url}/api/v1/namespaces/_/actions/hello-{n}"

    def invoke(self, n):
        """One blocking call; returns (latency ms, warmth)."""
        t = time.perf_counter()
        status, body = call(self.action(n) + "?blocking=true", "POST", b"{}", "application/json")
        ms = (time.perf_counter() - t) * 1000
        rec = json.loads(body)
        if status != 200 or rec["response"]["result"] != {"hello": n}:
            raise SystemExit(f"hello-{n} answered {status}: {body[:200]!r}")
        warmth = next(a["value"] for a in rec["annotations"] if a["key"] == "warmth")
        return ms, warmth

    def stop(self):
        self._stop = True
        self.proc.terminate()
        self.proc.wait(timeout=30)


def progress(label, done, total):
    if sys.stderr.isatty():
        print(f"\r{label}: {done}/{total}", end="" if done < total else "\n", file=sys.stderr, flush=True)
    elif done == total:
        print(f"{label}: {total}", file=sys.stderr)


def pct(xs, p):
    xs = sorted(xs)
    return xs[max(0, min(len(xs) - 1, int(-(-p * len(xs) // 100)) - 1))] if xs else float("nan")


def phase(s, label):
    """Steady in-use traffic while a sweep calls other actions once each."""
    in_use = list(range(IN_USE))
    sweep = list(range(IN_USE, min(ACTIONS, IN_USE + SWEEP)))
    hot, cold_disk, other = [], [], []
    in_use_cold = []
    stop = threading.Event()

    def steady():
        while not stop.is_set():
            for n in in_use:
                ms, w = s.invoke(n)
                (hot if w == "hot" else in_use_cold).append(ms)
            time.sleep(0.02)

    # Warm the in-use actions first, as their clients would.
    for n in in_use:
        s.invoke(n)
    t = threading.Thread(target=steady, daemon=True)
    t.start()
    for i, n in enumerate(sweep, 1):
        ms, w = s.invoke(n)
        (cold_disk if w == "cold-disk" else other).append((ms, w))
        if i % 100 == 0 or i == len(sweep):
            progress(f"{label}: sweep", i, len(sweep))
    time.sleep(1.5)  # a keeper pass after the sweep
    stop.set()
    t.join()
    still_hot = sum(1 for n in in_use if json.loads(call(s.action(n) + "/stats")[1])["memory"]["hot"])
    return {
        "peak_mib": s.peak_kib / 1024,
        "end_mib": s.rss_kib() / 1024,
        "hot": hot,
        "in_use_cold": in_use_cold,
        "cold_disk": [ms for ms, _ in cold_disk],
        "sweep_other": other,
        "still_hot": still_hot,
    }


def main():
    work = tempfile.mkdtemp(prefix="wisp-many-")
    data = os.path.join(work, "data")
    try:
        s = Server(data, BUDGET_MB)
        t0 = time.time()

        def deploy(n):
            status, body = call(s.action(n) + "?overwrite=true", "PUT", hello_module(n), "application/wasm")
            if status != 200:
                raise SystemExit(f"deploy hello-{n}: {status} {body[:200]!r}")

        with cf.ThreadPoolExecutor(4) as pool:
            for i, _ in enumerate(pool.map(deploy, range(ACTIONS)), 1):
                if i % 250 == 0 or i == ACTIONS:
                    progress("deploy", i, ACTIONS)
        deploy_s = time.time() - t0
        time.sleep(1.5)
        after_deploy = s.rss_kib() / 1024
        policy = phase(s, f"policy ({BUDGET_MB} MiB budget)")
        s.stop()

        s = Server(data, 1 << 20)
        base_after_start = s.rss_kib() / 1024
        # Without a budget every template called stays in memory: call them all.
        for n in range(ACTIONS):
            s.invoke(n)
            if (n + 1) % 250 == 0 or n + 1 == ACTIONS:
                progress("baseline: load every action", n + 1, ACTIONS)
        baseline = phase(s, "baseline (no budget)")
        s.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)

    def lat(xs):
        if not xs:
            return "- / - / -"
        return f"{pct(xs, 50):.2f} / {pct(xs, 99):.2f} / {max(xs):.2f}"

    lines = [
        f"# {ACTIONS:,} actions on a small memory budget\n",
        f"{ACTIONS:,} distinct hello actions (WASI commands, each its own compiled code), "
        f"deployed in {deploy_s:.0f} s ({ACTIONS / deploy_s:.0f}/s); {IN_USE} called in a steady loop "
        f"while {len(range(IN_USE, min(ACTIONS, IN_USE + SWEEP)))} others are called once each.\n",
        "| phase | peak RSS MiB | RSS at end MiB | vs target (" + str(TARGET_MB) + " MiB) | in-use actions hot at end | hot calls p50 / p99 / max ms | cold-from-disk calls p50 / p99 / max ms | in-use calls not hot |",
        "|---|---:|---:|---:|---:|---|---|---:|",
    ]
    for label, r in [(f"policy, budget {BUDGET_MB} MiB", policy), ("baseline: no budget, all loaded", baseline)]:
        lines.append(
            f"| {label} | {r['peak_mib']:.1f} | {r['end_mib']:.1f} | {r['peak_mib'] / TARGET_MB:.2f}x | "
            f"{r['still_hot']}/{IN_USE} | {lat(r['hot'])} | {lat(r['cold_disk'])} | {len(r['in_use_cold'])} |")
    lines += [
        "",
        f"- RSS after deploying all {ACTIONS:,}: {after_deploy:.1f} MiB (policy); baseline after restart, before loading: {base_after_start:.1f} MiB",
        f"- policy peak / baseline peak: **{policy['peak_mib'] / baseline['peak_mib']:.2f}x**",
        f"- target: peak RSS ≤ {TARGET_MB} MiB with the policy: **{'met' if policy['peak_mib'] <= TARGET_MB else 'not met'}** ({policy['peak_mib']:.1f} MiB)",
        f"- cold-from-disk / hot p50: {pct(policy['cold_disk'], 50) / pct(policy['hot'], 50):.1f}x" if policy["cold_disk"] and policy["hot"] else "- (no cold calls measured)",
    ]
    text = "\n".join(lines) + "\n"
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        f.write(text)
    print(text)


if __name__ == "__main__":
    main()
