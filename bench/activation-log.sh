#!/usr/bin/env bash
# What keeping activation records costs: hello-component throughput with the
# activation log on and off, in one run, alternating (off, on, off, on, ...) so
# that drift of the machine hits both alike. Prints the medians and the ratio
# (target: the log costs at most 10 %).
#
# Environment: DURATION (s per round, default 5), ROUNDS (default 3),
# CONNECTIONS (default 32).
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-5}
ROUNDS=${ROUNDS:-3}
CONNECTIONS=${CONNECTIONS:-32}
mkdir -p bench/results
WISP_SETUP_BENCH=1 scripts/setup.sh
scripts/build-examples.sh >/dev/null
cargo build --release --quiet -p wisp
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export WISP_API_KEY=bench:bench

round() { # MODE(on|off) -> requests/s on stdout
    local mode=$1 flags=()
    [ "$mode" = off ] && flags=(--no-activation-log)
    rm -rf "$work/data"
    target/release/wisp serve --listen 127.0.0.1:0 --data-dir "$work/data" "${flags[@]}" >"$work/log" 2>&1 &
    local pid=$!
    for _ in $(seq 100); do grep -q "wisp listening" "$work/log" && break; sleep 0.1; done
    local url
    url=$(grep -o 'http://[0-9.:]*' "$work/log" | head -1)
    WISP_SERVER=$url target/release/wisp deploy hello examples/build/hello-http.wasm >/dev/null
    wrk -t2 -c"$CONNECTIONS" -d2s "$url/fn/hello/" >/dev/null
    wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" "$url/fn/hello/" | awk '/Requests\/sec/ {print $2}'
    kill "$pid"
    wait "$pid" 2>/dev/null || true
}

off=() on=()
for i in $(seq "$ROUNDS"); do
    echo "round $i/$ROUNDS" >&2
    off+=("$(round off)")
    on+=("$(round on)")
done
python3 - "${off[*]}" "${on[*]}" "$DURATION" "$CONNECTIONS" <<'PY' | tee bench/results/activation-log.md
import statistics, sys
off = [float(x) for x in sys.argv[1].split()]
on = [float(x) for x in sys.argv[2].split()]
mo, mn = statistics.median(off), statistics.median(on)
print(f"# Activation log cost (hello component, web route, {sys.argv[3]} s x {len(off)} rounds, {sys.argv[4]} connections)\n")
print("| activation log | requests/s (each round) | median |")
print("|---|---|---:|")
print(f"| off | {' / '.join(f'{x:.0f}' for x in off)} | {mo:.0f} |")
print(f"| on | {' / '.join(f'{x:.0f}' for x in on)} | {mn:.0f} |")
print(f"\n- on / off: **{mn/mo:.2f}x** (cost {max(0.0, 1 - mn/mo) * 100:.1f} %; target: at most 10 %)")
PY
