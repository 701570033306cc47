#!/usr/bin/env bash
# 10,000 actions on a small memory budget, with the access-pattern policy and
# without a budget, in one run (see bench/many-actions.py for the knobs).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet -p wisp
exec python3 bench/many-actions.py
