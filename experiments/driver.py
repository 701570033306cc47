#!/usr/bin/env python3
"""The experiments driver behind experiments/run.sh (see docs/experiments.md).

Phases, each printed as it goes:

1. setup: installs what the selected systems need (idempotent);
2. build: wisp, the examples, a static build of the workload CLI for containers;
3. check: one call per system and workload, compared byte for byte with the
   native `workload NAME < input` output;
4. Table 2: execution time (X-Compute-Ns) of sequential calls, all servers
   running side by side and called round-robin;
5. Tables 3-5: the three access patterns with `wisp load`; the docker gateway
   is restarted before each run so each run starts with no container;
6. cold starts: the first call after a fresh start against the next one;
7. burst: peak RSS growth under simultaneous calls (per-instance memory);
8. report: results.md, results.json, SVG plots, target checks.

Python 3.11 standard library only.
"""

from __future__ import annotations

import argparse
import base64
import datetime
import http.client
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import report  # noqa: E402  (next to this file)

ROOT = Path(__file__).resolve().parent.parent
EXP = ROOT / "experiments"
WORK = EXP / ".work"
BASELINES = EXP / "baselines"
BASELINE_WORK = WORK / "baselines"
BASELINE_IMAGE = "wisp-experiments-workload:latest"
BUILD = ROOT / "examples" / "build"
DATA = ROOT / "examples" / "workloads" / "data"
NATIVE_CLI = BUILD / "native" / "workload"
NATIVE_SERVER = BUILD / "native" / "workloads-native"
HTTP_WASM = BUILD / "workloads-http.wasm"
CLI_WASM = BUILD / "workloads-cli.wasm"
# The workload command linked statically against glibc (`+crt-static`), for the
# containers' empty rootfs: the same code and allocator as the native build
# (musl's allocator made the workloads up to 1.9x slower).
STATIC_TARGET_DIR = ROOT / "examples" / "target" / "static"
STATIC_CLI = STATIC_TARGET_DIR / "x86_64-unknown-linux-gnu" / "release" / "workload"
WASMTIME_VERSION = "48.0.8"
WASMTIME_CACHE = ROOT / "bench" / ".cache"
WASMTIME_BIN = WASMTIME_CACHE / f"wasmtime-{WASMTIME_VERSION}" / "bin" / "wasmtime"
DOCKER = os.environ.get("DOCKER", "/usr/bin/docker")
API_KEY = "experiments:experiments-secret"

ALL_SYSTEMS = ["wisp", "native", "node", "wasmtime", "docker", "runc", "crun"]
ALL_WORKLOADS = ["plate", "classify", "resize"]
CONTAINERS = ("docker", "runc", "crun")
# The sample input each workload is called with (the same file as its embedded
# default sample; the body is sent, as a device would send its picture).
INPUTS = {"plate": "plate.png", "classify": "digit-7.png", "resize": "photo.png"}
LABELS = {
    "native": "native (hyper)",
    "wisp": "wisp",
    "wisp-cgi": "wisp (wasip1 CGI, pre-initialized)",
    "wisp-cgi-noinit": "wisp (wasip1 CGI, no init)",
    "native-process": "native (fresh process)",
    "node": "Node.js (V8)",
    "wasmtime": "wasmtime serve",
    "wasmtime-epoch": "wasmtime serve -W timeout",
    "docker": "docker (OpenWhisk policy)",
    "runc": "runc (container per call)",
    "crun": "crun (container per call)",
}


@dataclass
class Mode:
    name: str
    t2_calls: int
    t2_warmup: int
    t2_workloads: list[str]
    pattern_workloads: list[str]
    # pattern -> (clients, calls per client, ramp seconds)
    patterns: dict[str, tuple[int, int, float]]
    burst: int
    cold_repeats: int
    max_duration: str = "120s"


MODES = {
    "tiny": Mode("tiny", 3, 1, ["plate"], ["plate"],
                 {"scma": (1, 3, 0.0), "mcsa": (3, 1, 0.3), "mcma": (2, 2, 0.2)}, 4, 1, "30s"),
    "quick": Mode("quick", 30, 5, ALL_WORKLOADS, ["plate"],
                  {"scma": (1, 25, 0.0), "mcsa": (25, 1, 5.0), "mcma": (5, 5, 5.0)}, 25, 3),
    "full": Mode("full", 100, 10, ALL_WORKLOADS, ALL_WORKLOADS,
                 {"scma": (1, 25, 0.0), "mcsa": (25, 1, 5.0), "mcma": (5, 5, 5.0)}, 25, 5),
}

T0 = time.monotonic()


class Failure(Exception):
    """An error that ends the run with a message and no traceback."""


def log(msg: str) -> None:
    el = time.monotonic() - T0
    print(f"[{int(el // 60):02d}:{el % 60:04.1f}] {msg}", file=sys.stderr, flush=True)


