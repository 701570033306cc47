#!/usr/bin/env bash
# JavaScript and Python "hello" wasi:http components, built from wisp's own
# templates (`wisp new js-http` / `wisp new python-http`, then `wisp build`), served
# side by side in one run and driven by wrk on loopback:
#   wisp                    /fn/NAME/, a fresh instance per request (its only mode);
#   wasmtime serve          `wasmtime serve -S cli` 48.0.8 with wisp's pooling
#                           settings, a fresh instance per request;
#   wasmtime serve, reuse   the same with one instance reused for up to 100 000
#                           requests;
#   workerd                 (JavaScript only) Cloudflare's workerd serving the same
#                           app.js (bench/js-python/workerd.capnp), one isolate
#                           reused for every request;
#   Node.js                 (JavaScript only) node's http server calling the same
#                           app.js's fetch handler (bench/js-python/node-server.mjs).
# Each round starts every server fresh, warms it up (2 s of wrk), measures it
# (DURATION s) and stops it; the servers are interleaved within a round and the
# start order rotates from round to round. Reports the median over the rounds of
# requests/s, p50, p99, server CPU per request (utime+stime from /proc/PID/stat over
# the measured run / requests), page faults per request (minflt+majflt, the same
# way), peak RSS (VmHWM) under the load and since the start, non-2xx responses and,
# for wisp, the mean instantiation time per call (its /metrics'
# wisp_activation_init_seconds over the measured run).
#
# Then the first call of each function with wisp (FIRST_CALLS samples each): right
# after its deploy on a fresh server (the deploy compiles it), after a restart of
# the server on its data directory (the compiled code is on disk; the templates
# that were hot are loaded back before the first call, DATA_DIR/hot-modules), and
# after a restart with DATA_DIR/hot-modules removed (the call itself loads the code
# from the disk cache). Each is curl's time_total for `GET /fn/NAME/` on a new
# connection, once /readyz answers, with the activation record's warmth and
# initTime.
#
# Writes bench/results/js-python.md and bench/results/js-python.json.
#
# Environment: ROUNDS (default 3), DURATION (s, default 10), CONNECTIONS (default
# 32), WRK_THREADS (default 1), FIRST_CALLS (default 3), SKIP_WASMTIME=1 leaves the
# `wasmtime serve` rows out, SKIP_WORKERD=1 the workerd row, REBUILD=1 rebuilds the
# components. WISP_BIN measures that binary instead of building target/release/wisp.
# The components are built once into bench/.cache/js-python/ and reused.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-32}
WRK_THREADS=${WRK_THREADS:-1}
FIRST_CALLS=${FIRST_CALLS:-3}
SKIP_WASMTIME=${SKIP_WASMTIME:-0}
SKIP_WORKERD=${SKIP_WORKERD:-0}
WASMTIME_VERSION=48.0.8
cache=$root/bench/.cache
mkdir -p "$cache" bench/results

WISP_SETUP_BENCH=1 scripts/setup.sh
# The commit measured (and whether crates/ differed from it when wisp was built).
wisp_commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
crates_commit=$(git log -1 --format=%h -- crates Cargo.lock 2>/dev/null || true)
[ -n "$crates_commit" ] && [ "$crates_commit" != "$wisp_commit" ] &&
    wisp_commit="$wisp_commit, crates/ of $crates_commit"
if [ -n "$(git status --porcelain -- crates Cargo.lock 2>/dev/null)" ]; then
    wisp_commit="$wisp_commit, crates/ modified"
fi
if [ -n "${WISP_BIN:-}" ]; then
    echo "using prebuilt $WISP_BIN" >&2
else
    echo "building wisp (release)..." >&2
    cargo build --release --quiet -p wisp
    WISP_BIN=$root/target/release/wisp
fi

