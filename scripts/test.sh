#!/usr/bin/env bash
# The whole test suite, from a fresh machine: install what tests need, build the
# guest functions once, then lint and run every test.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build-examples.sh >/dev/null
cargo fmt --all --check
cargo clippy --workspace --all-targets --quiet -- -D warnings
cargo test --release --workspace
