#!/usr/bin/env bash
# Container baselines for the wisp benchmark: OpenWhisk-style warm containers on
# Docker, and a fresh runc / crun container per call. Each exposes one endpoint,
# http://127.0.0.1:PORT/run, served by gateway.py. See README.md.
#
#   run.sh setup                 install docker.io, runc, crun (apt, once), build the
#                                action (static musl binary), assemble the rootfs, the
#                                OCI bundle and the docker image
#   run.sh start docker|runc|crun [--port P] [--keep-alive S] [--max-containers N]
#                                [--docker-network bridge|host] [--pause-grace S]
#                                [-- GATEWAY ARGS...]
#                                start a gateway in the background; prints its URL
#   run.sh stop [docker|runc|crun]
#                                stop one gateway, or (no argument) all of them and
#                                the dockerd this script started
#   run.sh smoke                 start each backend, time a few calls, print /stats, stop
#
# Environment:
#   ACTION_BIN    static binary to use as the action instead of the stand-in in
#                 action/ (setup); it must serve POST /init and /run on
#                 $ACTION_LISTEN or 0.0.0.0:8080, and answer one /run body from
#                 stdin to stdout with --once
#   FUNCTION_BIN  optional static program copied into the rootfs as /function; the
#                 action then runs with ACTION_PROGRAM=/function (setup)
#   DOCKERD_FLAGS flags for dockerd when this script starts it (default: none,
#                 falling back to "--iptables=false --bridge=none --storage-driver=vfs"
#                 if dockerd does not come up without them)
#   SMOKE_CALLS   warm / per-call samples per backend in smoke (default 20)
#   SMOKE_COLD    docker cold starts measured per network mode in smoke (default 6)
#   SMOKE_DOCKER_NETWORKS  docker network modes smoke runs (default "bridge host")
#   BASELINE_WORK  work directory: rootfs, bundle, pid files, logs (default .work
#                 next to this script); another one keeps a second setup (e.g.
#                 with another FUNCTION_BIN) apart from the default one
#   BASELINE_IMAGE docker image name (default wisp-baseline-action:latest)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
work=${BASELINE_WORK:-$here/.work}
bundle=$work/bundle
rootfs=$bundle/rootfs
pids=$work/pids
logs=$work/logs
image=${BASELINE_IMAGE:-wisp-baseline-action:latest}
DOCKER=${DOCKER:-/usr/bin/docker}
PYTHON=${PYTHON:-python3}
FALLBACK_DOCKERD_FLAGS="--iptables=false --bridge=none --storage-driver=vfs"
mkdir -p "$pids" "$logs"

log() { echo "run.sh: $*" >&2; }
die() { log "$*"; exit 1; }

default_port() {
    case $1 in docker) echo 18081 ;; runc) echo 18082 ;; crun) echo 18083 ;; *) die "unknown backend: $1" ;; esac
}

# A process that exists and is no zombie (an exited gateway waits for its reaper).
running() { kill -0 "$1" 2>/dev/null && ! grep -q '^[0-9]* (.*) Z' "/proc/$1/stat" 2>/dev/null; }
alive() { [ -f "$1" ] && running "$(cat "$1")"; }

# ------------------------------------------------------------------ dockerd

docker_up() { "$DOCKER" info >/dev/null 2>&1; }

start_dockerd() { # flags...
    log "starting dockerd $* (log: $logs/dockerd.log)"
    setsid dockerd "$@" >>"$logs/dockerd.log" 2>&1 </dev/null &
    echo $! >"$pids/dockerd.pid"
    echo "$*" >"$work/dockerd.flags"
    for _ in $(seq 60); do
        docker_up && return 0
        running "$(cat "$pids/dockerd.pid")" || break
        sleep 0.5
    done
    return 1
}

stop_dockerd() {
    alive "$pids/dockerd.pid" || { rm -f "$pids/dockerd.pid"; return 0; }
    local pid
    pid=$(cat "$pids/dockerd.pid")
    log "stopping dockerd ($pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 60); do running "$pid" || break; sleep 0.5; done
    running "$pid" && kill -KILL "$pid" 2>/dev/null || true
    rm -f "$pids/dockerd.pid"
}

