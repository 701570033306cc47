#!/usr/bin/env bash
# Throughput of the hello wasi:http component, five servers side by side in one run,
# driven by wrk on loopback:
#   native hyper            bench/native-hello, the ceiling;
#   wisp                    /fn/hello/, a fresh instance per request;
#   wasmtime serve          `wasmtime serve -S cli` (same wasmtime version), defaults;
#   wasmtime serve, pooling the same with wisp's pooling settings;
#   wasmtime serve, reuse   the same with one instance reused for up to 100 000
#                           requests (no fresh instance per request).
# Each round starts every server fresh, warms it up (2 s of wrk), measures it
# (DURATION s) and stops it; servers are interleaved within a round, and the start
# order rotates from round to round, so drift on the machine hits all of them alike.
# Reports the median over the rounds of requests/s, p50, p99, server CPU per request
# (utime+stime of the server process over the measured run / requests completed),
# peak server RSS (VmHWM) and non-2xx responses, with the ratios and targets, and
# writes them to bench/results/throughput.md and bench/results/throughput.json.
#
# Environment: ROUNDS (default 3), DURATION (s, default 10), CONNECTIONS (default 32),
# WRK_THREADS (default 1), SKIP_WASMTIME=1 to leave the three `wasmtime serve` rows
# out. WISP_BIN and NATIVE_BIN, both set, measure those binaries instead of building
# target/release/{wisp,native-hello}.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-32}
WRK_THREADS=${WRK_THREADS:-1}
SKIP_WASMTIME=${SKIP_WASMTIME:-0}
WASMTIME_VERSION=48.0.8
cache=$root/bench/.cache
mkdir -p "$cache" bench/results

WISP_SETUP_BENCH=1 scripts/setup.sh
scripts/build-examples.sh >/dev/null
if [ -n "${WISP_BIN:-}" ] && [ -n "${NATIVE_BIN:-}" ]; then
    echo "using prebuilt $WISP_BIN and $NATIVE_BIN" >&2
else
    echo "building wisp and the native baseline (release)..." >&2
    cargo build --release --quiet -p wisp -p native-hello
    WISP_BIN=$root/target/release/wisp
    NATIVE_BIN=$root/target/release/native-hello
fi

wasmtime=$cache/wasmtime-$WASMTIME_VERSION/bin/wasmtime
if [ "$SKIP_WASMTIME" != 1 ] && [ ! -x "$wasmtime" ]; then
    echo "installing wasmtime-cli $WASMTIME_VERSION into $cache (once; takes a while)..." >&2
    # clap/default: without it (it is among wasmtime-cli's default features) `--help`
    # is refused and argument errors do not name the argument.
    CARGO_TARGET_DIR=$cache/wasmtime-target cargo install --locked --quiet wasmtime-cli \
        --version "$WASMTIME_VERSION" --no-default-features \
        --features run,serve,cranelift,pooling-allocator,parallel-compilation,wat,component-model-async,clap/default \
        --root "$cache/wasmtime-$WASMTIME_VERSION"
fi

# wisp's pooling settings (crates/wisp-invoker/src/engine.rs: MEMORY_KEEP_RESIDENT,
# TABLE_KEEP_RESIDENT, STACK_KEEP_RESIDENT, pagemap_scan, DECOMMIT_BATCH; keep
# these equal to those constants) as wasmtime 48.0.8 `-O` options;
# the names are those of `wasmtime -O help`. `wasmtime serve` already picks the
# pooling allocator by default where it can reserve the address space;
# pooling-allocator=y makes it certain. pooling-pagemap-scan=y (wisp uses Auto)
# fails loudly on a kernel without PAGEMAP_SCAN (before 6.7).
wasmtime_pooling=-Opooling-allocator=y,pooling-memory-keep-resident=4194304,pooling-table-keep-resident=1048576,pooling-async-stack-keep-resident=131072,pooling-pagemap-scan=y,pooling-decommit-batch-size=1
# --max-instance-reuse-count exists in `wasmtime serve --help` of 48.0.8 (default 1
# for a WASIp2 component such as hello: a fresh instance per request).
wasmtime_reuse=--max-instance-reuse-count=100000

component=$root/examples/build/hello-http.wasm
clk_tck=$(getconf CLK_TCK)
work=$(mktemp -d)
pid=""
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

# The binaries are copied, so that a rebuild during the run cannot swap them.
mkdir "$work/bin"
cp "$WISP_BIN" "$work/bin/wisp"
cp "$NATIVE_BIN" "$work/bin/native-hello"
wisp=$work/bin/wisp
export WISP_API_KEY=bench:bench

# start NAME LOGFILE CMD... : starts a server, waits for its URL, sets $url and $pid.
start() {
    local name=$1 log=$2
    shift 2
    "$@" >"$log" 2>&1 &
    pid=$!
    for _ in $(seq 300); do
        url=$(grep -o 'http://[0-9.:]*' "$log" | head -1 || true)
        [ -n "$url" ] && return 0
        kill -0 "$pid" 2>/dev/null || { echo "$name failed to start:" >&2; cat "$log" >&2; exit 1; }
        sleep 0.1
    done
    echo "$name did not start in time" >&2
    cat "$log" >&2
    exit 1
}