def run(cmd, *, env=None, cwd=ROOT, what=None, capture=False, input_bytes=None):
    """Runs a command; raises Failure with its output when it fails."""
    what = what or " ".join(str(c) for c in cmd)
    r = subprocess.run(
        [str(c) for c in cmd], cwd=cwd, env=env, input=input_bytes,
        stdout=subprocess.PIPE if capture else None,
        stderr=subprocess.PIPE if capture else None,
    )
    if r.returncode != 0:
        detail = ""
        if capture:
            detail = (r.stdout or b"")[-2000:].decode(errors="replace") + (r.stderr or b"")[-2000:].decode(errors="replace")
        raise Failure(f"{what} failed (exit {r.returncode})\n{detail}")
    return r


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS / VmHWM of a process in KiB ({} once it is gone)."""
    out = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM"):
                out[k] = int(v.split()[0])
    except OSError:
        pass
    return out


def proc_pss_kib(pid: int) -> int | None:
    """Proportional set size (shared pages divided among their users), KiB."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def reset_hwm(pid: int) -> bool:
    """Resets a process's peak RSS (VmHWM) to its current RSS."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def nearest_rank(sorted_vals: list[float], p: float) -> float:
    if not sorted_vals:
        return float("nan")
    k = max(1, -(-len(sorted_vals) * p // 100))
    return sorted_vals[int(min(k, len(sorted_vals))) - 1]


# ---------------------------------------------------------------- processes

class Proc:
    """A server process started by the driver, detached from its terminal (setsid)."""

    live: list["Proc"] = []

    def __init__(self, name: str, cmd: list, log_path: Path, env=None, url_re=r"http://[0-9.]+:\d+"):
        self.name = name
        self.log_path = log_path
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self.log_file = open(log_path, "ab")
        self.p = subprocess.Popen(
            [str(c) for c in cmd], cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
            stdout=self.log_file, stderr=subprocess.STDOUT, start_new_session=True,
        )
        Proc.live.append(self)
        self.url_re = url_re

    @property
    def pid(self) -> int:
        return self.p.pid

    def wait_url(self, start_size: int, timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.log_path.read_bytes()[start_size:].decode(errors="replace")
            m = re.search(self.url_re, text)
            if m:
                return m.group(0).rstrip("/")
            if self.p.poll() is not None:
                raise Failure(f"{self.name} exited with {self.p.returncode} before listening; log {self.log_path}:\n{text[-2000:]}")
            time.sleep(0.05)
        raise Failure(f"{self.name} did not print its URL within {timeout:.0f} s; log {self.log_path}")

    def stop(self, timeout: float = 60) -> None:
        if self.p.poll() is None:
            try:
                os.kill(self.p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.p.wait(timeout)
            except subprocess.TimeoutExpired:
                log(f"{self.name} (pid {self.p.pid}) did not stop in {timeout:.0f} s; killing its process group")
                try:
                    os.killpg(self.p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.p.wait()
        self.log_file.close()
        if self in Proc.live:
            Proc.live.remove(self)


def start_proc(name: str, cmd: list, log_path: Path, env=None, url_re=r"http://[0-9.]+:\d+") -> tuple[Proc, str]:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    size = log_path.stat().st_size if log_path.exists() else 0
    proc = Proc(name, cmd, log_path, env=env, url_re=url_re)
    try:
        url = proc.wait_url(size)
    except BaseException:
        proc.stop(10)
        raise
    return proc, url


def http_call(conn_box: list, host: str, port: int, method: str, path: str, body: bytes,
              headers: dict, timeout: float = 120) -> tuple[int, dict, bytes, float]:
    """One call on a kept-alive connection (reconnecting once if it was closed).
    Returns status, lower-cased headers, body, latency in ms."""
    for attempt in (0, 1):
        if conn_box[0] is None:
            conn_box[0] = http.client.HTTPConnection(host, port, timeout=timeout)
        conn = conn_box[0]
        t = time.perf_counter()
        try:
            conn.request(method, path, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
        except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError, http.client.CannotSendRequest):
            conn.close()
            conn_box[0] = None
            if attempt:
                raise
            continue
        ms = (time.perf_counter() - t) * 1000
        hdrs = {k.lower(): v for k, v in resp.getheaders()}
        if resp.getheader("connection", "").lower() == "close":
            conn.close()
            conn_box[0] = None
        return resp.status, hdrs, data, ms
    raise AssertionError("unreachable")


def get_json(url: str, auth: str | None = None, method: str = "GET") -> dict:
    req = urllib.request.Request(url, method=method)
    if auth:
        req.add_header("Authorization", "Basic " + base64.b64encode(auth.encode()).decode())
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read() or b"{}")


# ---------------------------------------------------------------- systems

class System:
    """One system under test: a server on 127.0.0.1 answering the workloads."""

    name = ""
    counts_cold = False  # has a notion of cold starts

    def __init__(self, ctx: "Ctx"):
        self.ctx = ctx
        self.proc: Proc | None = None
        self.url = ""
        self.logs = ctx.work / "logs"

    # lifecycle
    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        if self.proc:
            self.proc.stop()
            self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()

    # calls
    def target(self, workload: str) -> tuple[str, bytes, dict]:
        """(URL, body, headers) of a call to workload with its sample input."""
        return (f"{self.url}/{workload}", self.ctx.inputs[workload], {"Content-Type": "image/png"})

    def output(self, body: bytes) -> bytes:
        return body

    def load_body_file(self, workload: str) -> Path:
        return DATA / INPUTS[workload]

    def cold_counter(self, workload: str) -> dict | None:
        return None

    def memory(self) -> dict:
        st = proc_status(self.proc.pid) if self.proc else {}
        return {"server_hwm_kib": st.get("VmHWM"), "server_rss_kib": st.get("VmRSS")}


class Native(System):
    name = "native"

    def start(self):
        self.proc, self.url = start_proc("workloads-native", [NATIVE_SERVER, "--listen", "127.0.0.1:0"],
                                         self.logs / "native.log")


class Node(System):
    name = "node"

    def start(self):
        self.proc, self.url = start_proc("node-server", ["node", "--single-threaded-gc", EXP / "node-server.mjs", CLI_WASM,
                                                          "--listen", "127.0.0.1:0"], self.logs / "node.log")


class Wasmtime(System):
    """`wasmtime serve`; with `timeout`, `-W timeout=60s`, which compiles the
    component with epoch interruption (as wisp does, for its time limits)."""

    name = "wasmtime"

    def __init__(self, ctx, timeout=False):
        super().__init__(ctx)
        self.timeout = timeout
        if timeout:
            self.name = "wasmtime-epoch"

    def start(self):
        extra = ["-W", "timeout=60s"] if self.timeout else []
        self.proc, self.url = start_proc("wasmtime serve", [WASMTIME_BIN, "serve", "-S", "cli", *extra, "--addr",
                                                             "127.0.0.1:0", HTTP_WASM],
                                         self.logs / f"{self.name}.log")


class Wisp(System):
    """wisp serve; the http component deployed as `workloads`, the WASI command
    as `workloads-cgi` (Table 2 only)."""

    name = "wisp"
    counts_cold = True

    def __init__(self, ctx, action="workloads"):
        super().__init__(ctx)
        self.action = action
        self.data_dir = ctx.work / "wisp-data"

    def start(self):
        self.proc, self.url = start_proc(
            "wisp serve",
            [self.ctx.wisp_bin, "serve", "--listen", "127.0.0.1:0", "--data-dir", self.data_dir, "--api-key", API_KEY],
            self.logs / "wisp.log", url_re=r"(?<=wisp listening on )http://[0-9.]+:\d+")
        # Deployed once per run, on the first start; later starts (restarts on
        # the same data directory) find the actions there.
        if not self.ctx.wisp_deployed:
            env = dict(os.environ, WISP_SERVER=self.url, WISP_API_KEY=API_KEY)
            # The command exports `wizer-initialize` (it parses the classifier's
            # weights): `workloads-cgi` runs its snapshot, `workloads-cgi-noinit`
            # the same binary from scratch.
            for name, module, extra in (("workloads", HTTP_WASM, []), ("workloads-cgi", CLI_WASM, []),
                                        ("workloads-cgi-noinit", CLI_WASM, ["--no-init"])):
                run([self.ctx.wisp_bin, "deploy", name, module, *extra], env=env, capture=True,
                    what=f"wisp deploy {name}")
            self.ctx.wisp_deployed = True

    def target(self, workload, action=None):
        return (f"{self.url}/fn/{action or self.action}/{workload}", self.ctx.inputs[workload],
                {"Content-Type": "image/png"})

    def stats(self, action=None) -> dict:
        return get_json(f"{self.url}/api/v1/namespaces/_/actions/{action or self.action}/stats", API_KEY)

    def cold_counter(self, workload):
        c = self.stats()["calls"]
        return {"cold": c["cold_disk"] + c["cold_compiled"], "cold_disk": c["cold_disk"],
                "cold_compiled": c["cold_compiled"], "hot": c["hot"], "calls": c["calls"]}


class Gateway(System):
    """experiments/baselines/gateway.py with the workload CLI in the container."""

    counts_cold = True

    def __init__(self, ctx, backend: str):
        super().__init__(ctx)
        self.name = backend
        self.port = 0
        self.network = None
        self.body_files: dict[str, Path] = {}

    def start(self):
        self.port = free_port()
        cmd = [sys.executable, BASELINES / "gateway.py", "--backend", self.name, "--host", "127.0.0.1",
               "--port", self.port]
        if self.name == "docker":
            if self.network is None:
                ok = subprocess.run([DOCKER, "network", "inspect", "bridge"], stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL).returncode == 0
                self.network = "bridge" if ok else "host"
            # OpenWhisk's default keep-alive (10 min) is longer than any run here:
            # containers stay warm for the whole run, and the gateway is restarted
            # before each run so that each run starts without containers.
            cmd += ["--keep-alive", "600", "--image", BASELINE_IMAGE, "--docker", DOCKER,
                    "--docker-network", self.network, "--container-port-base", "24000"]
        else:
            # One state directory per runtime, reused by every gateway of a run
            # (they never run at the same time), rather than one per port.
            cmd += ["--bundle", BASELINE_WORK / "bundle", "--state-root", f"/run/wisp-baselines/experiments-{self.name}"]
        self.proc = Proc(f"{self.name} gateway", cmd, self.logs / f"gateway-{self.name}.log")
        base = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                get_json(base + "/health")
                break
            except (OSError, urllib.error.URLError):
                if self.proc.p.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise Failure(f"{self.name} gateway did not come up; see {self.logs}/gateway-{self.name}.log")
                time.sleep(0.1)
        self.url = base

    def body(self, workload: str) -> bytes:
        doc = {"value": {"input": base64.b64encode(self.ctx.inputs[workload]).decode(), "args": [workload]}}
        return json.dumps(doc).encode()

    def target(self, workload):
        return (f"{self.url}/run", self.body(workload), {"Content-Type": "application/json"})

    def output(self, body):
        doc = json.loads(body)
        if "output" not in doc:
            raise Failure(f"{self.name}: unexpected answer {body[:300]!r}")
        return base64.b64decode(doc["output"])

    def load_body_file(self, workload):
        p = self.ctx.work / f"body-{workload}.json"
        p.write_bytes(self.body(workload))
        return p

    def cold_counter(self, workload):
        s = get_json(self.url + "/stats")
        return {"cold": s["cold_starts"], "warm": s["warm_starts"], "requests": s["requests"],
                "cold_start_ms_mean": (s.get("cold_start_ms") or {}).get("mean")}

    def memory(self):
        m = super().memory()
        m = {"gateway_hwm_kib": m["server_hwm_kib"], "gateway_rss_kib": m["server_rss_kib"]}
        if self.name == "docker" and self.proc:
            m.update(docker_memory(self.proc.pid, self.port))
        return m


def docker_memory(gw_pid: int, gw_port: int) -> dict:
    """Memory of the containers a docker gateway started (they are idle in its
    pool after a run): each container's memory cgroup peak and current usage,
    and the PSS of its containerd shim and docker-proxy processes."""
    label = f"wisp-baseline.gateway={gw_pid}-{gw_port}"
    r = subprocess.run([DOCKER, "ps", "-q", "--no-trunc", "--filter", f"label={label}"],
                       capture_output=True, text=True)
    ids = r.stdout.split()
    peak = cur = 0
    found = 0
    for cid in ids:
        for d in (Path(f"/sys/fs/cgroup/memory/docker/{cid}"), Path(f"/sys/fs/cgroup/system.slice/docker-{cid}.scope")):
            try:
                if (d / "memory.max_usage_in_bytes").exists():
                    peak += int((d / "memory.max_usage_in_bytes").read_text())
                    cur += int((d / "memory.usage_in_bytes").read_text())
                else:
                    peak += int((d / "memory.peak").read_text())
                    cur += int((d / "memory.current").read_text())
                found += 1
                break
            except OSError:
                continue
    shim = proxy = 0
    want = set(ids)
    for pdir in Path("/proc").iterdir():
        if not pdir.name.isdigit():
            continue
        try:
            argv = (pdir / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        exe = os.path.basename(argv[0].decode(errors="replace"))
        if exe.startswith("containerd-shim"):
            args = [a.decode(errors="replace") for a in argv]
            if "-id" in args and args[args.index("-id") + 1] in want:
                shim += proc_pss_kib(int(pdir.name)) or 0
        elif exe == "docker-proxy" and ids:
            args = [a.decode(errors="replace") for a in argv]
            if "-host-port" in args and 24000 <= int(args[args.index("-host-port") + 1]) < 44000:
                proxy += proc_pss_kib(int(pdir.name)) or 0
    return {"containers": len(ids), "containers_with_cgroup": found,
            "containers_peak_kib": peak // 1024, "containers_now_kib": cur // 1024,
            "shims_pss_kib": shim, "proxies_pss_kib": proxy}


# ---------------------------------------------------------------- context

@dataclass
class Ctx:
    mode: Mode
    systems: list[str]
    out: Path
    work: Path
    wisp_bin: Path
    setup: bool
    build: bool
    inputs: dict[str, bytes] = field(default_factory=dict)
    expected: dict[str, bytes] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    started_dockerd: bool = False
    wisp_deployed: bool = False


# ---------------------------------------------------------------- setup and build

def docker_up() -> bool:
    return subprocess.run([DOCKER, "info"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0


def have(cmd: str) -> bool:
    return shutil.which(cmd) is not None


def setup_and_build(ctx: Ctx) -> None:
    sel = set(ctx.systems)
    if ctx.setup:
        log("setup: scripts/setup.sh (rustup wasm targets, clang, wasi-libc, emscripten; installs only what is missing)")
        run([ROOT / "scripts" / "setup.sh"], what="scripts/setup.sh")
        if "node" in sel and not have("node"):
            log("setup: installing nodejs (apt)")
            sudo = [] if os.geteuid() == 0 else ["sudo"]
            run([*sudo, "apt-get", "update", "-qq"])
            run([*sudo, "apt-get", "install", "-y", "-qq", "nodejs"],
                env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
        if "wasmtime" in sel and not WASMTIME_BIN.exists():
            log(f"setup: installing wasmtime-cli {WASMTIME_VERSION} into {WASMTIME_CACHE} (once; about 10 minutes)")
            run(["cargo", "install", "--locked", "--quiet", "wasmtime-cli", "--version", WASMTIME_VERSION,
                 "--no-default-features", "--features",
                 "run,serve,cranelift,pooling-allocator,parallel-compilation,wat,component-model-async",
                 "--root", WASMTIME_CACHE / f"wasmtime-{WASMTIME_VERSION}"],
                env=dict(os.environ, CARGO_TARGET_DIR=str(WASMTIME_CACHE / "wasmtime-target")),
                what="cargo install wasmtime-cli")
    if ctx.build:
        log("build: cargo build --release -p wisp")
        run(["cargo", "build", "--release", "--quiet", "-p", "wisp"], what="cargo build -p wisp")
        log("build: scripts/build-examples.sh (workloads-http.wasm, workloads-cli.wasm, native builds)")
        run([ROOT / "scripts" / "build-examples.sh"], capture=True, what="scripts/build-examples.sh")
        if sel & set(CONTAINERS):
            log("build: the workload CLI for containers (statically linked: glibc, +crt-static)")
            run(["cargo", "build", "--quiet", "--release", "--manifest-path", ROOT / "examples" / "Cargo.toml",
                 "--target-dir", STATIC_TARGET_DIR, "--target", "x86_64-unknown-linux-gnu", "-p", "workloads-cli"],
                env=dict(os.environ, RUSTFLAGS="-C target-feature=+crt-static"),
                what="static build of workloads-cli")

    for p, what in ((ctx.wisp_bin, "wisp (cargo build --release -p wisp)"),
                    (HTTP_WASM, "scripts/build-examples.sh"), (CLI_WASM, "scripts/build-examples.sh"),
                    (NATIVE_CLI, "scripts/build-examples.sh"), (NATIVE_SERVER, "scripts/build-examples.sh")):
        if not Path(p).exists():
            raise Failure(f"{p} is missing: build it ({what}) or run without --no-build")

    def drop(name, why):
        if name in ctx.systems:
            ctx.systems.remove(name)
            ctx.notes.append(f"{name} skipped: {why}")
            log(f"skipping {name}: {why}")

    if "node" in sel and not have("node"):
        drop("node", "node is not installed")
    if "wasmtime" in sel and not WASMTIME_BIN.exists():
        drop("wasmtime", f"{WASMTIME_BIN} is not installed (run without --no-setup to install it)")
    wanted = [c for c in CONTAINERS if c in ctx.systems]
    if wanted:
        setup_containers(ctx, wanted, drop)


def setup_containers(ctx: Ctx, wanted: list[str], drop) -> None:
    env = dict(os.environ, BASELINE_WORK=str(BASELINE_WORK), BASELINE_IMAGE=BASELINE_IMAGE,
               FUNCTION_BIN=str(STATIC_CLI), DOCKER=DOCKER)
    rootfs = BASELINE_WORK / "bundle" / "rootfs"
    if not STATIC_CLI.exists():
        for c in wanted:
            drop(c, f"{STATIC_CLI} is not built (run without --no-build)")
        return
    missing = [c for c in wanted if not have(c if c != "docker" else "dockerd")]
    had_docker = docker_up() if "docker" in wanted and not missing else True
    action_src = BASELINES / "action" / "src" / "main.rs"
    stale = (
        not (BASELINE_WORK / "bundle" / "config.json").exists()
        or not (rootfs / "function").exists()
        or (rootfs / "function").read_bytes() != STATIC_CLI.read_bytes()
        or not (rootfs / "action").exists()
        or (rootfs / "action").stat().st_mtime < action_src.stat().st_mtime
    )
    if "docker" in wanted and not missing and had_docker:
        img = subprocess.run([DOCKER, "image", "inspect", BASELINE_IMAGE], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL).returncode == 0
        stale = stale or not img
    need = stale or missing or ("docker" in wanted and not had_docker)
    if need:
        if not ctx.setup:
            for c in wanted:
                drop(c, "container baseline not set up (run without --no-setup)")
            return
        log("setup: experiments/baselines/run.sh setup (docker.io, runc, crun if missing; rootfs with the "
            "workload CLI as /function; OCI bundle; docker image; starts dockerd if it is down)")
        run([BASELINES / "run.sh", "setup"], env=env, what="experiments/baselines/run.sh setup")
        if "docker" in wanted and not had_docker and (BASELINE_WORK / "pids" / "dockerd.pid").exists():
            ctx.started_dockerd = True
    if "docker" in wanted and not docker_up():
        drop("docker", "dockerd is not running")


def stop_dockerd(ctx: Ctx) -> None:
    if ctx.started_dockerd:
        log("stopping the dockerd this run started")
        env = dict(os.environ, BASELINE_WORK=str(BASELINE_WORK), BASELINE_IMAGE=BASELINE_IMAGE)
        subprocess.run([BASELINES / "run.sh", "stop"], env=env, cwd=ROOT)
        ctx.started_dockerd = False


# ---------------------------------------------------------------- phases

def make_system(ctx: Ctx, name: str) -> System:
    if name == "native":
        return Native(ctx)
    if name == "node":
        return Node(ctx)
    if name == "wasmtime":
        return Wasmtime(ctx)
    if name == "wasmtime-epoch":
        return Wasmtime(ctx, timeout=True)
    if name == "wisp":
        return Wisp(ctx)
    return Gateway(ctx, name)


def call_once(sys_: System, workload: str, conn_box: list, target=None) -> tuple[bytes, int | None, float, dict]:
    url, body, headers = target or sys_.target(workload)
    u = urllib.parse.urlsplit(url)
    try:
        status, hdrs, data, ms = http_call(conn_box, u.hostname, u.port, "POST", u.path, body, headers)
    except (OSError, http.client.HTTPException) as e:
        gone = ""
        if sys_.proc and sys_.proc.p.poll() is not None:
            gone = f"; the server exited with status {sys_.proc.p.returncode} (log {sys_.proc.log_path})"
        raise Failure(f"{sys_.name}: POST {url} failed: {e!r}{gone}") from e
    if status != 200:
        raise Failure(f"{sys_.name}: POST {url} answered {status}: {data[:300]!r}")
    ns = hdrs.get("x-compute-ns")
    return data, int(ns) if ns is not None else None, ms, hdrs


def check_outputs(ctx: Ctx, systems: dict[str, System], workloads: list[str]) -> dict:
    """One call per system and workload; the output must equal the native CLI's."""
    checked = {}
    for name, s in systems.items():
        box = [None]
        targets = [(w, None) for w in workloads]
        if name == "wisp":
            targets += [(w, s.target(w, a)) for a in ("workloads-cgi", "workloads-cgi-noinit") for w in workloads]
        for w, tgt in targets:
            data, _, ms, _ = call_once(s, w, box, tgt)
            out = s.output(data)
            label = name if tgt is None else ("wisp-cgi-noinit" if "noinit" in tgt[0] else "wisp-cgi")
            if out != ctx.expected[w]:
                raise Failure(f"{label}: the {w} output ({len(out)} bytes) differs from the native CLI's "
                              f"({len(ctx.expected[w])} bytes)")
            checked[f"{label}/{w}"] = {"bytes": len(out), "ms": round(ms, 3)}
        if box[0]:
            box[0].close()
    return checked