ensure_dockerd() {
    docker_up && return 0
    command -v dockerd >/dev/null || die "dockerd not installed: run '$0 setup'"
    if [ -n "${DOCKERD_FLAGS:-}" ]; then
        # shellcheck disable=SC2086
        start_dockerd $DOCKERD_FLAGS || die "dockerd $DOCKERD_FLAGS did not come up; see $logs/dockerd.log"
        return 0
    fi
    start_dockerd && return 0
    log "dockerd did not come up with default flags:"
    tail -n 20 "$logs/dockerd.log" >&2 || true
    stop_dockerd
    # shellcheck disable=SC2086
    start_dockerd $FALLBACK_DOCKERD_FLAGS || die "dockerd did not come up with $FALLBACK_DOCKERD_FLAGS either; see $logs/dockerd.log"
}

# ------------------------------------------------------------------ setup

setup() {
    local need=()
    command -v dockerd >/dev/null || need+=(docker.io)
    command -v runc >/dev/null || need+=(runc)
    command -v crun >/dev/null || need+=(crun)
    if [ ${#need[@]} -gt 0 ]; then
        log "installing ${need[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
    fi
    [ -x "$DOCKER" ] || die "$DOCKER missing (Debian's docker.io provides it)"

    local action=${ACTION_BIN:-}
    if [ -z "$action" ]; then
        rustup target list --installed 2>/dev/null | grep -qx x86_64-unknown-linux-musl \
            || rustup target add x86_64-unknown-linux-musl
        log "building the stand-in action (release, x86_64-unknown-linux-musl)"
        (cd "$here/action" && CARGO_TARGET_DIR=$here/.build/target \
            cargo build --quiet --release --locked --target x86_64-unknown-linux-musl)
        action=$here/.build/target/x86_64-unknown-linux-musl/release/action
    fi
    [ -x "$action" ] || die "action binary $action is not executable"
    if file -L "$action" 2>/dev/null | grep -q 'dynamically linked'; then
        die "$action is dynamically linked; the rootfs holds no libraries"
    fi

    log "assembling $rootfs"
    rm -rf "$rootfs"
    mkdir -p "$rootfs"/{etc,proc,sys,dev,tmp}
    chmod 1777 "$rootfs/tmp"
    install -m 0755 "$action" "$rootfs/action"
    local env_json='[]' image_env=()
    if [ -n "${FUNCTION_BIN:-}" ]; then
        install -m 0755 "$FUNCTION_BIN" "$rootfs/function"
        env_json='["ACTION_PROGRAM=/function"]'
        image_env=(--change 'ENV ACTION_PROGRAM=/function')
    fi
    printf 'root:x:0:0:root:/:/action\nnobody:x:65534:65534:nobody:/:/action\n' >"$rootfs/etc/passwd"
    printf 'root:x:0:\nnogroup:x:65534:\n' >"$rootfs/etc/group"
    printf '127.0.0.1\tlocalhost\n::1\tlocalhost\n' >"$rootfs/etc/hosts"
    : >"$rootfs/etc/resolv.conf"

    log "writing the OCI bundle $bundle/config.json (runc spec, terminal false, /action --once)"
    local spec
    spec=$(mktemp -d)
    (cd "$spec" && runc spec)
    ENV_JSON=$env_json "$PYTHON" - "$spec/config.json" "$bundle/config.json" <<'EOF'
import json, os, sys
c = json.load(open(sys.argv[1]))
c["process"]["terminal"] = False
c["process"]["args"] = ["/action", "--once"]
c["process"]["env"] += json.loads(os.environ["ENV_JSON"])
c["root"] = {"path": "rootfs", "readonly": True}
c["hostname"] = "action"
json.dump(c, open(sys.argv[2], "w"), indent=2)
EOF
    rm -rf "$spec"

    ensure_dockerd
    log "importing $image from the rootfs (docker import, no registry)"
    tar -C "$rootfs" -c . | "$DOCKER" import \
        --change 'ENTRYPOINT ["/action"]' --change 'EXPOSE 8080' \
        --change 'LABEL wisp-baseline=action' "${image_env[@]}" - "$image" >/dev/null
    "$DOCKER" image prune -f --filter label=wisp-baseline=action >/dev/null
    log "setup done: $image, $bundle"
}

# ------------------------------------------------------------------ start / stop

start() {
    local backend=${1:-}
    [ -n "$backend" ] || die "usage: $0 start docker|runc|crun [--port P] [--keep-alive S] [--max-containers N] [--docker-network bridge|host] [--pause-grace S] [-- GATEWAY ARGS]"
    shift
    local port keep=60 extra=() network=
    port=$(default_port "$backend")
    while [ $# -gt 0 ]; do
        case $1 in
            --port) port=$2; shift 2 ;;
            --keep-alive) keep=$2; shift 2 ;;
            --max-containers) extra+=(--max-containers "$2"); shift 2 ;;
            --pause-grace) extra+=(--pause-grace "$2"); shift 2 ;;
            --docker-network) network=$2; shift 2 ;;
            --) shift; extra+=("$@"); break ;;
            *) die "unknown option: $1" ;;
        esac
    done
    local pidfile=$pids/gateway-$backend.pid
    alive "$pidfile" && die "$backend gateway already running (pid $(cat "$pidfile")); '$0 stop $backend' first"
    [ -f "$bundle/config.json" ] && [ -x "$rootfs/action" ] || die "no bundle: run '$0 setup' first"

    local args=(--backend "$backend" --host 127.0.0.1 --port "$port" --keep-alive "$keep")
    if [ "$backend" = docker ]; then
        ensure_dockerd
        "$DOCKER" image inspect "$image" >/dev/null 2>&1 || die "no image $image: run '$0 setup' first"
        if [ -z "$network" ]; then
            # Without the default bridge (dockerd --bridge=none) only host networking is left.
            if "$DOCKER" network inspect bridge >/dev/null 2>&1; then network=bridge; else network=host; fi
        fi
        args+=(--image "$image" --docker "$DOCKER" --docker-network "$network")
    else
        command -v "$backend" >/dev/null || die "$backend not installed: run '$0 setup'"
        args+=(--bundle "$bundle")
    fi
    setsid "$PYTHON" "$here/gateway.py" "${args[@]}" "${extra[@]}" \
        >>"$logs/gateway-$backend.log" 2>&1 </dev/null &
    echo $! >"$pidfile"
    local url=http://127.0.0.1:$port
    for _ in $(seq 100); do
        if curl -fsS -o /dev/null "$url/health" 2>/dev/null; then
            echo "$url" >"$pids/gateway-$backend.url"
            log "$backend gateway (pid $(cat "$pidfile")${network:+, docker network $network}) on $url/run"
            echo "$url/run"
            return 0
        fi
        alive "$pidfile" || break
        sleep 0.1
    done
    tail -n 20 "$logs/gateway-$backend.log" >&2 || true
    stop_gateway "$backend"
    die "$backend gateway did not come up"
}

