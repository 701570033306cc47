#!/usr/bin/env bash
# Throughput of the hello wasi:http component: wisp vs `wasmtime serve` (same
# wasmtime version) vs a native hyper server, side by side in one run, driven by
# wrk on loopback. Prints requests/s, p50, p99, peak server RSS and the ratios, and
# writes them to bench/results/throughput.md.
#
# Environment: DURATION (s, default 10), CONNECTIONS (default 32), WRK_THREADS
# (default 2), SKIP_WASMTIME=1 to leave `wasmtime serve` out.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-32}
WRK_THREADS=${WRK_THREADS:-2}
WASMTIME_VERSION=48.0.8
cache=$root/bench/.cache
mkdir -p "$cache" bench/results

WISP_SETUP_BENCH=1 scripts/setup.sh
scripts/build-examples.sh >/dev/null
echo "building wisp and the native baseline (release)..." >&2
cargo build --release --quiet -p wisp -p native-hello

wasmtime=$cache/wasmtime-$WASMTIME_VERSION/bin/wasmtime
if [ "${SKIP_WASMTIME:-0}" != 1 ] && [ ! -x "$wasmtime" ]; then
    echo "installing wasmtime-cli $WASMTIME_VERSION into $cache (once; takes a while)..." >&2
    CARGO_TARGET_DIR=$cache/wasmtime-target cargo install --locked --quiet wasmtime-cli \
        --version "$WASMTIME_VERSION" --no-default-features \
        --features run,serve,cranelift,pooling-allocator,parallel-compilation,wat,component-model-async \
        --root "$cache/wasmtime-$WASMTIME_VERSION"
fi

component=$root/examples/build/hello-http.wasm
work=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

# start NAME LOGFILE CMD... : starts a server, waits for its URL, sets $url and $pid.
start() {
    local name=$1 log=$2
    shift 2
    "$@" >"$log" 2>&1 &
    pid=$!
    pids+=("$pid")
    for _ in $(seq 300); do
        url=$(grep -o 'http://[0-9.:]*' "$log" | head -1 || true)
        [ -n "$url" ] && return 0
        kill -0 "$pid" 2>/dev/null || { echo "$name failed to start:" >&2; cat "$log" >&2; exit 1; }
        sleep 0.1
    done
    echo "$name did not start in time" >&2
    exit 1
}

# load NAME URL PID : warms up, runs wrk, records figures in $work/NAME.txt
load() {
    local name=$1 target=$2 server_pid=$3
    curl -fsS "$target" >/dev/null
    wrk -t"$WRK_THREADS" -c"$CONNECTIONS" -d2s "$target" >/dev/null
    echo "  $name: ${DURATION}s of load on $target ..." >&2
    wrk -t"$WRK_THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency "$target" >"$work/$name.wrk"
    local hwm
    hwm=$(awk '/VmHWM/ {print $2}' "/proc/$server_pid/status")
    echo "rss_kib $hwm" >>"$work/$name.wrk"
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
}

echo "native hyper" >&2
start native "$work/native.log" target/release/native-hello 127.0.0.1:0
load native "$url/" "$pid"

echo "wisp" >&2
export WISP_API_KEY=bench:bench
start wisp "$work/wisp.log" target/release/wisp serve --listen 127.0.0.1:0 --data-dir "$work/wisp-data"
wisp_pid=$pid
WISP_SERVER=$url target/release/wisp deploy hello "$component" >/dev/null
load wisp "$url/fn/hello/" "$wisp_pid"

if [ "${SKIP_WASMTIME:-0}" != 1 ]; then
    echo "wasmtime serve" >&2
    start wasmtime "$work/wasmtime.log" "$wasmtime" serve --addr 127.0.0.1:0 -S cli "$component"
    load wasmtime "$url/" "$pid"
fi

python3 - "$work" "$DURATION" "$CONNECTIONS" <<'PY' | tee bench/results/throughput.md
import os, re, sys
work, duration, conns = sys.argv[1], sys.argv[2], sys.argv[3]

def ms(v):
    m = re.match(r"([\d.]+)(us|ms|s)", v)
    x = float(m.group(1))
    return {"us": x / 1000, "ms": x, "s": x * 1000}[m.group(2)]

rows = {}
for name in ["native", "wisp", "wasmtime"]:
    p = os.path.join(work, name + ".wrk")
    if not os.path.exists(p):
        continue
    text = open(p).read()
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
    p50 = ms(re.search(r"^\s+50%\s+(\S+)", text, re.M).group(1))
    p99 = ms(re.search(r"^\s+99%\s+(\S+)", text, re.M).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    sock = re.search(r"Socket errors: (.*)", text)
    rss = int(re.search(r"rss_kib (\d+)", text).group(1)) / 1024
    rows[name] = dict(rps=rps, p50=p50, p99=p99, rss=rss,
                      errors=int(errors.group(1)) if errors else 0,
                      sock=sock.group(1) if sock else "")

labels = {"native": "native hyper", "wisp": "wisp", "wasmtime": "wasmtime serve"}
print(f"# Hello-component throughput ({duration}s, {conns} connections, wrk, loopback, {os.cpu_count()} cores)\n")
print("| server | requests/s | p50 ms | p99 ms | p99/p50 | peak RSS MiB | non-2xx |")
print("|---|---:|---:|---:|---:|---:|---:|")
for k, r in rows.items():
    print(f"| {labels[k]} | {r['rps']:.0f} | {r['p50']:.3f} | {r['p99']:.3f} | {r['p99']/r['p50']:.1f} | {r['rss']:.1f} | {r['errors']} |")
print()
w = rows.get("wisp")
if w and "native" in rows:
    print(f"- wisp / native hyper requests/s: **{w['rps']/rows['native']['rps']:.2f}x** (target >= 0.5x)")
if w and "wasmtime" in rows:
    print(f"- wisp / wasmtime serve requests/s: **{w['rps']/rows['wasmtime']['rps']:.2f}x**")
if w:
    print(f"- wisp p99 / p50: **{w['p99']/w['p50']:.1f}** (target <= 3)")
    print(f"- wisp peak RSS under load: **{w['rss']:.1f} MiB** (target <= 32 MiB)")
PY