def native_process_call(ctx: Ctx, workload: str) -> tuple[int, float]:
    """Runs the native `workload` once as a CGI program, a fresh process per
    call: the library starts with nothing cached (the classifier parses its
    weights, the allocator starts empty), as in a fresh wasm instance. Returns
    its X-Compute-Ns and the process's wall time (spawn and exit included)."""
    body = ctx.inputs[workload]
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "REQUEST_METHOD": "POST", "PATH_INFO": f"/{workload}",
           "CONTENT_LENGTH": str(len(body)), "CONTENT_TYPE": "image/png"}
    t = time.perf_counter()
    r = subprocess.run([NATIVE_CLI], input=body, env=env, capture_output=True)
    ms = (time.perf_counter() - t) * 1000
    head, sep, out = r.stdout.partition(b"\r\n\r\n")
    m = re.search(rb"(?im)^x-compute-ns:\s*(\d+)", head)
    if r.returncode != 0 or not sep or not m:
        raise Failure(f"native {workload} as a CGI program failed (exit {r.returncode}): {r.stderr[-300:]!r}")
    if out != ctx.expected[workload]:
        raise Failure(f"native {workload} as a CGI program: output differs from the command's")
    return int(m.group(1)), ms


def table2(ctx: Ctx) -> dict:
    """Execution time: X-Compute-Ns of sequential calls, round-robin over the
    servers (all running side by side) so that drifts in machine load hit all
    of them alike."""
    names = [n for n in ("native", "wisp", "node", "wasmtime") if n in ctx.systems]
    if not names:
        return {}
    if "wasmtime" in names:
        names.append("wasmtime-epoch")
    systems = {n: make_system(ctx, n) for n in names}
    try:
        for s in systems.values():
            s.start()
        workloads = ctx.mode.t2_workloads
        log(f"check: every system's output equals the native CLI's ({', '.join(names)}; {', '.join(workloads)})")
        check_outputs(ctx, systems, workloads)
        rows = {}
        cols = list(names)
        if "native" in names:
            cols.insert(cols.index("native") + 1, "native-process")
        if "wisp" in names:
            cols.insert(cols.index("wisp") + 1, "wisp-cgi")
            cols.insert(cols.index("wisp-cgi") + 1, "wisp-cgi-noinit")
        for w in workloads:
            log(f"table 2: {w}: {ctx.mode.t2_warmup} warm-up + {ctx.mode.t2_calls} calls per system, round-robin")
            boxes = {c: [None] for c in cols}
            samples = {c: [] for c in cols}
            lat = {c: [] for c in cols}

            def target(c):
                if c in ("wisp-cgi", "wisp-cgi-noinit"):
                    action = "workloads-cgi" if c == "wisp-cgi" else "workloads-cgi-noinit"
                    return systems["wisp"], systems["wisp"].target(w, action)
                return systems[c], None

            for i in range(ctx.mode.t2_warmup + ctx.mode.t2_calls):
                for c in cols:
                    if c == "native-process":
                        ns, ms = native_process_call(ctx, w)
                    else:
                        s, tgt = target(c)
                        _, ns, ms, _ = call_once(s, w, boxes[c], tgt)
                    if ns is None:
                        raise Failure(f"{c}: no X-Compute-Ns header in the {w} answer")
                    if i >= ctx.mode.t2_warmup:
                        samples[c].append(ns / 1e6)
                        lat[c].append(ms)
            for c in cols:
                xs, ls = sorted(samples[c]), sorted(lat[c])
                # What a call costs beyond the library call, paired per call.
                over = sorted(a - b for a, b in zip(lat[c], samples[c]))
                rows.setdefault(w, {})[c] = {
                    "n": len(xs), "median_ms": nearest_rank(xs, 50), "p90_ms": nearest_rank(xs, 90),
                    "min_ms": xs[0], "call_median_ms": nearest_rank(ls, 50),
                    "overhead_median_ms": nearest_rank(over, 50), "samples_ms": samples[c], "calls_ms": lat[c],
                }
            for b in boxes.values():
                if b[0]:
                    b[0].close()
        return rows
    finally:
        for s in systems.values():
            s.stop()


