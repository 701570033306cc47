#!/usr/bin/env bash
# Runs every workload on every sample in data/ (and on an empty input, and on
# a non-image input) with the native `workload` binary and with its WebAssembly
# build, and compares stdout, stderr and exit codes byte for byte. Exits
# non-zero on any difference.
#
#   examples/workloads/check.sh              builds both, then compares
#   examples/workloads/check.sh --no-build   uses what is built
#
# Environment:
#   WASM_RUN        command that runs a WASI preview1 module: `$WASM_RUN
#                   MODULE.wasm ARGS...` (default: node with run-wasm.mjs;
#                   e.g. WASM_RUN="wasmtime run" with the wasmtime CLI)
#   NATIVE_WORKLOAD the native binary (default: examples/target/release/workload)
#   WASM_WORKLOAD   the module (default: the simd128 build made as in
#                   scripts/build-examples.sh)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
examples=$(dirname "$here")
native=${NATIVE_WORKLOAD:-$examples/target/release/workload}
wasm=${WASM_WORKLOAD:-$examples/target/simd128/wasm32-wasip1/release/workload.wasm}

if [ "${1:-}" != "--no-build" ]; then
    cargo build --quiet --release --manifest-path "$examples/Cargo.toml" -p workloads-cli
    RUSTFLAGS="-C target-feature=+simd128" cargo build --quiet --release \
        --manifest-path "$examples/Cargo.toml" --target-dir "$examples/target/simd128" \
        --target wasm32-wasip1 -p workloads-cli
fi
for f in "$native" "$wasm"; do
    [ -e "$f" ] || { echo "missing $f (run without --no-build)" >&2; exit 2; }
done
if [ -n "${WASM_RUN:-}" ]; then
    read -r -a runner <<<"$WASM_RUN"
else
    runner=(node --no-warnings "$here/run-wasm.mjs")
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
: >"$tmp/empty"
printf 'this is not an image\n' >"$tmp/text"

passed=0
failed=0
for name in plate classify resize; do
    for input in "$tmp/empty" "$tmp/text" "$here"/data/*.png; do
        label=$(basename "$input")
        set +e
        "$native" "$name" <"$input" >"$tmp/n.out" 2>"$tmp/n.err"
        n_rc=$?
        "${runner[@]}" "$wasm" "$name" <"$input" >"$tmp/w.out" 2>"$tmp/w.err"
        w_rc=$?
        set -e
        if [ "$n_rc" = "$w_rc" ] && cmp -s "$tmp/n.out" "$tmp/w.out" && cmp -s "$tmp/n.err" "$tmp/w.err"; then
            passed=$((passed + 1))
            printf 'same  %-8s %-12s exit %s, %s bytes\n' "$name" "$label" "$n_rc" "$(wc -c <"$tmp/n.out")"
        else
            failed=$((failed + 1))
            printf 'DIFF  %-8s %-12s native exit %s (%s bytes), wasm exit %s (%s bytes)\n' \
                "$name" "$label" "$n_rc" "$(wc -c <"$tmp/n.out")" "$w_rc" "$(wc -c <"$tmp/w.out")"
            diff <(head -c 2000 "$tmp/n.err") <(head -c 2000 "$tmp/w.err") || true
        fi
    done
done
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
