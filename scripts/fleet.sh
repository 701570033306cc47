#!/usr/bin/env bash
# A wisp fleet on this machine, as users would run one: PostgreSQL (the shared
# registry), docker-registry (OCI artifacts), three `wisp serve` nodes and
# nginx in front, all on loopback under a temporary directory; the example
# functions deployed through nginx. Prints the URLs; Ctrl-C stops everything.
# docs/fleet.md explains the layout.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build-examples.sh >/dev/null
cargo build --release --quiet -p wisp
. scripts/fleet/lib.sh
trap fleet_stop EXIT
trap 'exit 130' INT TERM

export WISP_API_KEY="${WISP_API_KEY:-fleet:$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')}"
fleet_postgres
fleet_oci_registry
for n in 1 2 3; do
    fleet_node "$n" --registry "$FLEET_PG_URL" --artifacts "oci://$FLEET_OCI/wisp/modules"
done
nodes=("${FLEET_NODES[@]}")
fleet_nginx "${nodes[@]}"
front=$FLEET_FRONT
export WISP_SERVER="$front"
"$wisp" deploy -f examples/wisp.toml >/dev/null
"$wisp" push examples/build/hello-http.wasm "oci://$FLEET_OCI/fns/hello-http:v1" >/dev/null

cat <<TRY

A wisp fleet is up (files in $FLEET_DIR):
  nginx:        $front   (routes each action to one node, consistent hashing)
  nodes:        ${nodes[*]}
  PostgreSQL:   $FLEET_PG_URL   (the shared registry)
  OCI registry: http://$FLEET_OCI   (the modules in wisp/modules; fns/hello-http:v1 pushed)
  API key:      $WISP_API_KEY

Try:
  curl $front/fn/hello-http/
  curl -X POST $front/fn/kv-counter/count             # one counter, whichever node answers
  curl ${nodes[1]}/fn/kv-counter/kv/default/count     # read on node 2
  WISP_SERVER=${nodes[0]} WISP_API_KEY=$WISP_API_KEY $wisp deploy hi oci://$FLEET_OCI/fns/hello-http:v1
  curl ${nodes[2]}/fn/hi/                             # deployed on node 1, served by node 3
  kill \$(cat $FLEET_DIR/node2/pid); curl $front/fn/hello-http/   # nginx goes around it

Ctrl-C stops everything.
TRY
wait