# alive NAME LOGFILE : fails the run if the server $pid has exited.
alive() {
    kill -0 "$pid" 2>/dev/null && return 0
    echo "$1 exited during the run:" >&2
    cat "$2" >&2
    exit 1
}

# cpu_ticks : utime + stime of the server process $pid (all its threads), in clock
# ticks. Fields 14 and 15 of /proc/PID/stat, counted after the parenthesised name.
cpu_ticks() {
    local stat f
    stat=$(<"/proc/$pid/stat")
    read -ra f <<<"${stat##*) }"
    echo $((f[11] + f[12]))
}

# measure NAME ROUND URL : warms up, runs wrk, records its output, the server's CPU
# ticks over the measured run and its peak RSS in $work/ROUND-NAME.wrk, then stops
# the server $pid.
measure() {
    local name=$1 round=$2 target=$3 log=$work/$2-$1.log out=$work/$2-$1.wrk before after
    curl -fsS "$target" >/dev/null || { echo "$name does not answer $target:" >&2; cat "$log" >&2; exit 1; }
    wrk -t"$WRK_THREADS" -c"$CONNECTIONS" -d2s "$target" >/dev/null
    alive "$name" "$log"
    echo "  round $round/$ROUNDS, $name: ${DURATION}s of load on $target ..." >&2
    # Peak RSS is measured twice: over the server's whole life (start, compile,
    # warm-up) and under the measured load alone (the peak reset by
    # `clear_refs` 5 just before it).
    echo "start_rss_kib $(awk '/VmHWM/ {print $2}' "/proc/$pid/status")" >>"$out.pre"
    echo 5 >"/proc/$pid/clear_refs"
    before=$(cpu_ticks)
    wrk -t"$WRK_THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency "$target" >"$out"
    alive "$name" "$log"
    after=$(cpu_ticks)
    echo "cpu_ticks $((after - before))" >>"$out"
    echo "rss_kib $(awk '/VmHWM/ {print $2}' "/proc/$pid/status")" >>"$out"
    cat "$out.pre" >>"$out"
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    pid=""
}

# bench NAME ROUND : one fresh server, warmed up and measured.
bench() {
    local name=$1 round=$2 log=$work/$2-$1.log
    case $name in
        native)
            start "$name" "$log" "$work/bin/native-hello" 127.0.0.1:0
            measure "$name" "$round" "$url/"
            ;;
        wisp)
            start "$name" "$log" "$wisp" serve --listen 127.0.0.1:0 --data-dir "$work/$round-wisp-data"
            WISP_SERVER=$url "$wisp" deploy hello "$component" >/dev/null ||
                { echo "deploying hello to wisp failed:" >&2; cat "$log" >&2; exit 1; }
            measure "$name" "$round" "$url/fn/hello/"
            ;;
        wasmtime)
            start "$name" "$log" "$wasmtime" serve --addr 127.0.0.1:0 -S cli "$component"
            measure "$name" "$round" "$url/"
            ;;
        wasmtime-pooling)
            start "$name" "$log" "$wasmtime" serve --addr 127.0.0.1:0 -S cli "$wasmtime_pooling" "$component"
            measure "$name" "$round" "$url/"
            ;;
        wasmtime-reuse)
            start "$name" "$log" "$wasmtime" serve --addr 127.0.0.1:0 -S cli "$wasmtime_reuse" "$component"
            measure "$name" "$round" "$url/"
            ;;
    esac
}

servers=(native wisp)
[ "$SKIP_WASMTIME" != 1 ] && servers+=(wasmtime wasmtime-pooling wasmtime-reuse)
n=${#servers[@]}
for round in $(seq "$ROUNDS"); do
    echo "round $round/$ROUNDS" >&2
    for i in $(seq 0 $((n - 1))); do
        bench "${servers[$(((i + round - 1) % n))]}" "$round"
    done
done

python3 - "$work" "$ROUNDS" "$DURATION" "$CONNECTIONS" "$WRK_THREADS" "$clk_tck" "$WASMTIME_VERSION" \
    "${servers[@]}" <<'PY' | tee bench/results/throughput.md
import datetime, json, os, re, statistics, sys
work, rounds, duration, conns, threads, clk_tck, wt_version = sys.argv[1:8]
servers = sys.argv[8:]
rounds, clk_tck = int(rounds), int(clk_tck)

def ms(v):
    m = re.match(r"([\d.]+)(us|ms|s)", v)
    x = float(m.group(1))
    return {"us": x / 1000, "ms": x, "s": x * 1000}[m.group(2)]

def run(name, rnd):
    text = open(os.path.join(work, f"{rnd}-{name}.wrk")).read()
    requests = int(re.search(r"(\d+) requests in", text).group(1))
    p50 = ms(re.search(r"^\s+50%\s+(\S+)", text, re.M).group(1))
    p99 = ms(re.search(r"^\s+99%\s+(\S+)", text, re.M).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    sock = re.search(r"Socket errors: (.*)", text)
    ticks = int(re.search(r"cpu_ticks (\d+)", text).group(1))
    return dict(rps=float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1)),
                requests=requests, p50=p50, p99=p99, p99_p50=p99 / p50,
                cpu_us=ticks / clk_tck * 1e6 / max(requests, 1),
                rss=int(re.search(r"^rss_kib (\d+)", text, re.M).group(1)) / 1024,
                life_rss=max(int(re.search(r"^rss_kib (\d+)", text, re.M).group(1)),
                             int(re.search(r"start_rss_kib (\d+)", text).group(1))) / 1024,
                errors=int(errors.group(1)) if errors else 0,
                sock=sock.group(1).strip() if sock else "")

