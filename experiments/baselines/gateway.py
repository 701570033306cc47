#!/usr/bin/env python3
"""Gateway for the container baselines: one HTTP endpoint that runs a function per call.

Backends:

  docker  OpenWhisk's invoker policy over Docker containers. A call takes an idle
          warm container of the action (a warm start) or starts a new one with
          `docker run -d`, waits until it answers and POSTs /init (a cold start);
          forwards the call to the container's /run; then puts the container back
          in the idle pool. A container serves one call at a time. Idle containers
          are removed after --keep-alive seconds.
  runc    A fresh container per call: `runc run` on an OCI bundle whose process
  crun    is the action binary in --once mode (request on stdin, answer on
          stdout); the runtime creates, starts, waits for and deletes it.

HTTP interface (127.0.0.1 by default):

  POST /run    body forwarded as is to the action's /run (an empty body becomes
               {"value":{}}); the action's status and body are returned. GET /run
               is accepted too and sends {"value":{}}. Response headers
               X-Start: cold|warm and X-Container: <id>.
  GET  /stats  counters as JSON (see stats() below).
  POST /stats/reset  zeroes counters and timings (containers are kept).
  GET  /health {"ok":true}

SIGTERM/SIGINT: stop serving, remove every container this gateway started, exit.

Python stdlib only. The gateway's own cost (Python HTTP parsing, one more hop on
loopback) is paid by every call of every backend alike.
"""

import argparse
import ctypes
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

INIT_BODY = json.dumps(
    {"value": {"name": "baseline", "main": "main", "code": "", "binary": False, "env": {}}}
).encode()
EMPTY_RUN = b'{"value":{}}'


class Timing:
    """count / mean / min / max / last of a series of durations in milliseconds."""

    def __init__(self):
        self.count = 0
        self.total = 0.0
        self.min = None
        self.max = None
        self.last = None

    def add(self, ms):
        self.count += 1
        self.total += ms
        self.min = ms if self.min is None else min(self.min, ms)
        self.max = ms if self.max is None else max(self.max, ms)
        self.last = ms

    def as_dict(self):
        r = lambda v: None if v is None else round(v, 3)
        return {
            "count": self.count,
            "mean": r(self.total / self.count) if self.count else None,
            "min": r(self.min),
            "max": r(self.max),
            "last": r(self.last),
        }


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        with self.lock:
            self.requests = 0
            self.cold_starts = 0
            self.warm_starts = 0
            self.errors = 0
            self.evictions = 0
            self.pauses = 0
            self.unpauses = 0
            self.cold_start_ms = Timing()  # container start + ready + /init (docker) or the whole run (runc/crun)
            self.call_cold_ms = Timing()  # whole call inside the gateway, cold
            self.call_warm_ms = Timing()  # whole call inside the gateway, warm
            self.since = time.time()


class Error(Exception):
    pass


def free_port(port):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


# --------------------------------------------------------------------- docker


class Container:
    __slots__ = ("id", "port", "conn", "last_used", "started", "lock", "paused")

    def __init__(self, cid, port):
        self.id = cid
        self.port = port
        self.conn = None
        self.last_used = time.monotonic()
        self.started = time.time()
        self.lock = threading.Lock()  # held while the container is paused or unpaused
        self.paused = False

    def connection(self, timeout):
        if self.conn is None:
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        return self.conn

    def drop_connection(self):
        if self.conn is not None:
            try:
                self.conn.close()
            except OSError:
                pass
            self.conn = None

    def post(self, path, body, timeout):
        """POST on the container's persistent connection; one retry on a fresh
        connection if the kept one turned out to be closed before any answer."""
        for attempt in (0, 1):
            conn = self.connection(timeout)
            try:
                conn.request("POST", path, body=body, headers={"Content-Type": "application/json"})
                resp = conn.getresponse()
                data = resp.read()
                if resp.will_close:
                    self.drop_connection()
                return resp.status, data
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                self.drop_connection()
                if attempt:
                    raise
            except Exception:
                self.drop_connection()
                raise
        raise AssertionError("unreachable")


