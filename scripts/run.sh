#!/usr/bin/env bash
# Builds wisp and the example functions, starts the server, deploys the examples
# (examples/wisp.toml) and prints curl lines to try. Ctrl-C stops the server.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build-examples.sh >/dev/null
cargo build --release --quiet -p wisp
wisp=target/release/wisp
export WISP_DATA_DIR="${WISP_DATA_DIR:-$PWD/wisp-data}"
listen="${WISP_LISTEN:-127.0.0.1:8080}"

log=$(mktemp)
"$wisp" serve --listen "$listen" >"$log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -f "$log"' EXIT INT TERM
for _ in $(seq 100); do
    grep -q "wisp listening on" "$log" && break
    kill -0 $pid 2>/dev/null || { cat "$log"; exit 1; }
    sleep 0.1
done
url=$(grep -o 'http://[^ ]*' "$log" | head -1)
export WISP_SERVER="$url"
cat "$log"

# Every example function, as examples/wisp.toml describes them (the sandbox
# probe, a hostile test fixture, is not among them). A second run leaves the
# functions that did not change alone.
"$wisp" deploy -f examples/wisp.toml
key=$(cat "$WISP_DATA_DIR/api-key")
cat <<TRY

wisp is serving at $url — open $url/ui (sign in with $key), or try:
  curl $url/fn/hello-http/
  curl -d 'echo me' $url/fn/hello-http/echo
  curl -X POST $url/fn/kv-counter/count      # a counter in the key-value store
  curl $url/fn/kv-counter/config/greeting    # a parameter, through wasi:config
  curl '$url/fn/cgi-rust/some/path?x=1'
  curl -u '$key' -X POST -H 'Content-Type: application/json' -d '{"name":"edge"}' '$url/api/v1/namespaces/_/actions/json-rust?blocking=true&result=true'
  curl -u '$key' -X POST -d '{"n":100000}' '$url/api/v1/namespaces/_/actions/cpp-primes?blocking=true&result=true'
  WISP_SERVER=$url $wisp invoke c-counter
  WISP_SERVER=$url $wisp invoke c-preinit   # pre-initialized at deploy: always 42
  WISP_SERVER=$url $wisp list

Ctrl-C stops the server.
TRY
wait $pid
