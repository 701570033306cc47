#!/usr/bin/env bash
# Soak test: one wisp server saturated for SOAK_SECONDS with hostile guests mixed in.
#   healthy traffic  wrk at CONNECTIONS connections on GET /fn/hello/ (the hello
#                    wasi:http component) for the whole run; a wrk Lua script counts
#                    every response by status and every 200 whose body is not
#                    "Hello from wisp!\n";
#   hostile traffic  at the same time, HOSTILE_THREADS python3 threads (one request
#                    at a time each, a new connection per request, bounded by the same
#                    deadline) cycling through: examples/build/sandbox-probe.wasm
#                    deployed as six actions with small limits (--memory 32
#                    --timeout 200 --instances 2) and called through the JSON API with
#                    a memory bomb (alloc 64 MB), a busy loop (spin), a blocked host
#                    call past the time limit (sleep 1000 ms), 16 MiB of stdout
#                    (flood), a stack overflow (recurse) and a panic; 12 MiB bodies
#                    (the cap is 10 MiB) to /fn/hello/echo, with a Content-Length and
#                    chunked; calls of a missing action through the API and the web
#                    route.
# Every SAMPLE s the server's VmRSS (split into RssAnon and RssFile, with VmHWM,
# threads and open fds) is recorded from /proc/PID/, and the size of its data
# directory. Activation records are kept (the default; retention is applied every
# minute), flood's 10 MiB of stdout included: the temporary data directory grew by
# about 1 GB a minute in a 60 s run, so a 600 s run needs several GB of free disk.
# At the end the server must still be alive, answer GET /fn/hello/ with 200
# "Hello from wisp!\n", and exit 0 within 30 s of SIGTERM.
#
# Pass criteria (the report states them with the figures; exit status 1 on FAIL):
#   1. RSS flat: warm-up W = min(SOAK_WARMUP, SOAK_SECONDS/4) s is left out; the rest of
#      the run is split in two halves; the largest RSS sample of the second half must be
#      at most 1.2x the largest of the first half + 8 MiB.
#   2. Healthy traffic: every response is 200 with the greeting, or 429/503; no socket
#      errors or wrk timeouts (10 s). Hostile traffic: every answer is one of
#      200/404/413/429/502/504, and every request gets an answer, except that a 12 MiB
#      upload may instead see its connection reset (the server closing a connection
#      whose body is over the cap, before the client has sent it all).
#   3. No crash: alive at the end, answers the greeting, exits 0 on SIGTERM.
# Results go to bench/results/soak.md and bench/results/soak.json. Not run in CI.
#
# Environment: SOAK_SECONDS (default 600), SAMPLE (s between RSS samples, default 10,
# or SOAK_SECONDS/12 when that is shorter), SOAK_WARMUP (s, default 30), CONNECTIONS
# (healthy wrk connections, default 32), WRK_THREADS (default 1), HOSTILE_THREADS
# (default 4). WISP_BIN measures that binary instead of building target/release/wisp;
# NO_BUILD=1 skips scripts/build-examples.sh and the cargo build (uses WISP_BIN, default
# target/release/wisp, and examples/build/ as they are).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
SOAK_SECONDS=${SOAK_SECONDS:-600}
default_sample=$((SOAK_SECONDS / 12 < 10 ? SOAK_SECONDS / 12 : 10))
SAMPLE=${SAMPLE:-$((default_sample > 0 ? default_sample : 1))}
SOAK_WARMUP=${SOAK_WARMUP:-30}
CONNECTIONS=${CONNECTIONS:-32}
WRK_THREADS=${WRK_THREADS:-1}
HOSTILE_THREADS=${HOSTILE_THREADS:-4}
NO_BUILD=${NO_BUILD:-0}
STOP_TIMEOUT=30
mkdir -p bench/results

WISP_SETUP_BENCH=1 scripts/setup.sh
if [ "$NO_BUILD" != 1 ]; then
    scripts/build-examples.sh >/dev/null
    if [ -z "${WISP_BIN:-}" ]; then
        echo "building wisp (release)..." >&2
        cargo build --release --quiet -p wisp
    fi
fi
WISP_BIN=${WISP_BIN:-$root/target/release/wisp}

