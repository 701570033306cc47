# Pieces of a wisp fleet on one machine, for scripts/fleet.sh and
# bench/fleet.sh to source: PostgreSQL, docker-registry, wisp nodes and nginx,
# each on a free loopback port under $FLEET_DIR, all stopped by fleet_stop
# (which the sourcing script traps on EXIT).
#
# Needs: Debian's postgresql, docker-registry and nginx (scripts/setup.sh), and
# target/release/wisp.

# A directory given in FLEET_DIR is kept; one made here is removed at the end.
if [ -n "${FLEET_DIR:-}" ]; then
    mkdir -p "$FLEET_DIR"
    FLEET_KEEP=1
else
    FLEET_DIR=$(mktemp -d -t wisp-fleet.XXXXXX)
fi
FLEET_PIDS=()
FLEET_NODES=()
FLEET_PG_DATA=""
FLEET_PG_BIN=""
wisp="${wisp:-$PWD/target/release/wisp}"

# A port nothing listens on now.
fleet_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Waits until something listens on 127.0.0.1:$1.
fleet_wait_port() {
    for _ in $(seq 200); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.05
    done
    echo "nothing listens on 127.0.0.1:$1" >&2
    return 1
}

# As the unprivileged `postgres` user when run as root (the server refuses
# root), else as ourselves.
fleet_as_pg() {
    if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# Starts PostgreSQL; sets FLEET_PG_URL.
fleet_postgres() {
    local initdb
    initdb=$(command -v initdb 2>/dev/null || ls -d /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -1)
    if [ -z "$initdb" ]; then
        echo "PostgreSQL is not installed (Debian's postgresql): run scripts/setup.sh" >&2
        return 1
    fi
    FLEET_PG_BIN=$(dirname "$initdb")
    local dir="$FLEET_DIR/postgres" port
    mkdir -p "$dir"
    [ "$(id -u)" -eq 0 ] && chown postgres: "$dir" && chmod 755 "$FLEET_DIR"
    FLEET_PG_DATA="$dir/data"
    port=$(fleet_port)
    fleet_as_pg "$FLEET_PG_BIN/initdb" --auth=trust --username=wisp --no-sync -D "$FLEET_PG_DATA" >/dev/null
    cat >>"$FLEET_PG_DATA/postgresql.conf" <<CONF
port = $port
listen_addresses = '127.0.0.1'
unix_socket_directories = '$dir'
CONF
    fleet_as_pg "$FLEET_PG_BIN/pg_ctl" -D "$FLEET_PG_DATA" -l "$dir/server.log" -w start >/dev/null
    FLEET_PG_URL="postgres://wisp@127.0.0.1:$port/postgres"
}

# Starts docker-registry; sets FLEET_OCI (host:port).
fleet_oci_registry() {
    local dir="$FLEET_DIR/oci" port
    mkdir -p "$dir"
    port=$(fleet_port)
    cat >"$dir/config.yml" <<CONF
version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: $dir/data
http:
  addr: 127.0.0.1:$port
CONF
    docker-registry serve "$dir/config.yml" >"$dir/log" 2>&1 &
    FLEET_PIDS+=($!)
    fleet_wait_port "$port"
    FLEET_OCI="127.0.0.1:$port"
}

# Starts node number $1 of the fleet with `wisp serve` flags "${@:2}"
# (e.g. --registry URL); adds its URL to FLEET_NODES. Every node shares the API key
# ($WISP_API_KEY) and the secret key file; each has its own data directory,
# which holds only its compiled-code cache.
fleet_node() {
    local n=$1 port
    shift
    port=$(fleet_port)
    mkdir -p "$FLEET_DIR/node$n"
    "$wisp" serve --listen "127.0.0.1:$port" --data-dir "$FLEET_DIR/node$n/data" \
        --secret-key-file "$FLEET_DIR/secret.key" "$@" >"$FLEET_DIR/node$n/log" 2>&1 &
    FLEET_PIDS+=($!)
    echo $! >"$FLEET_DIR/node$n/pid"
    fleet_wait_port "$port" || { cat "$FLEET_DIR/node$n/log" >&2; return 1; }
    local up=0
    for _ in $(seq 200); do
        grep -q "wisp listening on" "$FLEET_DIR/node$n/log" && { up=1; break; }
        sleep 0.05
    done
    if [ "$up" != 1 ]; then
        echo "node $n did not start serving:" >&2
        cat "$FLEET_DIR/node$n/log" >&2
        return 1
    fi
    FLEET_NODES+=("http://127.0.0.1:$port")
}

# Starts nginx in front of the node URLs given; sets FLEET_FRONT.
fleet_nginx() {
    local dir="$FLEET_DIR/nginx" port servers=""
    mkdir -p "$dir"
    chmod 755 "$FLEET_DIR" "$dir"
    port=$(fleet_port)
    for url in "$@"; do
        servers+="server ${url#http://} max_fails=1 fail_timeout=2s; "
    done
    sed -e "s|@DIR@|$dir|g" -e "s|@LISTEN@|127.0.0.1:$port|" -e "s|@SERVERS@|$servers|" \
        scripts/fleet/nginx.conf.in >"$dir/nginx.conf"
    local nginx
    nginx=$(command -v nginx || echo /usr/sbin/nginx)
    "$nginx" -p "$dir" -e "$dir/error.log" -c "$dir/nginx.conf" &
    FLEET_PIDS+=($!)
    fleet_wait_port "$port"
    FLEET_FRONT="http://127.0.0.1:$port"
}

# Stops everything started, and removes $FLEET_DIR unless it was given or
# FLEET_KEEP=1.
fleet_stop() {
    local pid
    for pid in "${FLEET_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${FLEET_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    if [ -n "$FLEET_PG_DATA" ]; then
        fleet_as_pg "$FLEET_PG_BIN/pg_ctl" -D "$FLEET_PG_DATA" -m fast -w stop >/dev/null 2>&1 || true
    fi
    [ "${FLEET_KEEP:-0}" = 1 ] || rm -rf "$FLEET_DIR"
}
