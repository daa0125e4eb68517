#!/usr/bin/env bash
# A testnet of 6 validators and 2 full nodes in containers on a private Docker network.
#
#   infrastructure/testnet.sh up [--payload-size BYTES] [--view-timeout-ms MS]
#       builds the release binaries (if needed) and the image (FROM scratch), generates fresh
#       configs, starts the 8 containers and waits until every node finalizes blocks
#   infrastructure/testnet.sh status        each node's container state, height and peers
#   infrastructure/testnet.sh logs [nodeN] [-f]
#   infrastructure/testnet.sh down [--keep-image]
#       removes the containers, the network, the database volumes, the configs and the image
#
# Environment: ZKC_BIN_DIR (prebuilt binaries: nothing is built), ZKC_PROJECT (zkc-testnet),
# ZKC_IMAGE (zkc-node:local), ZKC_PORT_PREFIX (313: JSON-RPC on 127.0.0.1:3130N, metrics on
# 127.0.0.1:3131N), ZKC_SUBNET (10.231.57.0/24), ZKC_STATE (infrastructure/.state).
set -euo pipefail
export ZKC_IMAGE="${ZKC_IMAGE:-zkc-node:local}" ZKC_PROJECT="${ZKC_PROJECT:-zkc-testnet}"
export ZKC_PORT_PREFIX="${ZKC_PORT_PREFIX:-313}" ZKC_SUBNET="${ZKC_SUBNET:-10.231.57.0/24}"
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
# Where the generated configs go (removed by `down`).
export ZKC_STATE="${ZKC_STATE:-$INFRA_DIR/.state}" PYTHONDONTWRITEBYTECODE=1

usage() { sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
[[ $# -ge 1 ]] || usage
cmd="$1"; shift
py() { python3 "$INFRA_DIR/lib/testnet_cli.py" "$@"; }

case "$cmd" in
  up)
    docker_ok || die "no Docker engine answers (docker info failed)"
    zkc_ensure_bins
    "$INFRA_DIR/docker/build.sh"
    py up "$@"
    ;;
  status)
    py status
    ;;
  logs)
    compose -p "$ZKC_PROJECT" -f "$INFRA_DIR/compose/docker-compose.yml" logs --no-color "$@"
    ;;
  down)
    keep_image=0
    [[ "${1:-}" == "--keep-image" ]] && keep_image=1
    py down
    if [[ $keep_image == 0 ]] && docker image inspect "$ZKC_IMAGE" >/dev/null 2>&1; then
      docker image rm "$ZKC_IMAGE" >/dev/null
    fi
    log "removed the testnet $ZKC_PROJECT"
    ;;
  *) usage ;;
esac
