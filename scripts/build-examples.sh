#!/usr/bin/env bash
# Builds every guest function in examples/ into examples/build/NAME.wasm, and the
# native builds of the benchmark workloads into examples/build/native/.
# Needs: rustup targets wasm32-wasip1 and wasm32-wasip2, clang + wasi-libc, emscripten
# (scripts/setup.sh installs them).
set -euo pipefail
cd "$(dirname "$0")/.."
out=examples/build
mkdir -p "$out"

cargo build --quiet --manifest-path examples/Cargo.toml --release \
    --target wasm32-wasip2 -p hello-http -p kv-counter
cargo build --quiet --manifest-path examples/Cargo.toml --release \
    --target wasm32-wasip1 -p cgi-rust -p json-rust -p sandbox-probe
cp examples/target/wasm32-wasip2/release/hello_http.wasm "$out/hello-http.wasm"
cp examples/target/wasm32-wasip2/release/kv_counter.wasm "$out/kv-counter.wasm"
cp examples/target/wasm32-wasip1/release/cgi-rust.wasm "$out/cgi-rust.wasm"
cp examples/target/wasm32-wasip1/release/json-rust.wasm "$out/json-rust.wasm"
cp examples/target/wasm32-wasip1/release/sandbox-probe.wasm "$out/sandbox-probe.wasm"

# The benchmark workloads (examples/workloads/README.md): one library behind a
# wasi:http component, a WASI command and two native binaries. The wasm builds
# enable simd128, WebAssembly's counterpart of the SSE2 baseline the native
# build gets, in a target dir of their own so the flag does not make the other
# examples rebuild. workloads-native is a host-only server: never built for wasm.
simd_dir=examples/target/simd128
RUSTFLAGS="-C target-feature=+simd128" cargo build --quiet --manifest-path examples/Cargo.toml \
    --release --target-dir "$simd_dir" --target wasm32-wasip2 -p workloads-http
RUSTFLAGS="-C target-feature=+simd128" cargo build --quiet --manifest-path examples/Cargo.toml \
    --release --target-dir "$simd_dir" --target wasm32-wasip1 -p workloads-cli
cp "$simd_dir/wasm32-wasip2/release/workloads_http.wasm" "$out/workloads-http.wasm"
cp "$simd_dir/wasm32-wasip1/release/workload.wasm" "$out/workloads-cli.wasm"
cargo build --quiet --manifest-path examples/Cargo.toml --release -p workloads-cli -p workloads-native
mkdir -p "$out/native"
cp examples/target/release/workload examples/target/release/workloads-native "$out/native/"

# C with clang + wasi-libc (Debian's clang knows the wasi-libc sysroot).
clang --target=wasm32-wasi -O2 -o "$out/c-counter.wasm" examples/c-counter/counter.c
clang --target=wasm32-wasi -O2 -o "$out/c-preinit.wasm" examples/c-preinit/preinit.c

# C++ with Emscripten, as the paper built its workloads; STANDALONE_WASM gives a
# WASI command module with no JavaScript glue.
EM_CACHE="${EM_CACHE:-$PWD/examples/target/emcache}" \
    em++ -O2 -sSTANDALONE_WASM -o "$out/cpp-primes.wasm" examples/cpp-primes/primes.cpp 2>/dev/null \
    || em++ -O2 -sSTANDALONE_WASM -o "$out/cpp-primes.wasm" examples/cpp-primes/primes.cpp

ls -1 "$out"/*.wasm "$out"/native/*
