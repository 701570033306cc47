#!/usr/bin/env bash
# Builds wisp for aarch64-unknown-linux-gnu and smoke-tests it under
# qemu-user-static beside the x86-64 build: both serve on loopback, each
# deploys the very same example .wasm files (examples/wisp.toml), and every
# answer of the aarch64 server must be byte-identical to the x86-64 one's.
# Then the aarch64 server starts on a copy of the x86-64 data directory, to
# show it compiles its own code instead of loading the x86-64 artifacts.
#
# Installs what it needs, idempotently, through scripts/setup.sh
# (WISP_SETUP_CROSS=1): the rustup target, Debian's gcc-aarch64-linux-gnu
# (linker and C compiler for ring and mimalloc) and qemu-user-static.
# Not part of scripts/test.sh: the aarch64 build of the whole binary takes
# about CI's budget on two cores by itself (docs/fleet.md).
set -euo pipefail
cd "$(dirname "$0")/.."

target=aarch64-unknown-linux-gnu
WISP_SETUP_CROSS=1 scripts/setup.sh
scripts/build-examples.sh >/dev/null
echo "building wisp for x86-64 and $target ..."
cargo build --release --quiet -p wisp
CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc \
    CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc \
    AR_aarch64_unknown_linux_gnu=aarch64-linux-gnu-ar \
    cargo build --release --quiet -p wisp --target "$target"

x86=target/release/wisp
arm=target/$target/release/wisp
file "$arm" 2>/dev/null | grep -q "ARM aarch64" || {
    echo "$arm is not an aarch64 binary" >&2
    exit 1
}
qemu="qemu-aarch64-static -L /usr/aarch64-linux-gnu"

tmp=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    rm -rf "$tmp"
}
trap cleanup EXIT INT TERM
key="cross-id:cross-secret"

# Under qemu-user the pooling allocator's reservations turn into resident
# memory as slots are used (about 12 GiB at the default 256 instances, enough
# for the kernel's OOM killer): the emulated nodes get a small pool.
arm_flags=(--max-instances 8)

# start NAME FLAGS COMMAND...: serves on a free loopback port with data in
# $tmp/NAME and the serve flags in the array named FLAGS; sets $url.
start() {
    local name=$1
    local -n flags=$2
    shift 2
    mkdir -p "$tmp/$name"
    "$@" serve --listen 127.0.0.1:0 --data-dir "$tmp/$name/data" --api-key "$key" \
        --secret-key-file "$tmp/$name/secret.key" "${flags[@]}" >"$tmp/$name/out" 2>"$tmp/$name/log" &
    pids+=($!)
    for _ in $(seq 600); do
        grep -q "wisp listening on" "$tmp/$name/out" && break
        kill -0 "${pids[-1]}" 2>/dev/null || { cat "$tmp/$name/log"; exit 1; }
        sleep 0.1
    done
    url=$(sed -n 's/^wisp listening on //p' "$tmp/$name/out" | head -1)
    [ -n "$url" ] || { echo "$name did not start" >&2; cat "$tmp/$name/log"; exit 1; }
}