class DockerBackend:
    name = "docker"

    def __init__(self, args, stats):
        self.args = args
        self.stats = stats
        self.docker = args.docker
        self.label = f"wisp-baseline.gateway={os.getpid()}-{args.port}"
        self.cond = threading.Condition()
        self.idle = []  # LIFO: the most recently used container is reused first
        self.busy = set()
        self.starting = 0
        self.ports = set()
        self.next_port = args.container_port_base
        self.seq = 0
        self.closed = False
        self.reaper = threading.Thread(target=self._reap_loop, daemon=True)
        self.reaper.start()

    # -- pool -----------------------------------------------------------

    def _alloc_port(self):
        # called with self.cond held
        lo, hi = self.args.container_port_base, self.args.container_port_base + 20000
        for _ in range(hi - lo):
            p = self.next_port
            self.next_port = lo if p + 1 >= hi else p + 1
            if p not in self.ports and free_port(p):
                self.ports.add(p)
                return p
        raise Error("no free loopback port for a container")

    def acquire(self):
        """Returns (container, cold)."""
        with self.cond:
            while True:
                if self.closed:
                    raise Error("gateway is shutting down")
                if self.idle:
                    c = self.idle.pop()
                    self.busy.add(c)
                    break
                total = len(self.idle) + len(self.busy) + self.starting
                if self.args.max_containers <= 0 or total < self.args.max_containers:
                    c = None
                    self.starting += 1
                    port = self._alloc_port()
                    self.seq += 1
                    name = f"wisp-bl-{os.getpid()}-{self.seq}"
                    break
                self.cond.wait()
        if c is not None:
            with c.lock:
                if c.paused:
                    try:
                        self._docker("unpause", c.id)
                    except Error:
                        self.release(c, False)
                        raise
                    c.paused = False
                    with self.stats.lock:
                        self.stats.unpauses += 1
            return c, False
        t0 = time.perf_counter()
        try:
            c = self._start(name, port)
        except BaseException:
            with self.cond:
                self.starting -= 1
                self.ports.discard(port)
                self.cond.notify()
            raise
        with self.stats.lock:
            self.stats.cold_start_ms.add((time.perf_counter() - t0) * 1000)
        with self.cond:
            self.starting -= 1
            if self.closed:
                self._remove_async([c])
                raise Error("gateway is shutting down")
            self.busy.add(c)
        return c, True

    def release(self, c, healthy):
        with self.cond:
            self.busy.discard(c)
            keep = healthy and not self.closed and self.args.keep_alive > 0
            if keep:
                c.last_used = time.monotonic()
                self.idle.append(c)
            else:
                self.ports.discard(c.port)
            self.cond.notify()
        if not keep:
            self._remove_async([c])

    def _reap_loop(self):
        period = min(1.0, max(0.05, self.args.keep_alive / 4))
        if self.args.pause_grace >= 0:
            period = min(period, max(0.01, self.args.pause_grace / 2))
        while True:
            time.sleep(period)
            now = time.monotonic()
            if self.args.pause_grace >= 0:
                self._pause_idle(now)
            with self.cond:
                if self.closed:
                    return
                expired = [c for c in self.idle if now - c.last_used >= self.args.keep_alive]
                if not expired:
                    continue
                self.idle = [c for c in self.idle if c not in expired]
                for c in expired:
                    self.ports.discard(c.port)
                self.cond.notify_all()
            with self.stats.lock:
                self.stats.evictions += len(expired)
            self._remove(expired)

    def _pause_idle(self, now):
        """OpenWhisk pauses a container that stayed idle past a grace period and
        resumes it on its next call (--pause-grace; off by default)."""
        with self.cond:
            due = [c for c in self.idle if not c.paused and now - c.last_used >= self.args.pause_grace]
        for c in due:
            with c.lock:
                with self.cond:
                    if c not in self.idle or c.paused or self.closed:
                        continue
                if self._docker("pause", c.id, check=False).returncode == 0:
                    c.paused = True
                    with self.stats.lock:
                        self.stats.pauses += 1

    def counts(self):
        with self.cond:
            return {
                "idle": len(self.idle),
                "busy": len(self.busy),
                "starting": self.starting,
                "paused": sum(1 for c in self.idle if c.paused),
            }

    # -- docker ---------------------------------------------------------

    def _docker(self, *argv, check=True):
        p = subprocess.run([self.docker, *argv], capture_output=True, text=True)
        if check and p.returncode != 0:
            raise Error(f"docker {argv[0]} failed ({p.returncode}): {p.stderr.strip()}")
        return p

    def _start(self, name, port):
        argv = ["run", "-d", "--name", name, "--label", self.label]
        argv += self.args.docker_run_arg
        if self.args.docker_network == "host":
            argv += ["--network", "host", "-e", f"ACTION_LISTEN=127.0.0.1:{port}"]
        else:
            argv += ["-p", f"127.0.0.1:{port}:8080"]
        argv.append(self.args.image)
        p = self._docker(*argv, check=False)
        if p.returncode != 0:
            self._docker("rm", "-f", name, check=False)
            raise Error(f"docker run failed ({p.returncode}): {p.stderr.strip()}")
        c = Container(p.stdout.strip()[:12] or name, port)
        # Ready = the action answers POST /init (OpenWhisk's invoker sends /init
        # once the container is up; the retries cover the process still starting).
        deadline = time.monotonic() + self.args.ready_timeout
        last = None
        while True:
            try:
                status, body = c.post("/init", INIT_BODY, timeout=self.args.ready_timeout)
                if status == 200:
                    return c
                last = f"/init answered {status}: {body[:200]!r}"
                break
            except (OSError, http.client.HTTPException) as e:
                last = repr(e)
                c.drop_connection()
            if time.monotonic() > deadline:
                break
            time.sleep(0.002)
        self._remove([c])
        raise Error(f"container {c.id} not ready: {last}")

    def _remove(self, containers):
        if not containers:
            return
        for c in containers:
            c.drop_connection()
        self._docker("rm", "-f", *[c.id for c in containers], check=False)

    def _remove_async(self, containers):
        threading.Thread(target=self._remove, args=(containers,), daemon=True).start()

    # -- calls ----------------------------------------------------------

    def call(self, body):
        c, cold = self.acquire()
        healthy = False
        try:
            status, data = c.post("/run", body, timeout=self.args.call_timeout)
            healthy = True
            return status, data, cold, c.id
        except (OSError, http.client.HTTPException) as e:
            raise Error(f"container {c.id}: {e!r}") from e
        finally:
            self.release(c, healthy)

    def close(self):
        with self.cond:
            self.closed = True
            everything = list(self.idle) + list(self.busy)
            self.idle.clear()
            self.cond.notify_all()
        self._remove(everything)
        # Anything still starting or missed: everything carrying this gateway's label.
        p = self._docker("ps", "-aq", "--filter", f"label={self.label}", check=False)
        ids = p.stdout.split()
        if ids:
            self._docker("rm", "-f", *ids, check=False)