work=$(mktemp -d)
pids=()
pid=""
cleanup() {
    local p
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

# The binary and guests are copied, so that a rebuild during the run cannot swap them.
mkdir "$work/bin"
cp "$WISP_BIN" "$work/bin/wisp"
cp examples/build/hello-http.wasm examples/build/sandbox-probe.wasm "$work/bin/"
wisp=$work/bin/wisp
export WISP_API_KEY=soak:soak

"$wisp" serve --listen 127.0.0.1:0 --data-dir "$work/data" >"$work/server.log" 2>&1 &
pid=$!
pids+=("$pid")
url=""
for _ in $(seq 300); do
    url=$(grep -o 'http://[0-9.:]*' "$work/server.log" | head -1 || true)
    [ -n "$url" ] && break
    kill -0 "$pid" 2>/dev/null || { echo "wisp failed to start:" >&2; cat "$work/server.log" >&2; exit 1; }
    sleep 0.1
done
[ -n "$url" ] || { echo "wisp did not start in time" >&2; cat "$work/server.log" >&2; exit 1; }
export WISP_SERVER=$url

"$wisp" deploy hello "$work/bin/hello-http.wasm" >/dev/null
for op in alloc spin sleep flood recurse panic; do
    "$wisp" deploy "probe-$op" "$work/bin/sandbox-probe.wasm" \
        --memory 32 --timeout 200 --instances 2 >/dev/null
done
[ "$(curl -fsS "$url/fn/hello/")" = "Hello from wisp!" ] ||
    { echo "hello does not answer before the run" >&2; exit 1; }

# The healthy traffic's wrk script: counts statuses (per wrk thread, summed in done()).
cat >"$work/healthy.lua" <<'LUA'
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) statuses = {}; bad_body = 0 end
function response(status, headers, body)
    statuses[status] = (statuses[status] or 0) + 1
    if status == 200 and body ~= "Hello from wisp!\n" then bad_body = bad_body + 1 end
end
function done(summary, latency, requests)
    local total, bad = {}, 0
    for _, t in ipairs(threads) do
        for s, n in pairs(t:get("statuses")) do total[s] = (total[s] or 0) + n end
        bad = bad + t:get("bad_body")
    end
    for s, n in pairs(total) do io.write(string.format("status %d %d\n", s, n)) end
    local e = summary.errors
    io.write(string.format("bad_body %d\nsocket connect %d\nsocket read %d\nsocket write %d\n" ..
        "socket timeout %d\nlatency_us p50 %d\nlatency_us p99 %d\nlatency_us max %d\n",
        bad, e.connect, e.read, e.write, e.timeout,
        latency:percentile(50), latency:percentile(99), latency.max))
end
LUA

