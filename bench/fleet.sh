#!/usr/bin/env bash
# A fleet's costs, in one run, driven by wrk on loopback:
#   redb       one node on the embedded registry, called directly;
#   postgres   one node on the PostgreSQL registry, called directly: the
#              registry's cost on the invocation path, which should be none
#              (a node mirrors the metadata in memory and reads no database
#              per call);
#   redb-bare, postgres-bare
#              the same two without activation records (--no-activation-log):
#              the invocation path alone, since on PostgreSQL each call's
#              record is written by a database server on the same CPUs;
#   nginx-1    nginx in front of that one node;
#   nginx-3    nginx in front of three nodes on the same PostgreSQL.
# The load is the hello wasi:http component deployed as six actions, each
# request the next of them (a wrk Lua script), so nginx's consistent hashing
# spreads them over the nodes. Rows are interleaved over ROUNDS rounds, each
# row's nodes started fresh; the medians of requests/s, p50 and p99 are
# printed with the ratios, and written to bench/results/fleet.md.
#
# Environment: ROUNDS (default 3), DURATION (s, default 10), CONNECTIONS
# (default 32), WRK_THREADS (default 1).
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-32}
WRK_THREADS=${WRK_THREADS:-1}
WISP_SETUP_BENCH=1 scripts/setup.sh
scripts/build-examples.sh >/dev/null
cargo build --release --quiet -p wisp
mkdir -p bench/results
. scripts/fleet/lib.sh
trap fleet_stop EXIT
work=$FLEET_DIR/bench
mkdir -p "$work"
export WISP_API_KEY="bench:$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
component=examples/build/hello-http.wasm
actions=6
cat >"$work/rotate.lua" <<LUA
local n = 0
request = function()
  n = n % $actions + 1
  return wrk.format("GET", "/fn/hello-" .. n .. "/")
end
LUA