# ----------------------------------------------------------------- runc / crun


def leave_hybrid_cgroup_layout():
    """crun refuses a hybrid cgroup layout (v1 controllers plus a v2 hierarchy at
    /sys/fs/cgroup/unified). Move this process into a private mount namespace and
    unmount the v2 hierarchy there; the host's mounts are untouched. Must run
    before any thread starts."""
    unified = "/sys/fs/cgroup/unified"
    if not os.path.ismount(unified):
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    CLONE_NEWNS = 0x00020000
    MS_REC, MS_PRIVATE = 0x4000, 0x40000
    if libc.unshare(CLONE_NEWNS) != 0:
        raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWNS)")
    if libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None) != 0:
        raise OSError(ctypes.get_errno(), "mount --make-rprivate /")
    if libc.umount2(unified.encode(), 0) != 0:
        raise OSError(ctypes.get_errno(), f"umount {unified}")
    return True


class OneShotBackend:
    """A container per call: `<runtime> --root STATE run --bundle BUNDLE ID`,
    request on stdin, answer on stdout; `run` deletes the container on exit."""

    def __init__(self, args, stats):
        self.args = args
        self.stats = stats
        self.name = args.backend
        self.runtime = args.runtime_bin or args.backend
        self.root = args.state_root or f"/run/wisp-baselines/{args.backend}-{args.port}"
        os.makedirs(self.root, exist_ok=True)
        self.lock = threading.Lock()
        self.running = set()
        self.seq = 0
        self.closed = False
        self.slots = threading.Semaphore(args.max_containers) if args.max_containers > 0 else None

    def counts(self):
        with self.lock:
            return {"idle": 0, "busy": len(self.running), "starting": 0, "paused": 0}

    def call(self, body):
        if self.slots:
            self.slots.acquire()
        try:
            with self.lock:
                if self.closed:
                    raise Error("gateway is shutting down")
                self.seq += 1
                cid = f"wisp-bl-{os.getpid()}-{self.seq}"
                self.running.add(cid)
            t0 = time.perf_counter()
            try:
                p = subprocess.run(
                    [self.runtime, "--root", self.root, "run", "--bundle", self.args.bundle, cid],
                    input=body,
                    capture_output=True,
                    timeout=self.args.call_timeout,
                )
            except subprocess.TimeoutExpired:
                self._delete(cid)
                raise Error(f"{self.runtime} run {cid} timed out")
            finally:
                with self.lock:
                    self.running.discard(cid)
            with self.stats.lock:
                self.stats.cold_start_ms.add((time.perf_counter() - t0) * 1000)
            if p.returncode == 0:
                return 200, p.stdout, True, cid
            self._delete(cid)
            if p.stdout.strip():
                # The action ran and reported an error itself.
                return 502, p.stdout, True, cid
            raise Error(f"{self.runtime} run exited {p.returncode}: {p.stderr.decode(errors='replace').strip()}")
        finally:
            if self.slots:
                self.slots.release()

    def _delete(self, cid):
        subprocess.run([self.runtime, "--root", self.root, "delete", "-f", cid], capture_output=True)

    def close(self):
        with self.lock:
            self.closed = True
        p = subprocess.run([self.runtime, "--root", self.root, "list", "-q"], capture_output=True, text=True)
        for cid in p.stdout.split():
            if cid.startswith(f"wisp-bl-{os.getpid()}-"):
                self._delete(cid)