def wisp_load(ctx: Ctx, url: str, pattern: str, shape: tuple[int, int, float], body_file: Path,
              content_type: str, out_json: Path) -> dict:
    clients, calls, ramp = shape
    cmd = [ctx.wisp_bin, "load", url, "--pattern", pattern, "-X", "POST", "--data", f"@{body_file}",
           "-H", f"Content-Type: {content_type}", "--json", out_json, "--no-progress",
           "--max-duration", ctx.mode.max_duration]
    if pattern != "scma":
        cmd += ["--clients", str(clients), "--ramp", f"{int(round(ramp * 1000))}ms"]
    if pattern != "mcsa":
        cmd += ["--calls", str(calls)]
    out_json.parent.mkdir(parents=True, exist_ok=True)
    run(cmd, capture=True, what=f"wisp load {pattern} {url}")
    return json.loads(out_json.read_text())


def patterns(ctx: Ctx) -> list[dict]:
    """Tables 3-5. The in-process servers (wisp, native, Node.js, wasmtime
    serve) are started once, called once per workload (the output check), and
    then serve every run in their deployed, idle state; their peak-RSS counter
    is reset before each run. The docker gateway is restarted before each run,
    so every run starts with no container, as an OpenWhisk invoker does after
    its keep-alive; runc and crun gateways are restarted too (their counters and
    memory then cover one run)."""
    names = [n for n in ALL_SYSTEMS if n in ctx.systems]
    systems = {n: make_system(ctx, n) for n in names}
    results = []
    try:
        inproc = [n for n in names if n not in CONTAINERS]
        for n in inproc:
            systems[n].start()
        if inproc:
            log(f"check: outputs of {', '.join(inproc)} ({', '.join(ctx.mode.pattern_workloads)})")
            check_outputs(ctx, {n: systems[n] for n in inproc}, ctx.mode.pattern_workloads)
        for n in names:
            if n in CONTAINERS:
                log(f"check: {n}: the output from the container equals the native CLI's "
                    f"({', '.join(ctx.mode.pattern_workloads)})")
                systems[n].start()
                check_outputs(ctx, {n: systems[n]}, ctx.mode.pattern_workloads)
                systems[n].stop()
        for w in ctx.mode.pattern_workloads:
            for pattern, shape in ctx.mode.patterns.items():
                for n in names:
                    s = systems[n]
                    if n in CONTAINERS:
                        s.start()
                    else:
                        reset_hwm(s.proc.pid)
                    clients, calls, ramp = shape
                    log(f"{pattern.upper()} {w}: {LABELS[n]}: {clients} client(s) x {calls} call(s), "
                        f"ramp {ramp:g} s")
                    url, _, headers = s.target(w)
                    before = s.cold_counter(w) if s.counts_cold else None
                    rep = wisp_load(ctx, url, pattern, shape, s.load_body_file(w), headers["Content-Type"],
                                    ctx.out / "raw" / f"{w}-{pattern}-{n}.json")
                    after = s.cold_counter(w) if s.counts_cold else None
                    mem = s.memory()
                    row = {"workload": w, "pattern": pattern, "system": n, "shape": list(shape),
                           "summary": rep["summary"], "memory": mem, "run_id": rep.get("run_id")}
                    # Mean of the calls after each client's first one (that one opens
                    # the client's connection and, on docker, may start a container).
                    later = [c["latency_ms"] for c in rep.get("calls", [])
                             if c.get("seq", 0) >= 1 and c.get("error") is None and c.get("latency_ms") is not None]
                    row["mean_after_first_ms"] = sum(later) / len(later) if later else None
                    if before is not None and after is not None:
                        row["cold_starts"] = after["cold"] - before["cold"]
                        row["counters_before"], row["counters_after"] = before, after
                        if n == "docker":
                            row["warm_starts"] = after["warm"] - before["warm"]
                            row["cold_start_ms_mean"] = after.get("cold_start_ms_mean")
                    sm = rep["summary"]
                    lat = sm.get("latency_ms") or {}
                    log(f"    ok {sm['ok']}/{sm['calls']}, mean {lat.get('mean', float('nan')):.2f} ms, "
                        f"p99 {lat.get('p99', float('nan')):.2f} ms, cold starts {row.get('cold_starts', 'n/a')}")
                    results.append(row)
                    if n in CONTAINERS:
                        s.stop()
        return results
    finally:
        for s in systems.values():
            s.stop()


