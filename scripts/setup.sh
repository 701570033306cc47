#!/usr/bin/env bash
# Installs what building and testing wisp needs, idempotently: the wasm rustup
# targets and the Debian packages for the C/C++ examples, the metrics test and
# the benchmark.
set -euo pipefail
cd "$(dirname "$0")/.."

targets_needed=()
for t in wasm32-wasip1 wasm32-wasip2; do
    rustup target list --installed | grep -qx "$t" || targets_needed+=("$t")
done
if [ ${#targets_needed[@]} -gt 0 ]; then
    rustup target add "${targets_needed[@]}"
fi

# prometheus: its promtool checks the /metrics exposition (tests/metrics.rs).
pkgs=(clang lld wasi-libc libclang-rt-14-dev-wasm32 emscripten prometheus)
[ "${WISP_SETUP_BENCH:-0}" = 1 ] && pkgs+=(wrk linux-perf)
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# The official OpenWhisk JavaScript client, for the compatibility test.
client=crates/wisp/tests/openwhisk-client
if [ ! -d "$client/node_modules/openwhisk" ]; then
    if ! command -v npm >/dev/null; then
        SUDO=""
        [ "$(id -u)" -ne 0 ] && SUDO=sudo
        $SUDO apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq nodejs npm >/dev/null
    fi
    npm ci --prefix "$client" --no-audit --no-fund --loglevel=error >/dev/null
fi