# The same install as bench/throughput.sh's, into the same place: built once per
# machine, shared by both benchmarks.
wasmtime=$cache/wasmtime-$WASMTIME_VERSION/bin/wasmtime
if [ "$SKIP_WASMTIME" != 1 ] && [ ! -x "$wasmtime" ]; then
    echo "installing wasmtime-cli $WASMTIME_VERSION into $cache (once; takes a while)..." >&2
    CARGO_TARGET_DIR=$cache/wasmtime-target cargo install --locked --quiet wasmtime-cli \
        --version "$WASMTIME_VERSION" --no-default-features \
        --features run,serve,cranelift,pooling-allocator,parallel-compilation,wat,component-model-async,clap/default \
        --root "$cache/wasmtime-$WASMTIME_VERSION"
fi
# wisp's pooling settings, as in bench/throughput.sh (keep both equal to the
# constants of crates/wisp-invoker/src/engine.rs).
wasmtime_pooling=-Opooling-allocator=y,pooling-memory-keep-resident=4194304,pooling-table-keep-resident=1048576,pooling-async-stack-keep-resident=131072,pooling-pagemap-scan=y,pooling-decommit-batch-size=1
wasmtime_reuse=--max-instance-reuse-count=100000

# workerd, at the version bench/workerd/package.json pins (the npm package ships
# the binary), from its package-lock.json, into bench/workerd/node_modules.
workerd=$root/bench/workerd/node_modules/workerd/bin/workerd
if [ "$SKIP_WORKERD" != 1 ]; then
    wd_pin=$(sed -n 's|.*"workerd": "\([^"]*\)".*|\1|p' bench/workerd/package.json)
    wd_have=$(sed -n 's|^ *"version": "\([^"]*\)".*|\1|p' \
        bench/workerd/node_modules/workerd/package.json 2>/dev/null | head -1)
    if [ "$wd_have" != "$wd_pin" ] || [ ! -x "$workerd" ]; then
        echo "installing workerd $wd_pin into bench/workerd/node_modules..." >&2
        npm ci --prefix bench/workerd --no-audit --no-fund --loglevel=error >/dev/null
    fi
fi
command -v node >/dev/null || { echo "node is needed for the Node.js row" >&2; exit 1; }

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
wisp=$work/bin/wisp
export WISP_API_KEY=bench:bench

# The components, built once from the templates (REBUILD=1 builds them again).
comps=$cache/js-python
mkdir -p "$comps"
for spec in js:js-http:app.js py:python-http:app.py; do
    IFS=: read -r lang template src <<<"$spec"
    dir=$comps/hello-$lang
    if [ "${REBUILD:-0}" = 1 ] || [ ! -s "$dir/app.wasm" ]; then
        rm -rf "$dir"
        (cd "$comps" && "$wisp" new "$template" "hello-$lang" >/dev/null)
        echo "building hello-$lang from the $template template (once)..." >&2
        "$wisp" build "$dir/$src" >/dev/null
    fi
done
js_wasm=$comps/hello-js/app.wasm
py_wasm=$comps/hello-py/app.wasm
js_src=$comps/hello-js/app.js
# workerd embeds app.js from the configuration's directory.
mkdir "$work/workerd"
cp bench/js-python/workerd.capnp "$js_src" "$work/workerd/"

# start NAME LOGFILE CMD... : starts a server, waits for its URL, sets $url and $pid.
# Up to 10 minutes: `wasmtime serve` compiles a 12-18 MB component before it listens.
start() {
    local name=$1 log=$2
    shift 2
    "$@" >"$log" 2>&1 &
    pid=$!
    for _ in $(seq 6000); do
        url=$(grep -o 'http://[0-9.:]*' "$log" | head -1 || true)
        [ -n "$url" ] && return 0
        kill -0 "$pid" 2>/dev/null || { echo "$name failed to start:" >&2; cat "$log" >&2; exit 1; }
        sleep 0.1
    done
    echo "$name did not start in time" >&2
    cat "$log" >&2
    exit 1
}

# stop : stops the server $pid (SIGTERM) and waits for it.
stop() {
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    pid=""
}

# ready URL : waits until wisp's /readyz answers 200 (the templates that were hot
# before a restart are loaded by then).
ready() {
    for _ in $(seq 3000); do
        curl -fsS -o /dev/null "$1/readyz" 2>/dev/null && return 0
        sleep 0.02
    done
    echo "wisp at $1 never became ready" >&2
    exit 1
}

