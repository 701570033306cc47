#!/usr/bin/env bash
# Neighbours stay healthy: a well-behaved action ("hello", the hello wasi:http
# component) is measured alone, then while a hostile action attacks at full
# concurrency: busy-looping until its time limit, growing memory past its limit,
# or flooding its output. Prints the neighbour's requests/s and p99 in each phase
# and the ratios to the quiet phase (targets: >= 0.5x throughput, p99 <= 5x).
#
# Environment: DURATION (s per phase, default 8), NEIGHBOUR_CONNECTIONS (8),
# ATTACK_CONNECTIONS (32), ATTACKER_INSTANCES (the attacker's per-action cap, 2).
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-8}
NC=${NEIGHBOUR_CONNECTIONS:-8}
AC=${ATTACK_CONNECTIONS:-32}
CAP=${ATTACKER_INSTANCES:-2}
mkdir -p bench/results

WISP_SETUP_BENCH=1 scripts/setup.sh
scripts/build-examples.sh >/dev/null
cargo build --release --quiet -p wisp

work=$(mktemp -d)
export WISP_API_KEY=bench:bench
target/release/wisp serve --listen 127.0.0.1:0 --data-dir "$work/data" >"$work/log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 100); do grep -q "wisp listening" "$work/log" && break; sleep 0.1; done
url=$(grep -o 'http://[0-9.:]*' "$work/log" | head -1)
export WISP_SERVER=$url
wisp=target/release/wisp
$wisp deploy hello examples/build/hello-http.wasm >/dev/null
$wisp deploy attacker examples/build/sandbox-probe.wasm \
    --timeout 1000 --memory 64 --instances "$CAP" >/dev/null

# A wrk script POSTing one JSON body with the API key.
attack_script() {
    cat >"$work/attack.lua" <<LUA
wrk.method = "POST"
wrk.body = '$1'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Basic $(printf bench:bench | base64)"
LUA
}

measure() { # NAME: neighbour load for DURATION, figures to $work/NAME.wrk
    wrk -t1 -c"$NC" -d"${DURATION}s" --latency "$url/fn/hello/" >"$work/$1.wrk"
}

wrk -t1 -c"$NC" -d2s "$url/fn/hello/" >/dev/null
echo "quiet: neighbour alone (${DURATION}s)" >&2
measure quiet
for attack in spin alloc flood; do
    case $attack in
        spin) attack_script '{"op":"spin"}' ;;
        alloc) attack_script '{"op":"alloc","mb":512}' ;;
        flood) attack_script '{"op":"flood","mb":64}' ;;
    esac
    echo "$attack: attacker at $AC connections + neighbour (${DURATION}s)" >&2
    wrk -t1 -c"$AC" -d"$((DURATION + 2))s" -s "$work/attack.lua" \
        "$url/api/v1/namespaces/_/actions/attacker?blocking=true&result=true" >"$work/$attack.attack" &
    apid=$!
    sleep 1
    measure "$attack"
    wait $apid
done

python3 - "$work" "$NC" "$AC" "$CAP" <<'PY' | tee bench/results/neighbours.md
import re, sys, os
work, nc, ac, cap = sys.argv[1:]
def ms(v):
    m = re.match(r"([\d.]+)(us|ms|s)", v); x = float(m.group(1))
    return {"us": x / 1000, "ms": x, "s": x * 1000}[m.group(2)]
def figures(name):
    t = open(os.path.join(work, name + ".wrk")).read()
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", t).group(1))
    p99 = ms(re.search(r"^\s+99%\s+(\S+)", t, re.M).group(1))
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", t)
    err = re.search(r"Socket errors: (.*)", t)
    return rps, p99, int(bad.group(1)) if bad else 0, err.group(1) if err else ""
def attack(name):
    t = open(os.path.join(work, name + ".attack")).read()
    return int(re.search(r"(\d+) requests in", t).group(1))
q_rps, q_p99, _, _ = figures("quiet")
print(f"# Neighbour health ({nc} neighbour connections; attacker at {ac} connections, capped at {cap} instances; {os.cpu_count()} cores)\n")
print("| phase | neighbour req/s | p99 ms | failed | throughput vs quiet | p99 vs quiet | attacker calls |")
print("|---|---:|---:|---:|---:|---:|---:|")
print(f"| quiet | {q_rps:.0f} | {q_p99:.2f} | 0 | 1.00x | 1.0x | - |")
for a in ["spin", "alloc", "flood"]:
    rps, p99, bad, err = figures(a)
    print(f"| {a} | {rps:.0f} | {p99:.2f} | {bad}{' ' + err if err else ''} | {rps/q_rps:.2f}x | {p99/q_p99:.1f}x | {attack(a)} |")
print("\nTargets: throughput >= 0.50x quiet, p99 <= 5x quiet, no failed neighbour calls.")
PY