stop_gateway() {
    local pidfile=$pids/gateway-$1.pid pid
    [ -f "$pidfile" ] || return 0
    pid=$(cat "$pidfile")
    if running "$pid"; then
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 300); do running "$pid" || break; sleep 0.1; done
        if running "$pid"; then
            log "$1 gateway ($pid) did not stop in 30 s; killing it"
            kill -KILL "$pid" 2>/dev/null || true
        fi
        log "stopped $1 gateway ($pid)"
    fi
    rm -f "$pidfile" "$pids/gateway-$1.url"
    sweep "$1"
}

# Removes containers a gateway left behind (one killed with SIGKILL, say).
sweep() { # backend
    local ids root
    if [ "$1" = docker ]; then
        docker_up || return 0
        ids=$("$DOCKER" ps -aq --filter label=wisp-baseline.gateway)
        if [ -n "$ids" ]; then
            log "removing leftover containers: $(echo $ids)"
            # shellcheck disable=SC2086
            "$DOCKER" rm -f $ids >/dev/null 2>&1 || true
        fi
    else
        command -v "$1" >/dev/null || return 0
        for root in /run/wisp-baselines/"$1"-*; do
            [ -d "$root" ] || continue
            for id in $("$1" --root "$root" list -q 2>/dev/null); do
                log "removing leftover $1 container $id"
                "$1" --root "$root" delete -f "$id" >/dev/null 2>&1 || true
            done
        done
    fi
}