# alive NAME LOGFILE : fails the run if the server $pid has exited.
alive() {
    kill -0 "$pid" 2>/dev/null && return 0
    echo "$1 exited during the run:" >&2
    cat "$2" >&2
    exit 1
}

# proc_counters : "CPU-ticks faults" of the server process $pid (all its threads):
# utime+stime and minflt+majflt, fields 14, 15, 10 and 12 of /proc/PID/stat,
# counted after the parenthesised name (which starts at field 3).
proc_counters() {
    local stat f
    stat=$(<"/proc/$pid/stat")
    read -ra f <<<"${stat##*) }"
    echo "$((f[11] + f[12])) $((f[7] + f[9]))"
}

# metrics URL FILE : wisp's /metrics into FILE.
metrics() {
    curl -fsS -u "$WISP_API_KEY" "$1/metrics" >"$2" || echo "" >"$2"
}

# measure NAME ROUND URL [WISP] : warms up, runs wrk, records its output, the
# server's CPU ticks, page faults and peak RSS over the measured run in
# $work/ROUND-NAME.wrk (and, for wisp, its /metrics before and after), then stops
# the server $pid.
measure() {
    local name=$1 round=$2 target=$3 base=${4:-} log=$work/$2-$1.log out=$work/$2-$1.wrk before after
    curl -fsS "$target" >/dev/null || { echo "$name does not answer $target:" >&2; cat "$log" >&2; exit 1; }
    wrk -t"$WRK_THREADS" -c"$CONNECTIONS" -d2s --timeout 10s "$target" >/dev/null
    alive "$name" "$log"
    echo "  round $round/$ROUNDS, $name: ${DURATION}s of load on $target ..." >&2
    echo "start_rss_kib $(awk '/VmHWM/ {print $2}' "/proc/$pid/status")" >"$out.pre"
    [ -n "$base" ] && metrics "$base" "$out.metrics-before"
    echo 5 >"/proc/$pid/clear_refs"
    before=$(proc_counters)
    wrk -t"$WRK_THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --timeout 10s --latency "$target" >"$out"
    alive "$name" "$log"
    after=$(proc_counters)
    read -r t0 f0 <<<"$before"
    read -r t1 f1 <<<"$after"
    echo "cpu_ticks $((t1 - t0))" >>"$out"
    echo "faults $((f1 - f0))" >>"$out"
    echo "rss_kib $(awk '/VmHWM/ {print $2}' "/proc/$pid/status")" >>"$out"
    cat "$out.pre" >>"$out"
    [ -n "$base" ] && metrics "$base" "$out.metrics-after"
    stop
}

# first_call NAME URL OUT : times the first GET /fn/NAME/ (a new connection) and
# writes "ms ACTIVATION-ID" to OUT, and the activation record to OUT.record.
first_call() {
    local name=$1 base=$2 out=$3 t id
    t=$(curl -sS -o "$out.body" -D "$out.headers" -w '%{time_total}' "$base/fn/$name/")
    grep -q '^HTTP/[0-9.]* 200' "$out.headers" ||
        { echo "first call of $name failed:" >&2; cat "$out.headers" "$out.body" >&2; exit 1; }
    id=$(sed -n 's/^x-openwhisk-activation-id: *\([0-9a-f]*\).*/\1/ip' "$out.headers" | tr -d '\r')
    echo "$t $id" >"$out"
    # The record is readable at once, from memory.
    curl -fsS -u "$WISP_API_KEY" "$base/api/v1/namespaces/_/activations/$id" >"$out.record" || echo '{}' >"$out.record"
}

