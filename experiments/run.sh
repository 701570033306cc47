#!/usr/bin/env bash
# Reproduces the study of "An Execution Model for Serverless Functions at the
# Edge" (Hall & Ramachandran, IoTDI 2019) with wisp: execution time of the three
# workloads natively and as WebAssembly (the paper's Table 2), and latency,
# throughput, cold starts and memory under the three access patterns SCMA, MCSA
# and MCMA (its Tables 3-5), for wisp against a native server, a Node.js server,
# `wasmtime serve`, OpenWhisk-style warm containers on Docker, and a fresh runc
# or crun container per call. See docs/experiments.md.
#
#   experiments/run.sh [--quick|--full|--tiny] [--systems LIST] [--workloads LIST]
#                      [--out DIR] [--no-setup] [--no-build] [--wisp-bin PATH]
#
#   --quick       (default) Table 2 for every workload, pattern tables for plate;
#                 a few minutes once everything is installed and built
#   --full        100 calls per workload for Table 2, pattern tables for every
#                 workload
#   --tiny        a seconds-long smoke run (3 calls, tiny patterns)
#   --systems     comma-separated: wisp,native,node,wasmtime,docker,runc,crun
#                 (default: all; --tiny defaults to wisp)
#   --workloads   comma-separated: plate,classify,resize (default: by mode)
#   --out DIR     results directory (default experiments/results)
#   --no-setup    install nothing (a system whose tools are missing is skipped)
#   --no-build    build nothing (use what is built)
#   --wisp-bin    the wisp binary (default target/release/wisp)
#
# Writes DIR/results.md, DIR/results.json, DIR/*.svg and DIR/raw/*.json.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
PYTHON=${PYTHON:-python3}
if ! "$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
    echo "experiments/run.sh: needs Python 3.11 or newer as $PYTHON" >&2
    exit 1
fi
exec "$PYTHON" "$here/driver.py" "$@"
