#!/usr/bin/env bash
# What recording metrics costs: hello-component throughput with metrics on and
# off (--no-metrics), in one run, alternating (off, on, off, on, ...) so that
# drift of the machine hits both alike. Prints the medians and the cost in %
# (target: metrics cost at most 3 %).
#
# While metrics are on, /metrics is scraped every SCRAPE_INTERVAL seconds, as
# Prometheus would (far more often than its default 15 s), so the figure is
# the recording and the scraping together. One curl process scrapes over one
# kept-alive connection, so the scraper itself takes next to no CPU from the
# server and wrk.
#
# Each round also reads the server's CPU time (user + system, from /proc) and
# reports CPU microseconds per request: steadier than requests/s on a shared VM.
#
# Environment: DURATION (s per round, default 5), ROUNDS (default 6),
# CONNECTIONS (default 32), SCRAPE_INTERVAL (whole seconds, 1 to 60, default 1;
# 0: no scraping).
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-5}
ROUNDS=${ROUNDS:-6}
CONNECTIONS=${CONNECTIONS:-32}
SCRAPE_INTERVAL=${SCRAPE_INTERVAL:-1}
mkdir -p bench/results
WISP_SETUP_BENCH=1 scripts/setup.sh
scripts/build-examples.sh >/dev/null
cargo build --release --quiet -p wisp
work=$(mktemp -d)
scraper=""
cleanup() {
    [ -n "$scraper" ] && kill "$scraper" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
export WISP_API_KEY=bench:bench

cpu_ticks() { # PID -> utime + stime in clock ticks
    awk '{print $14 + $15}' "/proc/$1/stat"
}

round() { # MODE(on|off) -> "requests/s cpu-us-per-request" on stdout
    local mode=$1 flags=()
    [ "$mode" = off ] && flags=(--no-metrics)
    rm -rf "$work/data"
    target/release/wisp serve --listen 127.0.0.1:0 --data-dir "$work/data" "${flags[@]}" >"$work/log" 2>&1 &
    local pid=$!
    for _ in $(seq 300); do grep -q "wisp listening" "$work/log" && break; sleep 0.1; done
    grep -q "wisp listening" "$work/log" || { echo "wisp did not start:" >&2; cat "$work/log" >&2; exit 1; }
    local url
    url=$(grep -o 'http://[0-9.:]*' "$work/log" | head -1)
    WISP_SERVER=$url target/release/wisp deploy hello examples/build/hello-http.wasm >/dev/null
    wrk -t2 -c"$CONNECTIONS" -d2s "$url/fn/hello/" >/dev/null
    if [ "$mode" = on ] && [ "$SCRAPE_INTERVAL" != 0 ]; then
        # Every scrape must succeed: a failed one ends curl, and the run.
        curl -sf --fail-early -u "$WISP_API_KEY" --rate "$((60 / SCRAPE_INTERVAL))/m" \
            "$url/metrics?scrape=[1-1000000]" >/dev/null 2>"$work/scrape-err" &
        scraper=$!
    fi
    local before after rps requests hz
    hz=$(getconf CLK_TCK)
    before=$(cpu_ticks "$pid")
    wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" "$url/fn/hello/" >"$work/wrk"
    after=$(cpu_ticks "$pid")
    if [ -n "$scraper" ]; then
        if ! kill -0 "$scraper" 2>/dev/null; then
            echo "a scrape of /metrics failed: $(cat "$work/scrape-err")" >&2
            exit 1
        fi
        kill "$scraper"
        wait "$scraper" 2>/dev/null || true
        scraper=""
    fi
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
python3 - "$DURATION" "$CONNECTIONS" "$SCRAPE_INTERVAL" "${off[@]}" -- "${on[@]}" <<'PY' | tee bench/results/metrics.md
import statistics, sys
duration, connections, interval, rest = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
split = rest.index("--")
parse = lambda xs: [tuple(float(v) for v in x.split()) for x in xs]
off, on = parse(rest[:split]), parse(rest[split + 1:])
med = lambda xs, i: statistics.median(x[i] for x in xs)
mo, mn = med(off, 0), med(on, 0)
co, cn = med(off, 1), med(on, 1)
# Rounds alternate off/on: each pair ran under the same conditions.
pairs = sorted(b[0] / a[0] for a, b in zip(off, on))
scraped = f"scraped every {interval} s" if interval != "0" else "not scraped"
print(f"# Metrics cost (hello component, web route, {duration} s x {len(off)} rounds each, {connections} connections; on: {scraped})\n")
print("| metrics | requests/s (each round) | median | server CPU µs/request (median) |")
print("|---|---|---:|---:|")
print(f"| off (`--no-metrics`) | {' / '.join(f'{x[0]:.0f}' for x in off)} | {mo:.0f} | {co:.0f} |")
print(f"| on | {' / '.join(f'{x[0]:.0f}' for x in on)} | {mn:.0f} | {cn:.0f} |")
cost = (1 - mn / mo) * 100
noise = " (below zero: less than the run's noise)" if cost < 0 else ""
print(f"\n- throughput on / off (medians): **{mn/mo:.3f}x**: metrics cost **{cost:.1f} %**{noise} (target: at most 3 %)")
print(f"- median of the {len(pairs)} paired rounds' ratios: {statistics.median(pairs):.3f}x (range {pairs[0]:.3f}-{pairs[-1]:.3f})")
print(f"- server CPU per request on / off: {cn/co:.2f}x")
PY
