#!/usr/bin/env bash
# What keeping activation records costs: hello-component throughput with the
# activation log on and off, in one run, alternating (off, on, off, on, ...) so
# that drift of the machine hits both alike. Prints the medians and the ratio
# (target: the log costs at most 10 %).
#
# Each round also reads the server's CPU time (user + system, from /proc) and
# reports CPU microseconds per request: steadier than requests/s on a shared VM.
#
# Environment: DURATION (s per round, default 5), ROUNDS (default 6),
# CONNECTIONS (default 32).
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-5}
ROUNDS=${ROUNDS:-6}
CONNECTIONS=${CONNECTIONS:-32}
mkdir -p bench/results
WISP_SETUP_BENCH=1 scripts/setup.sh
scripts/build-examples.sh >/dev/null
cargo build --release --quiet -p wisp
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export WISP_API_KEY=bench:bench

cpu_ticks() { # PID -> utime + stime in clock ticks
    awk '{print $14 + $15}' "/proc/$1/stat"
}

round() { # MODE(on|off) -> "requests/s cpu-us-per-request" on stdout
    local mode=$1 flags=()
    [ "$mode" = off ] && flags=(--no-activation-log)
    rm -rf "$work/data"
    target/release/wisp serve --listen 127.0.0.1:0 --data-dir "$work/data" "${flags[@]}" >"$work/log" 2>&1 &
    local pid=$!
    for _ in $(seq 300); do grep -q "wisp listening" "$work/log" && break; sleep 0.1; done
    grep -q "wisp listening" "$work/log" || { echo "wisp did not start:" >&2; cat "$work/log" >&2; exit 1; }
    local url
    url=$(grep -o 'http://[0-9.:]*' "$work/log" | head -1)
    WISP_SERVER=$url target/release/wisp deploy hello examples/build/hello-http.wasm >/dev/null
    wrk -t2 -c"$CONNECTIONS" -d2s "$url/fn/hello/" >/dev/null
    local before after rps requests hz
    hz=$(getconf CLK_TCK)
    before=$(cpu_ticks "$pid")
    wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" "$url/fn/hello/" >"$work/wrk"
    after=$(cpu_ticks "$pid")
    rps=$(awk '/Requests\/sec/ {print $2}' "$work/wrk")
    requests=$(awk '/requests in/ {print $1}' "$work/wrk")
    [ -n "$rps" ] || { echo "wrk failed:" >&2; cat "$work/wrk" >&2; exit 1; }
    echo "$rps $(( (after - before) * 1000000 / hz / requests ))"
    kill "$pid"
    wait "$pid" 2>/dev/null || true
}

off=() on=()
for i in $(seq "$ROUNDS"); do
    echo "round $i/$ROUNDS" >&2
    off+=("$(round off)")
    on+=("$(round on)")
done
python3 - "$DURATION" "$CONNECTIONS" "${off[@]}" -- "${on[@]}" <<'PY' | tee bench/results/activation-log.md
import statistics, sys
duration, connections, rest = sys.argv[1], sys.argv[2], sys.argv[3:]
split = rest.index("--")
parse = lambda xs: [tuple(float(v) for v in x.split()) for x in xs]
off, on = parse(rest[:split]), parse(rest[split + 1:])
med = lambda xs, i: statistics.median(x[i] for x in xs)
mo, mn = med(off, 0), med(on, 0)
co, cn = med(off, 1), med(on, 1)
# Rounds alternate off/on: each pair ran under the same conditions.
pairs = sorted(b[0] / a[0] for a, b in zip(off, on))
print(f"# Activation log cost (hello component, web route, {duration} s x {len(off)} rounds each, {connections} connections)\n")
print("| activation log | requests/s (each round) | median | server CPU µs/request (median) |")
print("|---|---|---:|---:|")
print(f"| off | {' / '.join(f'{x[0]:.0f}' for x in off)} | {mo:.0f} | {co:.0f} |")
print(f"| on | {' / '.join(f'{x[0]:.0f}' for x in on)} | {mn:.0f} | {cn:.0f} |")
print(f"\n- throughput on / off (medians): **{mn/mo:.2f}x** (cost {max(0.0, 1 - mn/mo) * 100:.1f} %; target: at most 10 %)")
print(f"- median of the {len(pairs)} paired rounds' ratios: {statistics.median(pairs):.2f}x (range {pairs[0]:.2f}-{pairs[-1]:.2f})")
print(f"- server CPU per request on / off: {cn/co:.2f}x")
PY