runs = {s: [run(s, r) for r in range(1, rounds + 1)] for s in servers}
for s in servers:  # x native, per round, against the same round's native run
    for r, native in zip(runs[s], runs["native"]):
        r["x_native"] = r["rps"] / native["rps"]
# Every figure is the median over the rounds of that round's figure; non-2xx are summed.
med = {s: {k: statistics.median(r[k] for r in rs)
           for k in ["rps", "x_native", "cpu_us", "p50", "p99", "p99_p50", "rss", "life_rss"]}
       for s, rs in runs.items()}
for s, rs in runs.items():
    med[s]["errors"] = sum(r["errors"] for r in rs)
    med[s]["sock"] = [r["sock"] for r in rs if r["sock"]]

labels = {"native": "native hyper", "wisp": "wisp",
          "wasmtime": "wasmtime serve",
          "wasmtime-pooling": "wasmtime serve, wisp's pooling settings",
          "wasmtime-reuse": "wasmtime serve, instance reuse"}
date = datetime.date.today().isoformat()
print(f"# Hello-component throughput ({date}; median of {rounds} round(s) of {duration}s, "
      f"wrk -t{threads} -c{conns}, loopback, {os.cpu_count()} cores)\n")
print("| server | req/s | x native | server CPU µs/request | p50 ms | p99 ms | p99/p50 | peak RSS under load MiB | peak RSS since start MiB | non-2xx |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for s in servers:
    m = med[s]
    print(f"| {labels[s]} | {m['rps']:.0f} | {m['x_native']:.2f} | {m['cpu_us']:.1f} | {m['p50']:.3f} "
          f"| {m['p99']:.3f} | {m['p99_p50']:.1f} | {m['rss']:.1f} | {m['life_rss']:.1f} | {m['errors']} |")
print()
for s in servers:
    if med[s]["sock"]:
        print(f"- {labels[s]} socket errors: {'; '.join(med[s]['sock'])}")

w = med["wisp"]
for s in ["wasmtime", "wasmtime-pooling", "wasmtime-reuse"]:
    if s in med:
        o = med[s]
        print(f"- wisp / {labels[s]}: **{w['rps'] / o['rps']:.2f}x** the requests/s, "
              f"**{w['cpu_us'] / o['cpu_us']:.2f}x** the CPU per request")

def target(ok, text):
    return f"- target {text}: **{'met' if ok else 'NOT met'}**"

targets = {}
if "wasmtime-reuse" in med:
    r = med["wasmtime-reuse"]
    targets["rps_vs_reuse"] = w["rps"] >= r["rps"]
    print(target(targets["rps_vs_reuse"], f"wisp req/s >= instance-reuse req/s "
                 f"({w['rps']:.0f} vs {r['rps']:.0f})"))
else:
    print("- target wisp req/s >= instance-reuse req/s: not measured (SKIP_WASMTIME=1)")
targets["cpu_25us"] = w["cpu_us"] <= 25
print(target(targets["cpu_25us"], f"wisp CPU/request <= 25 µs ({w['cpu_us']:.1f} µs)"))
targets["rss_32mib"] = w["rss"] <= 32
print(target(targets["rss_32mib"], f"wisp peak RSS under load <= 32 MiB ({w['rss']:.1f} MiB; "
             f"{w['life_rss']:.1f} MiB since start, deploy's compile included)"))
targets["p99_3x_p50"] = w["p99"] <= 3 * w["p50"]
print(target(targets["p99_3x_p50"], f"wisp p99 <= 3x p50 ({w['p99']:.3f} ms vs "
             f"{w['p50']:.3f} ms: {w['p99_p50']:.1f}x)"))

json.dump(dict(date=date, rounds=rounds, duration_s=int(duration), connections=int(conns),
               wrk_threads=int(threads), cores=os.cpu_count(), kernel=os.uname().release,
               wasmtime_version=wt_version, clk_tck=clk_tck, labels=labels,
               median=med, runs=runs, targets_met=targets),
          open("bench/results/throughput.json", "w"), indent=2)
PY