# First calls, FIRST_CALLS samples per function, each on a data directory of its
# own; the first sample's data directory (the function deployed and compiled) is
# the one every wisp round of the load runs on.
for lang in js py; do
    wasm=$comps/hello-$lang/app.wasm
    for i in $(seq "$FIRST_CALLS"); do
        data=$work/first-$i-$lang
        log=$work/first-$i-$lang.log
        echo "first calls of hello-$lang, sample $i/$FIRST_CALLS (deploying: compiles it) ..." >&2
        start "wisp" "$log" "$wisp" serve --listen 127.0.0.1:0 --data-dir "$data"
        ready "$url"
        WISP_SERVER=$url "$wisp" deploy "hello-$lang" "$wasm" >/dev/null ||
            { echo "deploying hello-$lang failed:" >&2; cat "$log" >&2; exit 1; }
        first_call "hello-$lang" "$url" "$work/first-$i-$lang.deploy"
        stop
        start "wisp" "$log.restart" "$wisp" serve --listen 127.0.0.1:0 --data-dir "$data"
        ready "$url"
        first_call "hello-$lang" "$url" "$work/first-$i-$lang.restart"
        stop
        rm -f "$data/hot-modules"
        start "wisp" "$log.disk" "$wisp" serve --listen 127.0.0.1:0 --data-dir "$data"
        ready "$url"
        first_call "hello-$lang" "$url" "$work/first-$i-$lang.disk"
        stop
    done
done

# bench NAME ROUND : one fresh server, warmed up and measured.
bench() {
    local name=$1 round=$2 log=$work/$2-$1.log lang=${1%%-*}
    local wasm=$comps/hello-$lang/app.wasm
    case ${name#*-} in
        wisp)
            start "$name" "$log" "$wisp" serve --listen 127.0.0.1:0 --data-dir "$work/first-1-$lang"
            ready "$url"
            measure "$name" "$round" "$url/fn/hello-$lang/" "$url"
            ;;
        wasmtime)
            start "$name" "$log" "$wasmtime" serve --addr 127.0.0.1:0 -S cli "$wasmtime_pooling" "$wasm"
            measure "$name" "$round" "$url/"
            ;;
        reuse)
            start "$name" "$log" "$wasmtime" serve --addr 127.0.0.1:0 -S cli "$wasmtime_pooling" \
                "$wasmtime_reuse" "$wasm"
            measure "$name" "$round" "$url/"
            ;;
        workerd)
            # A listening socket on a free port is handed to workerd (exec keeps
            # the pid), so no port is guessed.
            start "$name" "$log" python3 -c '
import os, socket, sys
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(1024)
s.set_inheritable(True)
print(f"listening on http://127.0.0.1:{s.getsockname()[1]}", flush=True)
os.execv(sys.argv[1], [sys.argv[1], "serve", "--socket-fd", f"http={s.fileno()}", sys.argv[2]])
' "$workerd" "$work/workerd/workerd.capnp"
            measure "$name" "$round" "$url/"
            ;;
        node)
            start "$name" "$log" node "$root/bench/js-python/node-server.mjs" "$js_src" 127.0.0.1:0
            measure "$name" "$round" "$url/"
            ;;
    esac
}

# reuse_answers LANG : whether `wasmtime serve` reusing the instance answers a
# second request with 200 (componentize-js 0.23.0's engine takes one fetch event
# per instance: it answers the second with "FetchEvent#respondWith can't be called
# twice on the same event", a 500). Writes the statuses to $work/reuse-LANG.
reuse_answers() {
    local lang=$1 log=$work/reuse-$1.log statuses=""
    start "wasmtime serve (reuse probe)" "$log" "$wasmtime" serve --addr 127.0.0.1:0 -S cli \
        "$wasmtime_pooling" "$wasmtime_reuse" "$comps/hello-$lang/app.wasm"
    for _ in 1 2 3; do
        statuses="$statuses $(curl -s -o /dev/null -w '%{http_code}' "$url/")"
    done
    stop
    echo "$statuses" >"$work/reuse-$lang"
    [ "$statuses" = " 200 200 200" ]
}

servers=(js-wisp)
if [ "$SKIP_WASMTIME" != 1 ]; then
    servers+=(js-wasmtime)
    if reuse_answers js; then
        servers+=(js-reuse)
    else
        echo "JS under \`wasmtime serve\` with instance reuse answers$(cat "$work/reuse-js"): left out" >&2
    fi
