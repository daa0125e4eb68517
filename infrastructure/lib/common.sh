# Shared by the infrastructure scripts (sourced, not run).
#
# Binaries: taken from $ZKC_BIN_DIR if set (nothing is built), else built with
# `cargo build --release -p zksync_consensus_tools --bins` into target/release (a no-op when
# they are up to date). ZKC_PROFILE=debug uses the dev profile (target/debug: what the test
# suite already built) instead. Set ZKC_NO_BUILD=1 to use the target directory as it is.

INFRA_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
REPO_DIR="$(cd "$INFRA_DIR/.." && pwd)"
# Names (image, Compose project, ports, subnet) are set by each entry script before it sources
# this file: testnet.sh, chaos/run.sh and load/load.sh use different ones, so that they never
# touch each other's containers.

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# The binaries every mode needs.
ZKC_BINS=(node healthcheck dbcheck localnet_config)

# Sets ZKC_BIN_DIR to a directory holding the release binaries, building them if needed.
zkc_ensure_bins() {
  if [[ -z "${ZKC_BIN_DIR:-}" ]]; then
    local profile=(--release) dir=release
    if [[ "${ZKC_PROFILE:-release}" == debug ]]; then
      profile=() dir=debug
    fi
    ZKC_BIN_DIR="${CARGO_TARGET_DIR:-$REPO_DIR/target}/$dir"
    if [[ "${ZKC_NO_BUILD:-0}" != 1 ]]; then
      log "building the binaries (cargo build ${profile[*]} -p zksync_consensus_tools --bins)"
      (cd "$REPO_DIR" && cargo build "${profile[@]}" -p zksync_consensus_tools --bins) \
        || die "cargo build failed"
    fi
  fi
  local b
  for b in "${ZKC_BINS[@]}"; do
    [[ -x "$ZKC_BIN_DIR/$b" ]] || die "$ZKC_BIN_DIR/$b is missing (build the tools, or set ZKC_BIN_DIR)"
  done
  ZKC_BIN_DIR="$(cd "$ZKC_BIN_DIR" && pwd)"
  export ZKC_BIN_DIR
}

# Whether a Docker engine answers.
docker_ok() { command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; }

# docker-compose (v1) or `docker compose` (v2).
compose() {
  if command -v docker-compose >/dev/null 2>&1; then
    docker-compose "$@"
  else
    docker compose "$@"
  fi
}