# ----------------------------------------------------------------------- HTTP


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "wisp-baseline-gateway"
    sys_version = ""
    # Buffered writes: status line, headers and body leave in one send when the
    # handler flushes after each request (an unbuffered handler sends headers and
    # body apart, and with Nagle and delayed ACKs a kept-alive client then waits
    # ~40 ms per call).
    wbufsize = 64 * 1024
    disable_nagle_algorithm = True

    def log_message(self, fmt, *a):
        if self.server.verbose:
            sys.stderr.write("gateway: " + (fmt % a) + "\n")

    def _send(self, status, body, extra=None):
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def do_GET(self):
        path = self.path.split("?", 1)[0]
        if path == "/stats":
            self._send(200, json.dumps(self.server.stats_json()).encode())
        elif path == "/health":
            self._send(200, b'{"ok":true}')
        elif path == "/run":
            self._run(EMPTY_RUN)
        else:
            self._send(404, b'{"error":"not found"}')

    def do_POST(self):
        path = self.path.split("?", 1)[0]
        body = self._body()
        if path == "/run":
            self._run(body if body.strip() else EMPTY_RUN)
        elif path == "/stats/reset":
            self.server.stats.reset()
            self._send(200, b'{"ok":true}')
        else:
            self._send(404, b'{"error":"not found"}')

    def _run(self, body):
        stats = self.server.stats
        t0 = time.perf_counter()
        try:
            status, data, cold, cid = self.server.backend.call(body)
        except Error as e:
            with stats.lock:
                stats.requests += 1
                stats.errors += 1
            sys.stderr.write(f"gateway: {e}\n")
            self._send(502, json.dumps({"error": str(e)}).encode())
            return
        ms = (time.perf_counter() - t0) * 1000
        with stats.lock:
            stats.requests += 1
            if status >= 400:
                stats.errors += 1
            if cold:
                stats.cold_starts += 1
                stats.call_cold_ms.add(ms)
            else:
                stats.warm_starts += 1
                stats.call_warm_ms.add(ms)
        self._send(status, data, {"X-Start": "cold" if cold else "warm", "X-Container": cid})


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024
    allow_reuse_address = True

    def stats_json(self):
        s = self.stats
        counts = self.backend.counts()
        with s.lock:
            return {
                "backend": self.backend.name,
                "keep_alive_s": self.args.keep_alive if self.backend.name == "docker" else 0,
                "max_containers": self.args.max_containers,
                "requests": s.requests,
                "cold_starts": s.cold_starts,
                "warm_starts": s.warm_starts,
                "errors": s.errors,
                "evictions": s.evictions,
                "pauses": s.pauses,
                "unpauses": s.unpauses,
                "containers": counts,
                "cold_start_ms": s.cold_start_ms.as_dict(),
                "call_ms": {"cold": s.call_cold_ms.as_dict(), "warm": s.call_warm_ms.as_dict()},
                "since_s": round(time.time() - s.since, 3),
            }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backend", choices=["docker", "runc", "crun"], required=True)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=18080)
    ap.add_argument("--keep-alive", type=float, default=60.0,
                    help="docker: seconds an idle container is kept (0 = remove after each call)")
    ap.add_argument("--pause-grace", type=float, default=-1,
                    help="docker: `docker pause` a container idle this many seconds, unpause it on its next "
                         "call (OpenWhisk: 0.05); negative = never pause (default)")
    ap.add_argument("--max-containers", type=int, default=0,
                    help="at most this many containers at once; further calls wait (0 = no limit)")
    ap.add_argument("--call-timeout", type=float, default=60.0)
    ap.add_argument("--ready-timeout", type=float, default=30.0, help="docker: seconds for a new container to answer /init")
    ap.add_argument("--image", default="wisp-baseline-action:latest", help="docker image")
    ap.add_argument("--docker", default="/usr/bin/docker", help="docker CLI")
    ap.add_argument("--docker-network", choices=["bridge", "host"], default="bridge",
                    help="bridge: own network namespace, port 8080 published on 127.0.0.1; "
                         "host: host network, the action listens on 127.0.0.1:<port> (ACTION_LISTEN)")
    ap.add_argument("--docker-run-arg", action="append", default=None,
                    help="extra `docker run` argument (repeatable; default: --memory 256m --memory-swap 256m --pids-limit 1024)")
    ap.add_argument("--container-port-base", type=int, default=20000, help="docker: first loopback port for containers")
    ap.add_argument("--bundle", help="runc/crun: OCI bundle directory (config.json + rootfs)")
    ap.add_argument("--runtime-bin", help="runc/crun: runtime binary (default: the backend's name)")
    ap.add_argument("--state-root", help="runc/crun: runtime state directory (default /run/wisp-baselines/BACKEND-PORT)")
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()
    if args.docker_run_arg is None:
        args.docker_run_arg = ["--memory", "256m", "--memory-swap", "256m", "--pids-limit", "1024"]

    if args.backend == "docker":
        make = DockerBackend
    else:
        if not args.bundle:
            ap.error("--bundle is needed for runc and crun")
        if args.backend == "crun" and leave_hybrid_cgroup_layout():
            sys.stderr.write("gateway: crun: private mount namespace without /sys/fs/cgroup/unified\n")
        make = OneShotBackend

    stats = Stats()
    backend = make(args, stats)
    server = Server((args.host, args.port), Handler)
    server.backend, server.stats, server.args, server.verbose = backend, stats, args, args.verbose

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    serving = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
    serving.start()
    sys.stderr.write(f"gateway: {args.backend} on http://{args.host}:{server.server_address[1]}/run\n")
    sys.stderr.flush()
    while not stop.wait(1.0):
        pass
    sys.stderr.write("gateway: stopping, removing containers\n")
    server.shutdown()
    server.server_close()
    backend.close()
    sys.stderr.write("gateway: stopped\n")


if __name__ == "__main__":
    main()
