#!/usr/bin/env bash
# Payload pressure on a testnet of 6 validators and 2 full nodes, measured from the nodes'
# metrics: finalized blocks/s, payload MB/s, network MB/s, commit latency p50/p90/p99.
#
#   infrastructure/load/load.sh [--mode docker|process|auto] [--payload-sizes 0,10240,102400]
#       [--duration 60] [--warmup 10] [--net auto|netns|loopback]
#       one fresh testnet per payload size (project zkc-load, image zkc-node:load,
#       ports 127.0.0.1:3150N / 3151N, subnet 10.231.59.0/24), removed afterwards
#   infrastructure/load/load.sh --attach [--duration 60]
#       measures the testnet started by `testnet.sh up` (e.g. `up --payload-size 102400`)
set -euo pipefail
attach=0
for a in "$@"; do [[ $a == --attach ]] && attach=1; done
if [[ $attach == 0 ]]; then
  export ZKC_IMAGE="${ZKC_IMAGE:-zkc-node:load}" ZKC_PROJECT="${ZKC_PROJECT:-zkc-load}"
  export ZKC_PORT_PREFIX="${ZKC_PORT_PREFIX:-315}" ZKC_SUBNET="${ZKC_SUBNET:-10.231.59.0/24}"
fi
source "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"
export PYTHONDONTWRITEBYTECODE=1

mode=auto
args=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --mode) mode="$2"; shift 2 ;;
    --mode=*) mode="${1#--mode=}"; shift ;;
    *) args+=("$1"); shift ;;
  esac
done
if [[ $attach == 1 ]]; then
  mode=docker
  # The testnet of testnet.sh: its names and state directory.
  export ZKC_PORT_PREFIX="${ZKC_PORT_PREFIX:-313}" ZKC_PROJECT="${ZKC_PROJECT:-zkc-testnet}"
  export ZKC_STATE="${ZKC_STATE:-$INFRA_DIR/.state}"
elif [[ $mode == auto ]]; then
  if docker_ok; then mode=docker; else mode=process; fi
fi
if [[ $attach == 0 ]]; then
  zkc_ensure_bins
  if [[ $mode == docker ]]; then
    "$INFRA_DIR/docker/build.sh"
    if [[ "${ZKC_KEEP_IMAGE:-0}" != 1 ]]; then
      trap 'docker image rm "$ZKC_IMAGE" >/dev/null 2>&1 || true' EXIT
    fi
  fi
fi
log "load mode: $mode"
python3 "$INFRA_DIR/load/load.py" --mode "$mode" "${args[@]}"