stop() {
    if [ $# -gt 0 ]; then
        for b in "$@"; do default_port "$b" >/dev/null; stop_gateway "$b"; done
        return 0
    fi
    for b in docker runc crun; do stop_gateway "$b"; done
    stop_dockerd
}

# ------------------------------------------------------------------ smoke

# One call: prints "<ms> <X-Start>" and checks the body.
call() { # url
    local out hdr ms
    hdr=$(mktemp)
    out=$(curl -sS -D "$hdr" -o "$hdr.body" -w '%{http_code} %{time_total}' \
        -X POST -H 'Content-Type: application/json' --data '{"value":{}}' "$1") || { rm -f "$hdr" "$hdr.body"; return 1; }
    local code=${out% *}
    ms=$(awk -v s="${out#* }" 'BEGIN { printf "%.2f", s * 1000 }')
    local start
    start=$(tr -d '\r' <"$hdr" | awk -F': ' 'tolower($1) == "x-start" { print $2 }')
    local body
    body=$(cat "$hdr.body")
    rm -f "$hdr" "$hdr.body"
    if [ "$code" != 200 ] || [ "$body" != '{"greeting":"hello"}' ]; then
        log "unexpected answer $code: $body"
        return 1
    fi
    echo "$ms ${start:-?}"
}

# Reads numbers, one a line; prints "median M ms (min A, max B, n=N)".
summary() {
    sort -n | awk '{ a[NR] = $1 } END {
        if (NR == 0) { print "-"; exit }
        m = (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2
        printf "median %.2f ms (min %.2f, max %.2f, n=%d)\n", m, a[1], a[NR], NR }'
}

stat_of() { # url field (python expression on the stats dict `s`)
    curl -fsS "$1/stats" | "$PYTHON" -c "import json, sys; s = json.load(sys.stdin); print($2)"
}

check() { # description condition-result(0/1)
    if [ "$2" = 1 ]; then passed=$((passed + 1)); log "ok: $1"; else failed=$((failed + 1)); log "FAILED: $1"; fi
}

smoke_docker() { # network
    local net=$1 url base r i warm=() cold=()
    url=$(start docker --docker-network "$net" --keep-alive 3)
    base=${url%/run}
    r=$(call "$url"); log "docker/$net call 1: $r"
    check "docker/$net first call is cold" "$([ "${r#* }" = cold ] && echo 1 || echo 0)"
    cold+=("${r% *}")
    for i in $(seq 2 $((calls + 1))); do
        r=$(call "$url"); log "docker/$net call $i: $r"; warm+=("${r% *}")
        [ "${r#* }" = warm ] || check "docker/$net call $i is warm" 0
    done
    check "docker/$net calls 2-$((calls + 1)) are warm (one container)" \
        "$(stat_of "$base" "int(s['cold_starts'] == 1 and s['warm_starts'] == $calls)")"
    results+=("docker ($net) warm call: $(printf '%s\n' "${warm[@]}" | summary)")
    # Two overlapping calls (each holds its container 300 ms): one container never
    # serves both, so one of them starts a second container.
    curl -sS -o /dev/null -X POST --data '{"value":{"sleep_ms":300}}' "$url" &
    local p1=$!
    curl -sS -o /dev/null -X POST --data '{"value":{"sleep_ms":300}}' "$url" &
    local p2=$!
    wait "$p1" "$p2"
    check "docker/$net two concurrent calls use two containers (cold_starts=2)" \
        "$(stat_of "$base" "int(s['cold_starts'] == 2 and s['warm_starts'] == $calls + 1)")"
    log "docker/$net stats: $(curl -fsS "$base/stats")"
    log "docker/$net waiting for the 3 s keep-alive to expire"
    sleep 5
    check "docker/$net idle containers removed after keep-alive (evictions=2, idle=0)" \
        "$(stat_of "$base" "int(s['evictions'] == 2 and s['containers']['idle'] == 0)")"
    r=$(call "$url"); log "docker/$net call after keep-alive: $r"
    check "docker/$net call after keep-alive is cold" "$([ "${r#* }" = cold ] && echo 1 || echo 0)"
    cold+=("${r% *}")
    log "docker/$net stats: $(curl -fsS "$base/stats")"
    stop_gateway docker
    check "docker/$net gateway removed its containers" \
        "$([ -z "$("$DOCKER" ps -aq --filter label=wisp-baseline.gateway)" ] && echo 1 || echo 0)"

    # Keep-alive 0: every call starts (and afterwards removes) a container.
    url=$(start docker --docker-network "$net" --keep-alive 0)
    base=${url%/run}
    for i in $(seq 3 "$colds"); do
        r=$(call "$url"); log "docker/$net keep-alive 0 call: $r"; cold+=("${r% *}")
    done
    check "docker/$net keep-alive 0: every call cold" \
        "$(stat_of "$base" "int(s['cold_starts'] == $colds - 2 and s['warm_starts'] == 0)")"
    stop_gateway docker
    results+=("docker ($net) cold start: $(printf '%s\n' "${cold[@]}" | summary)")
}

smoke_oneshot() { # runc|crun
    local rt=$1 url base r i times=()
    url=$(start "$rt")
    base=${url%/run}
    for i in $(seq 1 $((calls + 1))); do
        r=$(call "$url"); log "$rt call $i: $r"; [ "$i" = 1 ] || times+=("${r% *}")
    done
    results+=("$rt container per call: $(printf '%s\n' "${times[@]}" | summary)")
    check "$rt: $((calls + 1)) calls, as many containers, no errors" \
        "$(stat_of "$base" "int(s['cold_starts'] == $calls + 1 and s['warm_starts'] == 0 and s['errors'] == 0)")"
    log "$rt stats: $(curl -fsS "$base/stats")"
    stop_gateway "$rt"
    check "$rt: no container left" "$([ -z "$("$rt" --root "/run/wisp-baselines/$rt-$(default_port "$rt")" list -q 2>/dev/null)" ] && echo 1 || echo 0)"
}

smoke() {
    [ -f "$bundle/config.json" ] || die "no bundle: run '$0 setup' first"
    calls=${SMOKE_CALLS:-20} colds=${SMOKE_COLD:-6}
    [ "$colds" -ge 3 ] || die "SMOKE_COLD must be at least 3"
    had_dockerd=0
    docker_up && had_dockerd=1
    passed=0 failed=0 results=()
    cleanup_smoke() {
        for b in docker runc crun; do stop_gateway "$b"; done
        [ "$had_dockerd" = 1 ] || stop_dockerd
    }
    trap cleanup_smoke EXIT
    for net in ${SMOKE_DOCKER_NETWORKS:-bridge host}; do smoke_docker "$net"; done
    smoke_oneshot runc
    smoke_oneshot crun
    echo
    echo "single-call latency seen by curl on 127.0.0.1 (through the gateway):"
    printf '  %s\n' "${results[@]}"
    echo "smoke: $passed passed, $failed failed"
    [ "$failed" = 0 ]
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case $cmd in
    setup) setup "$@" ;;
    start) start "$@" ;;
    stop) stop "$@" ;;
    smoke) smoke "$@" ;;
    *) sed -n '2,34p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