fi
[ "$SKIP_WORKERD" != 1 ] && servers+=(js-workerd)
servers+=(js-node py-wisp)
if [ "$SKIP_WASMTIME" != 1 ]; then
    servers+=(py-wasmtime)
    if reuse_answers py; then
        servers+=(py-reuse)
    else
        echo "Python under \`wasmtime serve\` with instance reuse answers$(cat "$work/reuse-py"): left out" >&2
    fi
fi
n=${#servers[@]}
for round in $(seq "$ROUNDS"); do
    echo "round $round/$ROUNDS" >&2
    for i in $(seq 0 $((n - 1))); do
        bench "${servers[$(((i + round - 1) % n))]}" "$round"
    done
done

wd_version=$([ "$SKIP_WORKERD" != 1 ] && "$workerd" --version 2>/dev/null || echo "")
python3 - "$work" "$ROUNDS" "$DURATION" "$CONNECTIONS" "$WRK_THREADS" "$clk_tck" "$WASMTIME_VERSION" \
    "$FIRST_CALLS" "$wisp_commit" "$wd_version" "$(node --version)" \
    "$(stat -c %s "$js_wasm")" "$(stat -c %s "$py_wasm")" "${servers[@]}" <<'PY' | tee bench/results/js-python.md
import datetime, json, os, re, statistics, sys
(work, rounds, duration, conns, threads, clk_tck, wt_version, first_calls, commit,
 wd_version, node_version, js_size, py_size) = sys.argv[1:14]
servers = sys.argv[14:]
rounds, clk_tck, first_calls = int(rounds), int(clk_tck), int(first_calls)

def ms(v):
    m = re.match(r"([\d.]+)(us|ms|s)", v)
    x = float(m.group(1))
    return {"us": x / 1000, "ms": x, "s": x * 1000}[m.group(2)]

def metric(path, name, action):
    """The value of NAME{...action="ACTION"...} in a /metrics exposition, or None."""
    try:
        text = open(path).read()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith(name + "{") and f'action="{action}"' in line:
            return float(line.rsplit(" ", 1)[1])
    return None

def run(name, rnd):
    base = os.path.join(work, f"{rnd}-{name}.wrk")
    text = open(base).read()
    requests = int(re.search(r"(\d+) requests in", text).group(1))
    p50 = ms(re.search(r"^\s+50%\s+(\S+)", text, re.M).group(1))
    p99 = ms(re.search(r"^\s+99%\s+(\S+)", text, re.M).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    sock = re.search(r"Socket errors: (.*)", text)
    ticks = int(re.search(r"cpu_ticks (\d+)", text).group(1))
    faults = int(re.search(r"^faults (\d+)", text, re.M).group(1))
    rss = int(re.search(r"^rss_kib (\d+)", text, re.M).group(1))
    r = dict(rps=float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1)),
             requests=requests, p50=p50, p99=p99,
             cpu_us=ticks / clk_tck * 1e6 / max(requests, 1),
             faults=faults / max(requests, 1),
             rss=rss / 1024,
             life_rss=max(rss, int(re.search(r"start_rss_kib (\d+)", text).group(1))) / 1024,
             errors=int(errors.group(1)) if errors else 0,
             sock=sock.group(1).strip() if sock else "")
    if name.endswith("-wisp"):
        action = "hello-" + name.split("-")[0]
        b, a = base + ".metrics-before", base + ".metrics-after"
        s0 = metric(b, "wisp_activation_init_seconds_sum", action)
        s1 = metric(a, "wisp_activation_init_seconds_sum", action)
        c0 = metric(b, "wisp_activation_init_seconds_count", action)
        c1 = metric(a, "wisp_activation_init_seconds_count", action)
        d0 = metric(b, "wisp_activation_duration_seconds_sum", action)
        d1 = metric(a, "wisp_activation_duration_seconds_sum", action)
        e0 = metric(b, "wisp_activation_duration_seconds_count", action)
        e1 = metric(a, "wisp_activation_duration_seconds_count", action)
        if None not in (s0, s1, c0, c1) and c1 > c0:
            r["init_us"] = (s1 - s0) / (c1 - c0) * 1e6
        if None not in (d0, d1, e0, e1) and e1 > e0:
            r["duration_us"] = (d1 - d0) / (e1 - e0) * 1e6
    return r

