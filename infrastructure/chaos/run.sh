#!/usr/bin/env bash
# Runs chaos scenarios against a fresh testnet per scenario (6 validators, 2 full nodes).
#
#   infrastructure/chaos/run.sh [--mode docker|process|auto] [--suite full|ci]
#       [--scenarios a,b,..] [--runs N] [--seed S] [--results FILE] [--net auto|netns|loopback]
#
# --mode auto (default): containers when `docker info` answers, else processes (in network
# namespaces when root can create them, else on loopback, where partition scenarios are
# skipped). Prints a results table; exit code 1 if any scenario failed.
# `--report --results FILE` prints the table of an earlier results file.
# Scenarios: kill_restart stop_f stop_f_plus_1 isolate_validator partition_halves
#            rolling_restart fullnode_resync
# Environment: as testnet.sh (ZKC_BIN_DIR: prebuilt binaries); the container testnet is
# project zkc-chaos, image zkc-node:chaos (removed at the end unless ZKC_KEEP_IMAGE=1),
# ports 127.0.0.1:3140N / 3141N, subnet 10.231.58.0/24.
set -euo pipefail
# The chaos testnet's own names, so that it never touches one started by testnet.sh.
export ZKC_IMAGE="${ZKC_IMAGE:-zkc-node:chaos}" ZKC_PROJECT="${ZKC_PROJECT:-zkc-chaos}"
export ZKC_PORT_PREFIX="${ZKC_PORT_PREFIX:-314}" ZKC_SUBNET="${ZKC_SUBNET:-10.231.58.0/24}"
source "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"
export PYTHONDONTWRITEBYTECODE=1

mode=auto
args=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --mode) mode="$2"; shift 2 ;;
    --mode=*) mode="${1#--mode=}"; shift ;;
    --report) exec python3 "$INFRA_DIR/chaos/chaos.py" --mode process "$@" ;;
    *) args+=("$1"); shift ;;
  esac
done
if [[ $mode == auto ]]; then
  if docker_ok; then mode=docker; else mode=process; fi
fi
[[ $mode == docker || $mode == process ]] || die "--mode must be docker, process or auto"

zkc_ensure_bins
if [[ " ${args[*]:-} " == *" --selftest "* ]]; then
  # The checkers' self-test runs the binaries directly: no testnet, no image.
  exec python3 "$INFRA_DIR/chaos/chaos.py" --mode process "${args[@]}"
fi
if [[ $mode == docker ]]; then
  docker_ok || die "no Docker engine answers (docker info failed)"
  "$INFRA_DIR/docker/build.sh"
  if [[ "${ZKC_KEEP_IMAGE:-0}" != 1 ]]; then
    trap 'docker image rm "$ZKC_IMAGE" >/dev/null 2>&1 || true' EXIT
  fi
fi
log "chaos mode: $mode"
python3 "$INFRA_DIR/chaos/chaos.py" --mode "$mode" "${args[@]}"