# The same calls against a server; each answer's status and body in $tmp/NAME.N.
calls() {
    local name=$1 url=$2 n=0
    local api="$url/api/v1/namespaces/_/actions"
    one() {
        n=$((n + 1))
        curl -sS -o "$tmp/$name.$n" -w '%{http_code}\n' -H 'Host: edge.test' "$@" >"$tmp/$name.$n.status"
    }
    one "$url/fn/hello-http/"
    one -d 'echo me' "$url/fn/hello-http/echo"
    one -X POST "$url/fn/kv-counter/count"
    one -X POST "$url/fn/kv-counter/count"
    one "$url/fn/kv-counter/config/greeting"
    one "$url/fn/cgi-rust/some/path?x=1"
    one -u "$key" -X POST -H 'Content-Type: application/json' -d '{"name":"edge"}' "$api/json-rust?blocking=true&result=true"
    one -u "$key" -X POST -H 'Content-Type: application/json' -d '{"n":100000}' "$api/cpp-primes?blocking=true&result=true"
    one -u "$key" -X POST -H 'Content-Type: application/json' -d '{}' "$api/c-counter?blocking=true&result=true"
    one -u "$key" -X POST -H 'Content-Type: application/json' -d '{}' "$api/c-preinit?blocking=true&result=true"
    # The paper's workloads on their embedded samples: integer image work
    # and a float32 network, whose scores must match to the last digit.
    for w in plate classify resize; do
        one "$url/fn/workloads-http/$w"
    done
    one "$url/fn/workloads-cli/classify"
    one -u "$key" -X POST -H 'Content-Type: application/json' -d '{}' "$api/no-such-action?blocking=true"
    echo "$n"
}

no_flags=()
start x86 no_flags "$x86"
x86_url=$url
WISP_SERVER=$x86_url WISP_API_KEY=$key "$x86" deploy -f examples/wisp.toml >"$tmp/x86.deploy"
count=$(calls x86 "$x86_url")

start arm arm_flags $qemu "$arm"
arm_url=$url
started=$(date +%s)
WISP_SERVER=$arm_url WISP_API_KEY=$key $qemu "$arm" deploy -f examples/wisp.toml >"$tmp/arm.deploy"
echo "aarch64 (under qemu): deployed examples/wisp.toml in $(($(date +%s) - started)) s"
calls arm "$arm_url" >/dev/null

differ=0
for i in $(seq "$count"); do
    if cmp -s "$tmp/x86.$i" "$tmp/arm.$i" && cmp -s "$tmp/x86.$i.status" "$tmp/arm.$i.status"; then
        case $(file -b --mime-encoding "$tmp/x86.$i") in
            binary) shown="($(stat -c %s "$tmp/x86.$i") bytes of $(file -b --mime-type "$tmp/x86.$i"))" ;;
            *) shown=$(head -c 70 "$tmp/x86.$i" | tr '\n' ' ') ;;
        esac
        printf 'same   %s  %s\n' "$(cat "$tmp/x86.$i.status")" "$shown"
    else
        differ=$((differ + 1))
        printf 'DIFFER x86-64 %s: %s\n       aarch64 %s: %s\n' \
            "$(cat "$tmp/x86.$i.status")" "$(head -c 200 "$tmp/x86.$i")" \
            "$(cat "$tmp/arm.$i.status")" "$(head -c 200 "$tmp/arm.$i")"
    fi
done

peak() { awk '/^VmHWM:/ {print $2 " " $3}' "/proc/$1/status" 2>/dev/null; }
echo "peak resident memory: x86-64 node $(peak "${pids[0]}"), aarch64 node under qemu $(peak "${pids[1]}")"

# The aarch64 server on the x86-64 server's data (both stopped first): the
# compiled code is kept per target, so it compiles its own.
for p in "${pids[0]}" "${pids[1]}"; do
    kill -TERM "$p"
    wait "$p" 2>/dev/null || true
done
cp -a "$tmp/x86" "$tmp/moved"
start moved arm_flags $qemu "$arm"
moved=$(curl -sS -H 'Host: edge.test' "$url/fn/hello-http/")
if [ "$moved" != "$(cat "$tmp/x86.1")" ]; then
    echo "DIFFER on the moved data directory: $moved"
    differ=$((differ + 1))
fi
echo "compiled-code directories of the moved data directory:"
find "$tmp/moved/data" -name '*.cwasm' -printf '%h\n' | sort | uniq -c | sed "s|$tmp/moved/data/||"

if [ "$differ" -ne 0 ]; then
    echo "cross-aarch64: $differ of $((count + 1)) answers differ" >&2
    exit 1
fi
echo "cross-aarch64: all $((count + 1)) answers byte-identical on x86-64 and aarch64"