def cold_starts(ctx: Ctx) -> list[dict]:
    """The first call after a fresh start, against the next one, repeated.
    wisp: restarted on its data directory, so the first call loads the
    compiled module from the disk cache. Node.js, wasmtime serve, native: a new
    process (Node compiles the module at start but V8 compiles function bodies
    lazily; wasmtime serve compiles the component before it listens). docker:
    a new gateway with no container, so the first call starts one. runc/crun:
    every call creates a container."""
    names = [n for n in ALL_SYSTEMS if n in ctx.systems]
    w = ctx.mode.pattern_workloads[0]
    out = []
    for n in names:
        for i in range(ctx.mode.cold_repeats):
            s = make_system(ctx, n)
            try:
                t = time.perf_counter()
                s.start()
                ready_ms = (time.perf_counter() - t) * 1000
                before = s.cold_counter(w) if s.counts_cold else None
                box = [None]
                _, _, first_ms, h1 = call_once(s, w, box)
                _, _, second_ms, h2 = call_once(s, w, box)
                box[0].close()
                after = s.cold_counter(w) if s.counts_cold else None
                row = {"system": n, "workload": w, "ready_ms": ready_ms, "first_ms": first_ms,
                       "second_ms": second_ms}
                if before is not None and after is not None:
                    row["cold_starts"] = after["cold"] - before["cold"]
                if n == "docker":
                    row["x_start"] = [h1.get("x-start"), h2.get("x-start")]
                out.append(row)
            finally:
                s.stop()
        firsts = sorted(r["first_ms"] for r in out if r["system"] == n)
        log(f"cold start {w}: {LABELS[n]}: first call {nearest_rank(firsts, 50):.1f} ms "
            f"(median of {len(firsts)})")
    return out