# state : the server's process state (R, S, Z, ...), or "gone".
state() {
    local stat
    stat=$(cat "/proc/$pid/stat" 2>/dev/null) || { echo gone; return; }
    stat=${stat##*) }
    echo "${stat%% *}"
}

# sample LABEL : one line of "LABEL elapsed_s rss_kib anon_kib file_kib hwm_kib threads
# fds data_kib" (-1 when the server is dead).
sample() {
    local t rss=-1 anon=-1 file=-1 hwm=-1 threads=-1 fds=-1 data k v _ fd
    t=$(((${EPOCHREALTIME/./} - t0) / 1000))
    if [ "$(state)" != gone ] && [ "$(state)" != Z ]; then
        while read -r k v _; do
            case $k in
                VmRSS:) rss=$v ;; RssAnon:) anon=$v ;; RssFile:) file=$v ;;
                VmHWM:) hwm=$v ;; Threads:) threads=$v ;;
            esac
        done <"/proc/$pid/status" || true
        fd=(/proc/"$pid"/fd/*)
        fds=${#fd[@]}
    fi
    data=$(du -sk "$work/data" 2>/dev/null | cut -f1 || true)
    printf '%s %d.%03d %s %s %s %s %s %s %s\n' "$1" $((t / 1000)) $((t % 1000)) \
        "$rss" "$anon" "$file" "$hwm" "$threads" "$fds" "${data:--1}" >>"$work/rss.txt"
}

echo "soak: ${SOAK_SECONDS}s of wrk -c$CONNECTIONS on $url/fn/hello/ + $HOSTILE_THREADS hostile threads," \
    "RSS every ${SAMPLE}s ..." >&2
t0=${EPOCHREALTIME/./}
wrk -t"$WRK_THREADS" -c"$CONNECTIONS" -d"${SOAK_SECONDS}s" --timeout 10s -s "$work/healthy.lua" \
    "$url/fn/hello/" >"$work/healthy.wrk" 2>&1 &
wrk_pid=$!
pids+=("$wrk_pid")

# The hostile client: bounded by SOAK_SECONDS (each request by a 30 s socket timeout,
# and the whole client by `timeout`), loopback only.
timeout -k 5 $((SOAK_SECONDS + 120)) python3 - "$url" "$SOAK_SECONDS" "$HOSTILE_THREADS" \
    "$WISP_API_KEY" >"$work/hostile.json" 2>"$work/hostile.err" <<'PY' &
import base64, collections, http.client, json, sys, threading, time, urllib.parse
url, seconds, nthreads, key = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
u = urllib.parse.urlsplit(url)
assert u.hostname == "127.0.0.1"
deadline = time.monotonic() + seconds
api = {"Authorization": "Basic " + base64.b64encode(key.encode()).decode(),
       "Content-Type": "application/json"}
invoke = "/api/v1/namespaces/_/actions/{}?blocking=true&result=true"
big = b"x" * (12 << 20)

def chunks():
    piece = memoryview(big)
    for i in range(0, len(big), 1 << 20):
        yield piece[i:i + (1 << 20)]

# kind: (method, path, body, headers, chunked)
kinds = {
    "alloc": ("POST", invoke.format("probe-alloc"), b'{"op":"alloc","mb":64}', api, False),
    "spin": ("POST", invoke.format("probe-spin"), b'{"op":"spin"}', api, False),
    "sleep": ("POST", invoke.format("probe-sleep"), b'{"op":"sleep","ms":1000}', api, False),
    "flood": ("POST", invoke.format("probe-flood"), b'{"op":"flood","mb":16}', api, False),
    "recurse": ("POST", invoke.format("probe-recurse"), b'{"op":"recurse"}', api, False),
    "panic": ("POST", invoke.format("probe-panic"), b'{"op":"panic"}', api, False),
    "oversize": ("POST", "/fn/hello/echo", big, {"Content-Type": "application/octet-stream"}, False),
    "oversize-chunked": ("POST", "/fn/hello/echo", None, {"Content-Type": "application/octet-stream"}, True),
    "missing-api": ("POST", invoke.format("no-such-action"), b"{}", api, False),
    "missing-web": ("GET", "/fn/no-such-action/", None, {}, False),
}
names = list(kinds)
lock = threading.Lock()
statuses = {k: collections.Counter() for k in names}
errors = {k: collections.Counter() for k in names}
latency = {k: [] for k in names}

def call(kind):
    method, path, body, headers, chunked = kinds[kind]
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    start = time.monotonic()
    try:
        try:
            if chunked:
                c.request(method, path, body=chunks(), headers=headers, encode_chunked=True)
            else:
                c.request(method, path, body=body, headers=headers)
        except OSError:
            pass  # the server may answer (413) and close before the body is sent
        r = c.getresponse()
        r.read()
        status, err = r.status, None
    except Exception as e:
        status, err = None, type(e).__name__
    finally:
        c.close()
    ms = (time.monotonic() - start) * 1000
    with lock:
        if err:
            errors[kind][err] += 1
        else:
            statuses[kind][status] += 1
            latency[kind].append(ms)

def worker(i):
    n = i * len(names) // nthreads
    while time.monotonic() < deadline:
        call(names[n % len(names)])
        n += 1

threads = [threading.Thread(target=worker, args=(i,)) for i in range(nthreads)]
for t in threads:
    t.start()
for t in threads:
    t.join()

def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p / 100))] if xs else None

json.dump({k: {"statuses": {str(s): n for s, n in sorted(statuses[k].items())},
               "errors": dict(errors[k]),
               "p50_ms": pct(latency[k], 50), "max_ms": max(latency[k], default=None)}
           for k in names}, sys.stdout, indent=1)
PY
hostile_pid=$!
pids+=("$hostile_pid")

# RSS samples at 0, SAMPLE, 2 SAMPLE, ... while the load runs, then one at its end.
i=0
while :; do
    next=$((t0 + i * SAMPLE * 1000000))
    [ $((next - t0)) -lt $((SOAK_SECONDS * 1000000)) ] || break
    now=${EPOCHREALTIME/./}
    if [ "$now" -lt "$next" ]; then
        d=$((next - now))
        sleep "$((d / 1000000)).$(printf %06d $((d % 1000000)))"
    fi
    sample load
    i=$((i + 1))
done
wait "$wrk_pid" || echo "wrk exited with status $?" >&2
sample load
wait "$hostile_pid" || echo "the hostile client exited with status $?" >&2
sleep 5
sample idle

# The end: alive, answers, exits 0 on SIGTERM.
st=$(state)
alive=0
[ "$st" != gone ] && [ "$st" != Z ] && alive=1
answer=$(curl -sS -o "$work/answer" -w '%{http_code}' --max-time 10 "$url/fn/hello/" 2>/dev/null || true)
answer_ok=0
printf 'Hello from wisp!\n' | cmp -s - "$work/answer" && answer_ok=1
data_kib=$(du -sk "$work/data" | cut -f1)
du -sk "$work/data"/* >"$work/data.txt" 2>/dev/null || true
kill -TERM "$pid" 2>/dev/null || true
stop_start=${EPOCHREALTIME/./}
while [ "$(state)" != Z ] && [ "$(state)" != gone ] &&
    [ $((${EPOCHREALTIME/./} - stop_start)) -lt $((STOP_TIMEOUT * 1000000)) ]; do
    sleep 0.1
done
stopped=1
if [ "$(state)" != Z ] && [ "$(state)" != gone ]; then
    stopped=0
    kill -KILL "$pid" 2>/dev/null || true
fi
rc=0
wait "$pid" || rc=$?
stop_ms=$(((${EPOCHREALTIME/./} - stop_start) / 1000))
pid=""
pids=() # all waited for: nothing left for cleanup to kill
cat >"$work/final.txt" <<EOF
alive $alive
answer_status ${answer:-none}
answer_ok $answer_ok
stopped $stopped
exit_code $rc
stop_ms $stop_ms
data_kib $data_kib
EOF

python3 - "$work" "$SOAK_SECONDS" "$SAMPLE" "$SOAK_WARMUP" "$CONNECTIONS" "$WRK_THREADS" \
    "$HOSTILE_THREADS" "$STOP_TIMEOUT" <<'PY' | tee bench/results/soak.md
import datetime, json, os, re, sys
work = sys.argv[1]
soak, sample, warmup, conns, wrk_threads, hthreads, stop_timeout = map(int, sys.argv[2:9])
date = datetime.date.today().isoformat()
MIB = 1024

# Healthy traffic, from wrk and its Lua done().
text = open(os.path.join(work, "healthy.wrk")).read()
h_status = {int(s): int(n) for s, n in re.findall(r"^status (\d+) (\d+)$", text, re.M)}
h_socket = {k: int(n) for k, n in re.findall(r"^socket (\w+) (\d+)$", text, re.M)}
h_lat = {k: int(n) / 1000 for k, n in re.findall(r"^latency_us (\w+) (\d+)$", text, re.M)}
bad_body = int(re.search(r"^bad_body (\d+)$", text, re.M).group(1))
m = re.search(r"(\d+) requests in ([\d.]+)(\w+)", text)
h_total = int(m.group(1))
h_rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))

# Hostile traffic, from the python client.
hostile = json.load(open(os.path.join(work, "hostile.json")))
# A reset is an acceptable end of an over-cap upload (the server closes the connection
# before the body is all sent, which can discard its answer); anything else without an
# answer is an error.
RESETS = ("ConnectionResetError", "BrokenPipeError", "RemoteDisconnected")
x_status, x_errors, x_resets = {}, {}, {}
for k, v in hostile.items():
    for s, n in v["statuses"].items():
        x_status[int(s)] = x_status.get(int(s), 0) + n
    for e, n in v["errors"].items():
        into = x_resets if k.startswith("oversize") and e in RESETS else x_errors
        into[e] = into.get(e, 0) + n
x_total = sum(x_status.values())

# RSS samples.
samples = []
for line in open(os.path.join(work, "rss.txt")):
    label, t, *kib, thr, fds, data = line.split()
    rss, anon, file, hwm = (int(k) / MIB if int(k) >= 0 else None for k in kib)
    samples.append(dict(label=label, t=float(t), rss_mib=rss, anon_mib=anon, file_mib=file,
                        hwm_mib=hwm, threads=int(thr), fds=int(fds),
                        data_mib=int(data) / MIB if int(data) >= 0 else None))
load = [s for s in samples if s["label"] == "load" and s["rss_mib"] is not None]
final = dict(l.split() for l in open(os.path.join(work, "final.txt")))
log = open(os.path.join(work, "server.log"), errors="replace").read().splitlines()
other_log = [l for l in log if not l.startswith(("wisp starting", "wisp listening", "wisp stopped"))]
data_dir = [(int(k) / MIB, os.path.basename(p)) for k, p in
            (l.split("\t", 1) for l in open(os.path.join(work, "data.txt")).read().splitlines())]

# Criterion 1: RSS flat.
w = min(warmup, soak / 4)
mid = w + (soak - w) / 2
first = [s["rss_mib"] for s in load if w <= s["t"] < mid]
second = [s["rss_mib"] for s in load if s["t"] >= mid]
if first and second:
    limit = 1.2 * max(first) + 8
    rss_ok = max(second) <= limit
    rss_text = (f"max RSS {max(second):.1f} MiB in the second half (t >= {mid:.1f} s) vs "
                f"{max(first):.1f} MiB in the first ({w:.0f} s <= t < {mid:.1f} s): limit "
                f"1.2 x {max(first):.1f} + 8 = {limit:.1f} MiB")
else:
    rss_ok, limit = False, None
    rss_text = "too few samples in one of the halves (SOAK_SECONDS too short for SAMPLE)"

# Criterion 2: only expected statuses.
h_unexpected = {s: n for s, n in h_status.items() if s not in (200, 429, 503)}
h_sock = sum(h_socket.values())
x_allowed = (200, 404, 413, 429, 502, 504)
x_unexpected = {s: n for s, n in x_status.items() if s not in x_allowed}
status_ok = (not h_unexpected and h_sock == 0 and bad_body == 0 and h_status.get(200, 0) > 0
             and not x_unexpected and not x_errors and x_total > 0)

# Criterion 3: no crash.
alive_ok = (final["alive"] == "1" and final["answer_status"] == "200" and final["answer_ok"] == "1"
            and final["stopped"] == "1" and final["exit_code"] == "0")

def fmt(counts):
    return ", ".join(f"{k}: {v}" for k, v in sorted(counts.items(), key=lambda kv: str(kv[0]))) or "none"

def verdict(ok):
    return "**PASS**" if ok else "**FAIL**"

print(f"# Soak ({date}; {soak} s, {os.cpu_count()} cores, healthy wrk -t{wrk_threads} -c{conns}, "
      f"{hthreads} hostile threads)\n")
print(f"- healthy GET /fn/hello/: **{h_total}** calls ({h_rps:.0f}/s), p50 {h_lat.get('p50', 0):.2f} ms, "
      f"p99 {h_lat.get('p99', 0):.2f} ms, max {h_lat.get('max', 0):.1f} ms")
print(f"  - by status: {fmt(h_status)}; 200 with another body: {bad_body}; socket errors: {fmt(h_socket)}")
print(f"- hostile calls: **{x_total}** answered, by status: {fmt(x_status)}; "
      f"12 MiB uploads reset before an answer: {fmt(x_resets)}; other calls without an "
      f"answer: {fmt(x_errors)}\n")
print("| hostile kind | calls | by status | no answer | p50 ms | max ms |")
print("|---|---:|---|---|---:|---:|")
for k, v in hostile.items():
    n = sum(v["statuses"].values())
    p50 = f"{v['p50_ms']:.1f}" if v["p50_ms"] is not None else "-"
    mx = f"{v['max_ms']:.1f}" if v["max_ms"] is not None else "-"
    print(f"| {k} | {n} | {fmt(v['statuses'])} | {fmt(v['errors'])} | {p50} | {mx} |")

print("\n| t s | RSS MiB | anon MiB | file MiB | peak (VmHWM) MiB | threads | open fds | data dir MiB |")
print("|---:|---:|---:|---:|---:|---:|---:|---:|")
step = max(1, -(-len(samples) // 21))
shown = [s for i, s in enumerate(samples) if i % step == 0 or i >= len(samples) - 2]
for s in shown:
    f = {k: f"{s[k]:.1f}" if s[k] is not None else "-" for k in
         ("rss_mib", "anon_mib", "file_mib", "hwm_mib", "data_mib")}
    if s["rss_mib"] is None:
        f["rss_mib"] = "dead"
    t = f"{s['t']:.0f}" + (" (idle 5 s after the load)" if s["label"] == "idle" else "")
    print(f"| {t} | {f['rss_mib']} | {f['anon_mib']} | {f['file_mib']} | {f['hwm_mib']} "
          f"| {max(s['threads'], 0) or '-'} | {max(s['fds'], 0) or '-'} | {f['data_mib']} |")
if step > 1:
    print(f"\n(every {step}th sample shown; all {len(samples)} in soak.json)")
# Statuses other than each kind's usual one (and 429): not a failure, but worth a look.
usual = {k: 413 if k.startswith("oversize") else 404 if k.startswith("missing") else 502
         for k in hostile}
for k, v in hostile.items():
    for s, n in v["statuses"].items():
        if int(s) not in (usual[k], 429):
            print(f"\nNote: {k} answered {s} to {n} of its calls (expected by the cap or the "
                  f"guest: {usual[k]}).")
rs = [s["rss_mib"] for s in load]
if rs:
    print(f"\nRSS under load: first {rs[0]:.1f}, last {rs[-1]:.1f}, min {min(rs):.1f}, max {max(rs):.1f} MiB.")
    after = [(s["t"], s["rss_mib"]) for s in load if s["t"] >= w]
    if len(after) >= 2:
        mt = sum(t for t, _ in after) / len(after)
        mr = sum(r for _, r in after) / len(after)
        var = sum((t - mt) ** 2 for t, _ in after)
        slope = sum((t - mt) * (r - mr) for t, r in after) / var * 60 if var else 0
        print(f"Trend after warm-up (least squares over {len(after)} samples): {slope:+.1f} MiB/min.")
print(f"Data directory at the end: {int(final['data_kib']) / MIB:.1f} MiB ("
      + ", ".join(f"{name} {mib:.1f}" for mib, name in sorted(data_dir, reverse=True)) + "); "
      f"server log: {len(other_log)} line(s) besides the listening and stopped lines.")
for l in other_log[:5]:
    print(f"    {l[:200]}")

print("\nCriteria:")
print(f"1. RSS flat (first {w:.0f} s of warm-up left out, the rest split in halves; the largest "
      f"sample of the second half <= 1.2x the largest of the first + 8 MiB): {verdict(rss_ok)} — {rss_text}")
print(f"2. Expected statuses only (healthy: 200 with the greeting, 429 or 503, no socket errors; "
      f"hostile: {'/'.join(map(str, x_allowed))}, always answered but for resets of the 12 MiB "
      f"uploads): {verdict(status_ok)}"
      + (f" — unexpected healthy {fmt(h_unexpected)}" if h_unexpected else "")
      + (f" — healthy socket errors {fmt(h_socket)}" if h_sock else "")
      + (f" — {bad_body} healthy 200s with another body" if bad_body else "")
      + (f" — unexpected hostile {fmt(x_unexpected)}" if x_unexpected else "")
      + (f" — hostile without an answer {fmt(x_errors)}" if x_errors else ""))
print(f"3. No crash (alive at the end, answers GET /fn/hello/ 200 \"Hello from wisp!\\n\", exits 0 "
      f"within {stop_timeout} s of SIGTERM): {verdict(alive_ok)} — alive {final['alive'] == '1'}, "
      f"answer {final['answer_status']} (body {'ok' if final['answer_ok'] == '1' else 'wrong'}), "
      + (f"exit {final['exit_code']} after {int(final['stop_ms'])} ms"
         if final["stopped"] == "1" else f"still running after {stop_timeout} s, killed"))
passed = rss_ok and status_ok and alive_ok
print(f"\nOverall: {verdict(passed)}")

json.dump(dict(date=date, soak_s=soak, sample_s=sample, warmup_s=w, cores=os.cpu_count(),
               kernel=os.uname().release, connections=conns, wrk_threads=wrk_threads,
               hostile_threads=hthreads,
               healthy=dict(calls=h_total, rps=h_rps, statuses=h_status, bad_body=bad_body,
                            socket_errors=h_socket, latency_ms=h_lat),
               hostile=dict(calls=x_total, statuses=x_status, no_answer=x_errors,
                            oversize_resets=x_resets, kinds=hostile),
               rss=dict(samples=samples, first_half_max_mib=max(first, default=None),
                        second_half_max_mib=max(second, default=None), limit_mib=limit),
               final=final, data_dir_mib=dict((n, m) for m, n in data_dir),
               server_log_lines=other_log[:50],
               criteria=dict(rss_flat=rss_ok, expected_statuses=status_ok, no_crash=alive_ok),
               passed=passed),
          open("bench/results/soak.json", "w"), indent=2)
sys.exit(0 if passed else 1)
PY
