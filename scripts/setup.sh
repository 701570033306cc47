#!/usr/bin/env bash
# Installs what building and testing wisp needs, idempotently: the wasm rustup
# targets and the Debian packages for the C/C++ examples, the metrics test and
# the benchmark, and the JavaScript and Python toolchains of `wisp build` in
# toolchains/ (toolchains/README.md), each skipped when already at its pin.
set -euo pipefail
cd "$(dirname "$0")/.."

# WISP_SETUP_CROSS=1 (scripts/cross-aarch64.sh): also the aarch64 target, its
# cross compiler and qemu-user-static.
targets=(wasm32-wasip1 wasm32-wasip2)
[ "${WISP_SETUP_CROSS:-0}" = 1 ] && targets+=(aarch64-unknown-linux-gnu)
targets_needed=()
for t in "${targets[@]}"; do
    rustup target list --installed | grep -qx "$t" || targets_needed+=("$t")
done
if [ ${#targets_needed[@]} -gt 0 ]; then
    rustup target add "${targets_needed[@]}"
fi

# prometheus: its promtool checks the /metrics exposition (tests/metrics.rs);
# docker-registry: the OCI registry tests/oci.rs pushes to and pulls from;
# postgresql and nginx: the shared registry and the front of the fleet
# tests (tests/fleet.rs, crates/wisp-registry/tests/postgres.rs), which start
# their own servers in temporary directories.
# chromium: the browser the dashboard's test drives (crates/wisp/tests/ui.rs).
pkgs=(clang lld wasi-libc libclang-rt-14-dev-wasm32 emscripten prometheus docker-registry postgresql nginx chromium)
[ "${WISP_SETUP_BENCH:-0}" = 1 ] && pkgs+=(wrk linux-perf)
[ "${WISP_SETUP_CROSS:-0}" = 1 ] && pkgs+=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user-static curl file)
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

apt_install() {
    local SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$@" >/dev/null
}
need_npm() {
    command -v npm >/dev/null || apt_install nodejs npm
}

# The official OpenWhisk JavaScript client, for the compatibility test.
client=crates/wisp/tests/openwhisk-client
if [ ! -d "$client/node_modules/openwhisk" ]; then
    need_npm
    npm ci --prefix "$client" --no-audit --no-fund --loglevel=error >/dev/null
fi

# playwright-core, which drives the system's chromium (it downloads no browser).
ui_browser=crates/wisp/tests/ui-browser
if [ ! -d "$ui_browser/node_modules/playwright-core" ]; then
    need_npm
    npm ci --prefix "$ui_browser" --no-audit --no-fund --loglevel=error >/dev/null
fi

# componentize-js, at the version toolchains/js/package.json pins, from its
# package-lock.json.
js=toolchains/js
js_pin=$(sed -n 's|.*"@bytecodealliance/componentize-js": "\([^"]*\)".*|\1|p' "$js/package.json")
js_have=$(sed -n 's|^ *"version": "\([^"]*\)".*|\1|p' \
    "$js/node_modules/@bytecodealliance/componentize-js/package.json" 2>/dev/null | head -1 || true)
# componentize-js imports preview2-shim, an optional peer dependency npm ci
# installs only because package.json lists it.
if [ "$js_have" != "$js_pin" ] || [ ! -d "$js/node_modules/@bytecodealliance/preview2-shim" ]; then
    need_npm
    npm ci --prefix "$js" --no-audit --no-fund --loglevel=error >/dev/null
fi

# componentize-py, at the version toolchains/python/requirements.txt pins, in
# a virtual environment of its own; from its wheel only (a build from source
# downloads a toolchain).
py=toolchains/python
py_pin=$(sed -n 's/^componentize-py==//p' "$py/requirements.txt")
py_have=$("$py/.venv/bin/componentize-py" --version 2>/dev/null | sed -n 's/^componentize-py //p' || true)
if [ "$py_have" != "$py_pin" ]; then
    python3 -m venv --help >/dev/null 2>&1 || apt_install python3-venv
    [ -x "$py/.venv/bin/pip" ] || { rm -rf "$py/.venv"; python3 -m venv "$py/.venv"; }
    "$py/.venv/bin/pip" install --quiet --disable-pip-version-check --only-binary :all: \
        -r "$py/requirements.txt"
fi