def burst(ctx: Ctx) -> list[dict]:
    """Per-instance memory: the rise of a fresh server's peak RSS while N calls
    arrive at once (MCSA with no ramp), over its RSS just before."""
    names = [n for n in ("wisp", "native", "node", "wasmtime") if n in ctx.systems]
    out = []
    n_calls = ctx.mode.burst
    for w in ctx.mode.t2_workloads:
        for n in names:
            s = make_system(ctx, n)
            try:
                s.start()
                box = [None]
                for _ in range(3):
                    call_once(s, w, box)
                box[0].close()
                time.sleep(0.3)
                pid = s.proc.pid
                base = proc_status(pid).get("VmRSS", 0)
                if not reset_hwm(pid):
                    ctx.notes.append("burst: cannot reset VmHWM (/proc/PID/clear_refs); burst figures skipped")
                    return out
                url, _, headers = s.target(w)
                rep = wisp_load(ctx, url, "mcsa", (n_calls, 1, 0.0), s.load_body_file(w), headers["Content-Type"],
                                ctx.work / "burst" / f"{w}-{n}.json")
                hwm = proc_status(pid).get("VmHWM", 0)
                peak_conc = None
                if n == "wisp":
                    peak_conc = s.stats()["figures"].get("peak_concurrency")
                row = {"workload": w, "system": n, "calls": n_calls, "ok": rep["summary"]["ok"],
                       "rss_before_kib": base, "hwm_during_kib": hwm, "delta_kib": max(0, hwm - base),
                       "peak_concurrency": peak_conc}
                out.append(row)
                log(f"burst {w}: {LABELS[n]}: {n_calls} calls at once, RSS {base / 1024:.1f} -> peak "
                    f"{hwm / 1024:.1f} MiB" + (f", peak concurrency {peak_conc}" if peak_conc else ""))
            finally:
                s.stop()
    return out