runs = {s: [run(s, r) for r in range(1, rounds + 1)] for s in servers}
keys = ["rps", "cpu_us", "faults", "p50", "p99", "rss", "life_rss", "init_us", "duration_us"]
med = {}
for s, rs in runs.items():
    med[s] = {k: statistics.median(r[k] for r in rs) for k in keys if all(k in r for r in rs)}
    med[s]["errors"] = sum(r["errors"] for r in rs)
    med[s]["sock"] = [r["sock"] for r in rs if r["sock"]]

def first(lang, kind):
    samples = []
    for i in range(1, first_calls + 1):
        p = os.path.join(work, f"first-{i}-{lang}.{kind}")
        t, _, aid = open(p).read().strip().partition(" ")
        try:
            rec = json.load(open(p + ".record"))
        except ValueError:
            rec = {}
        ann = {a.get("key"): a.get("value") for a in rec.get("annotations", [])}
        samples.append(dict(ms=float(t) * 1000, activation=aid, warmth=ann.get("warmth"),
                            init_ms=ann.get("initTime"), duration_ms=rec.get("duration")))
    return dict(median_ms=statistics.median(x["ms"] for x in samples), samples=samples)

firsts = {lang: {kind: first(lang, kind) for kind in ["deploy", "restart", "disk"]}
          for lang in ["js", "py"]}

labels = {"wisp": "wisp", "wasmtime": "`wasmtime serve`, wisp's pooling settings",
          "reuse": "`wasmtime serve`, instance reuse", "workerd": f"workerd {wd_version.split()[-1] if wd_version else ''}".strip(),
          "node": f"Node.js {node_version}"}
langs = {"js": "JavaScript (componentize-js)", "py": "Python (componentize-py)"}
sizes = {"js": int(js_size), "py": int(py_size)}
date = datetime.date.today().isoformat()
print(f"# JavaScript and Python hello components ({date}; wisp {commit}; median of {rounds} "
      f"round(s) of {duration}s, wrk -t{threads} -c{conns}, loopback, {os.cpu_count()} cores)\n")
print("| function | server | req/s | p50 ms | p99 ms | server CPU µs/request | page faults/request "
      "| peak RSS under load MiB | peak RSS since start MiB | non-2xx |")
print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
for s in servers:
    lang, kind = s.split("-", 1)
    m = med[s]
    print(f"| {lang.upper()} | {labels[kind]} | {m['rps']:.0f} | {m['p50']:.3f} | {m['p99']:.3f} "
          f"| {m['cpu_us']:.1f} | {m['faults']:.1f} | {m['rss']:.1f} | {m['life_rss']:.1f} | {m['errors']} |")
print()
print(f"Components: JS {sizes['js'] / 2**20:.1f} MiB, Python {sizes['py'] / 2**20:.1f} MiB "
      f"(`wisp new js-http` / `python-http`, `wisp build`). wisp's rounds restart it on the data "
      f"directory of the first deploy below, so its RSS since start has no compile in it.\n")
for s in servers:
    if med[s]["sock"]:
        print(f"- {s} socket errors: {'; '.join(med[s]['sock'])}")
for lang in ["js", "py"]:
    m = med.get(f"{lang}-wisp", {})
    if "init_us" in m:
        print(f"- wisp, {lang.upper()}: instantiation {m['init_us']:.0f} µs per call on average "
              f"(`wisp_activation_init_seconds` over the measured run), activation "
              f"{m.get('duration_us', float('nan')):.0f} µs (`wisp_activation_duration_seconds`)")
print()

def target(ok, text):
    return f"- target {text}: **{'met' if ok else 'NOT met'}**"

targets = {}
probes = {}  # the statuses `wasmtime serve` with reuse answered, for a row left out
for lang in ["js", "py"]:
    p = os.path.join(work, f"reuse-{lang}")
    if os.path.exists(p) and f"{lang}-reuse" not in servers:
        probes[lang] = open(p).read().split()
