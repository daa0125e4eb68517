#!/usr/bin/env bash
# The short chaos suite for CI (about 5 minutes): kill and restart a validator, cut one
# validator off the network and heal, rolling restart of every node. In containers when
# `docker info` answers, else as processes (partition skipped without root); says which.
# Exit code 1 if a scenario failed.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"
if docker_ok; then
  mode=docker
  echo "chaos suite: mode docker (a Docker engine answers)"
else
  mode=process
  echo "chaos suite: mode process (no Docker engine; processes on this machine)"
fi
zkc_ensure_bins
# The checkers first: a scenario can only pass if healthcheck and dbcheck would catch a failure.
"$INFRA_DIR/chaos/run.sh" --mode process --selftest
exec "$INFRA_DIR/chaos/run.sh" --mode "$mode" --suite ci --runs 1 "$@"