fleet_postgres
pg_port=${FLEET_PG_URL##*:}
pg_port=${pg_port%%/*}

# Transactions committed in the database so far: a call that read or wrote
# the registry would show here.
commits() {
    psql -h 127.0.0.1 -p "$pg_port" -U wisp -d postgres -Atc \
        "SELECT xact_commit FROM pg_stat_database WHERE datname = 'postgres'"
}

# Stops the nodes and nginx a row started.
stop_row() {
    local pid
    for pid in "${FLEET_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${FLEET_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    FLEET_PIDS=()
    FLEET_NODES=()
    rm -rf "$FLEET_DIR"/node*
}

# row NAME ROUND : starts the row's servers, deploys, warms up, measures.
row() {
    local name=$1 round=$2 target node
    case $name in
        redb) fleet_node 1 ;;
        redb-bare) fleet_node 1 --no-activation-log ;;
        postgres | nginx-1) fleet_node 1 --registry "$FLEET_PG_URL" ;;
        postgres-bare) fleet_node 1 --registry "$FLEET_PG_URL" --no-activation-log ;;
        nginx-3) for node in 1 2 3; do fleet_node "$node" --registry "$FLEET_PG_URL"; done ;;
    esac
    target=${FLEET_NODES[0]}
    case $name in nginx-*) fleet_nginx "${FLEET_NODES[@]}"; target=$FLEET_FRONT ;; esac
    for i in $(seq "$actions"); do
        WISP_SERVER=${FLEET_NODES[0]} "$wisp" deploy "hello-$i" "$component" >/dev/null
    done
    # Every node serves every action (deployed through node 1, followed by the others).
    for url in "${FLEET_NODES[@]}"; do
        for i in $(seq "$actions"); do
            for _ in $(seq 100); do
                curl -fsS "$url/fn/hello-$i/" >/dev/null 2>&1 && break
                sleep 0.05
            done
        done
    done
    wrk -t"$WRK_THREADS" -c"$CONNECTIONS" -d2s -s "$work/rotate.lua" "$target" >/dev/null
    echo "  round $round/$ROUNDS, $name: ${DURATION}s of load on $target ..." >&2
    local before after
    before=$(commits)
    wrk -t"$WRK_THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency -s "$work/rotate.lua" "$target" \
        >"$work/$round-$name.wrk"
    after=$(commits)
    echo "db_transactions $((after - before))" >>"$work/$round-$name.wrk"
    stop_row
}

rows=(redb postgres redb-bare postgres-bare nginx-1 nginx-3)
count=${#rows[@]}
for round in $(seq "$ROUNDS"); do
    for i in $(seq 0 $((count - 1))); do
        row "${rows[$(((i + round - 1) % count))]}" "$round"
    done
done

python3 - "$work" "$ROUNDS" "$DURATION" "$CONNECTIONS" "$WRK_THREADS" "${rows[@]}" <<'PY' | tee bench/results/fleet.md
import datetime, os, re, statistics, sys
work, rounds, duration, conns, threads = sys.argv[1:6]
rows = sys.argv[6:]

def ms(v):
    m = re.match(r"([\d.]+)(us|ms|s)", v)
    return float(m.group(1)) * {"us": 0.001, "ms": 1, "s": 1000}[m.group(2)]

def run(name, rnd):
    text = open(os.path.join(work, f"{rnd}-{name}.wrk")).read()
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
    p50 = ms(re.search(r"^\s+50%\s+(\S+)", text, re.M).group(1))
    p99 = ms(re.search(r"^\s+99%\s+(\S+)", text, re.M).group(1))
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    errors = re.search(r"Socket errors:.*", text)
    txns = int(re.search(r"db_transactions (-?\d+)", text).group(1))
    requests = int(re.search(r"(\d+) requests in", text).group(1))
    return rps, p50, p99, int(bad.group(1)) if bad else 0, errors.group(0) if errors else "", txns, requests

res = {}
for name in rows:
    runs = [run(name, r) for r in range(1, int(rounds) + 1)]
    res[name] = {
        "rps": statistics.median(r[0] for r in runs),
        "p50": statistics.median(r[1] for r in runs),
        "p99": statistics.median(r[2] for r in runs),
        "bad": sum(r[3] for r in runs),
        "errors": "; ".join(r[4] for r in runs if r[4]),
        "txns": statistics.median(r[5] for r in runs),
        "requests": statistics.median(r[6] for r in runs),
    }
print(f"# Fleet: the PostgreSQL registry and nginx\n")
print(f"{datetime.date.today()}, {os.cpu_count()} cores, hello as 6 actions, "
      f"wrk -t{threads} -c{conns} -d{duration}s, median of {rounds} rounds (bench/fleet.sh)\n")
print("| row | requests/s | p50 ms | p99 ms | non-2xx | database transactions during the load |")
print("|---|---:|---:|---:|---:|---:|")
for name in rows:
    r = res[name]
    txns = "—" if name.startswith("redb") else f"{r['txns']:.0f} for {r['requests']:.0f} requests"
    print(f"| {name} | {r['rps']:.0f} | {r['p50']:.2f} | {r['p99']:.2f} | {r['bad']} | {txns} |")
print()
ratio = lambda a, b: res[a]["rps"] / res[b]["rps"]
print(f"- The invocation path reads no database: {res['postgres-bare']['txns']:.0f} transactions during "
      f"{res['postgres-bare']['requests']:.0f} calls without activation records (the alarms lease and the change feed's checks)")
print(f"- PostgreSQL registry against redb, invocation path alone (no activation records): "
      f"{ratio('postgres-bare', 'redb-bare'):.3f}× the requests/s (1.0 is no cost; the target is none)")
print(f"- PostgreSQL registry against redb, with activation records: {ratio('postgres', 'redb'):.3f}× "
      f"(the records' inserts run in the database server, on the same CPUs here)")
print(f"- nginx in front of one node: {ratio('nginx-1', 'postgres'):.3f}× the requests/s of calling the node directly")
print(f"- three nodes against one, through nginx: {ratio('nginx-3', 'nginx-1'):.3f}× "
      f"(on {os.cpu_count()} cores the nodes, nginx and wrk share the same CPUs)")
for name in rows:
    if res[name]["errors"]:
        print(f"- {name}: {res[name]['errors']}")
PY