# ---------------------------------------------------------------- machine

def machine(wisp_bin: Path) -> dict:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_kib = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
    except OSError:
        pass

    def version(cmd):
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=20)
            line = (r.stdout or r.stderr).strip().splitlines()[0] if r.returncode == 0 else None
        except (OSError, subprocess.TimeoutExpired, IndexError):
            return None
        name = os.path.basename(cmd[0])
        if line and line.startswith(name + " "):
            line = line[len(name) + 1:]
        return line.removeprefix("version ") if line else None

    return {
        "nproc": os.cpu_count(), "cpu": cpu, "kernel": platform.release(), "memory_gib": round(mem_kib / 1048576, 1),
        "os": version(["sh", "-c", ". /etc/os-release && echo \"$PRETTY_NAME\""]),
        "versions": {
            "wisp": version([str(wisp_bin), "--version"]),
            "node": version(["node", "--version"]),
            "wasmtime": version([str(WASMTIME_BIN), "--version"]) if WASMTIME_BIN.exists() else None,
            "docker": version([DOCKER, "version", "--format", "{{.Server.Version}}"]),
            "runc": version(["runc", "--version"]),
            "crun": version(["crun", "--version"]),
            "python": platform.python_version(),
        },
    }


def loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


# ---------------------------------------------------------------- main