for lang in ["js", "py"]:
    w, r = med.get(f"{lang}-wisp"), med.get(f"{lang}-reuse")
    print(f"{langs[lang]}:\n")
    for other in ["wasmtime", "reuse", "workerd", "node"]:
        o = med.get(f"{lang}-{other}")
        if o:
            print(f"- wisp / {labels[other]}: {w['rps'] / o['rps']:.2f}x the requests/s, "
                  f"{w['p99'] / o['p99']:.2f}x the p99, {w['cpu_us'] / o['cpu_us']:.2f}x the CPU per request")
    if r:
        targets[f"{lang}_rps_half_reuse"] = w["rps"] >= 0.5 * r["rps"]
        print(target(targets[f"{lang}_rps_half_reuse"],
                     f"wisp req/s >= 0.5x `wasmtime serve` with reuse ({w['rps']:.0f} vs {r['rps']:.0f}: "
                     f"{w['rps'] / r['rps']:.2f}x)"))
        targets[f"{lang}_p99_3x_reuse"] = w["p99"] <= 3 * r["p99"]
        print(target(targets[f"{lang}_p99_3x_reuse"],
                     f"wisp p99 <= 3x `wasmtime serve` with reuse's ({w['p99']:.3f} vs {r['p99']:.3f} ms: "
                     f"{w['p99'] / r['p99']:.2f}x)"))
    elif lang in probes:
        targets[f"{lang}_rps_half_reuse"] = targets[f"{lang}_p99_3x_reuse"] = None
        print(f"- targets against `wasmtime serve` with reuse: not assessable: reusing one "
              f"instance, it answered three requests with {', '.join(probes[lang])} "
              f"(this component serves one request per instance), so that row is left out")
    else:
        print("- targets against `wasmtime serve` with reuse: not measured (SKIP_WASMTIME=1)")
    targets[f"{lang}_rss_128mib"] = w["rss"] <= 128
    print(target(targets[f"{lang}_rss_128mib"],
                 f"wisp peak RSS <= 128 MiB ({w['rss']:.1f} MiB under load, {w['life_rss']:.1f} since start)"))
    f = firsts[lang]
    targets[f"{lang}_first_call_5ms"] = f["disk"]["median_ms"] <= 5
    print(target(targets[f"{lang}_first_call_5ms"],
                 f"first call with the compiled code on disk <= 5 ms ({f['disk']['median_ms']:.2f} ms)"))
    print()

print(f"First calls with wisp (curl's time_total of `GET /fn/NAME/` on a new connection; "
      f"median of {first_calls}; warmth and initTime from the activation record):\n")
print("| function | after | first call ms | samples ms | warmth | initTime ms | duration ms |")
print("|---|---|---:|---|---|---|---|")
what = {"deploy": "its deploy (fresh server; the deploy compiled it)",
        "restart": "a restart (hot templates loaded back)",
        "disk": "a restart without hot-modules (code loaded from disk by the call)"}
for lang in ["js", "py"]:
    for kind in ["deploy", "restart", "disk"]:
        f = firsts[lang][kind]
        ss = f["samples"]
        cells = [", ".join("%.2f" % x["ms"] for x in ss),
                 ", ".join(sorted({str(x["warmth"]) for x in ss})),
                 ", ".join(str(x["init_ms"]) for x in ss),
                 ", ".join(str(x["duration_ms"]) for x in ss)]
        print(f"| {lang.upper()} | {what[kind]} | {f['median_ms']:.2f} | " + " | ".join(cells) + " |")

json.dump(dict(date=date, wisp_commit=commit, rounds=rounds, duration_s=int(duration),
               connections=int(conns), wrk_threads=int(threads), cores=os.cpu_count(),
               kernel=os.uname().release, wasmtime_version=wt_version, workerd_version=wd_version,
               node_version=node_version, component_bytes=sizes, clk_tck=clk_tck,
               median=med, runs=runs, first_calls=firsts, reuse_left_out=probes,
               targets_met=targets),
          open("bench/results/js-python.json", "w"), indent=2)
PY