def parse_args(argv) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="experiments/run.sh", description=__doc__.split("\n")[0])
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--quick", dest="mode", action="store_const", const="quick",
                   help="(default) Table 2 for every workload, pattern tables for plate; a few minutes")
    g.add_argument("--full", dest="mode", action="store_const", const="full",
                   help="100 calls per workload for Table 2, pattern tables for every workload")
    g.add_argument("--tiny", dest="mode", action="store_const", const="tiny",
                   help="a seconds-long smoke run (wisp only unless --systems says otherwise)")
    ap.add_argument("--systems", help="comma-separated: " + ",".join(ALL_SYSTEMS))
    ap.add_argument("--workloads", help="comma-separated: " + ",".join(ALL_WORKLOADS))
    ap.add_argument("--out", default=str(EXP / "results"), help="results directory")
    ap.add_argument("--no-setup", action="store_true", help="install nothing")
    ap.add_argument("--no-build", action="store_true", help="build nothing")
    ap.add_argument("--wisp-bin", default=str(ROOT / "target" / "release" / "wisp"),
                    help="the wisp binary (default target/release/wisp)")
    a = ap.parse_args(argv)
    a.mode = a.mode or "quick"
    return a


def split_list(value: str | None, allowed: list[str], what: str) -> list[str] | None:
    if value is None:
        return None
    items = [v.strip() for v in value.split(",") if v.strip()]
    bad = [v for v in items if v not in allowed]
    if bad or not items:
        raise Failure(f"unknown {what}: {', '.join(bad) or '(none)'}; choose from {', '.join(allowed)}")
    return [v for v in allowed if v in items]


def main(argv) -> int:
    a = parse_args(argv)
    mode = MODES[a.mode]
    systems = split_list(a.systems, ALL_SYSTEMS, "system") or (["wisp"] if a.mode == "tiny" else list(ALL_SYSTEMS))
    wl = split_list(a.workloads, ALL_WORKLOADS, "workload")
    if wl:
        mode.t2_workloads = wl
        mode.pattern_workloads = wl
    out = Path(a.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    WORK.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="run-", dir=WORK))
    ctx = Ctx(mode=mode, systems=systems, out=out, work=work, wisp_bin=Path(a.wisp_bin).resolve(),
              setup=not a.no_setup, build=not a.no_build)
    started = datetime.datetime.now(datetime.timezone.utc)
    load_start = loadavg()
    log(f"mode {mode.name}; systems {', '.join(systems)}; results in {out}; scratch {work}")

    def on_signal(signum, _frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    try:
        setup_and_build(ctx)
        mach = machine(ctx.wisp_bin)  # while dockerd runs (its version)
        for w in ALL_WORKLOADS:
            ctx.inputs[w] = (DATA / INPUTS[w]).read_bytes()
            ctx.expected[w] = run([NATIVE_CLI, w], input_bytes=ctx.inputs[w], capture=True,
                                  what=f"native workload {w}").stdout
        t2 = table2(ctx)
        pat = patterns(ctx)
        cold = cold_starts(ctx)
        bur = burst(ctx)
    except Failure as e:
        log(f"error: {e}")
        log(f"server logs are kept in {work / 'logs'}")
        return 1
    finally:
        for p in list(Proc.live):
            p.stop()
        stop_dockerd(ctx)
    finished = datetime.datetime.now(datetime.timezone.utc)
    doc = {
        "mode": mode.name, "command": "experiments/run.sh " + " ".join(argv),
        "started": started.isoformat(timespec="seconds"), "finished": finished.isoformat(timespec="seconds"),
        "duration_s": round((finished - started).total_seconds(), 1),
        "loadavg_start": load_start, "loadavg_end": loadavg(),
        "machine": mach, "systems": ctx.systems, "notes": ctx.notes,
        "config": {"t2_calls": mode.t2_calls, "t2_warmup": mode.t2_warmup, "t2_workloads": mode.t2_workloads,
                   "pattern_workloads": mode.pattern_workloads,
                   "patterns": {k: list(v) for k, v in mode.patterns.items()}, "burst": mode.burst,
                   "cold_repeats": mode.cold_repeats,
                   "inputs": {w: INPUTS[w] for w in ALL_WORKLOADS}},
        "table2": t2, "patterns": pat, "cold_starts": cold, "burst": bur,
    }
    (out / "results.json").write_text(json.dumps(doc, indent=1) + "\n")
    checks = report.write(doc, out, LABELS)
    log(f"done in {doc['duration_s']:.0f} s: {out / 'results.md'}")
    print(report.console(doc, checks, LABELS))
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except Failure as e:
        print(f"experiments/run.sh: {e}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
