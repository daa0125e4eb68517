#!/usr/bin/env bash
# Builds the node image ($ZKC_IMAGE, default zkc-node:local) from nothing: the release binaries
# (node, healthcheck, dbcheck), stripped, plus the shared libraries `ldd` lists and the dynamic
# loader, copied into a temporary build context and added to a `FROM scratch` image. No base
# image and no registry are needed. Prints the image size.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"
ZKC_IMAGE="${ZKC_IMAGE:-zkc-node:local}"

docker_ok || die "no Docker engine answers (docker info failed)"
zkc_ensure_bins

ctx="$(mktemp -d)"
trap 'rm -rf "$ctx"' EXIT
root="$ctx/rootfs"
mkdir -p "$root/usr/local/bin" "$root/etc" "$ctx/data"

copy_lib() { # copy_lib <absolute path>: the file (symlinks resolved) at the same path
  local src="$1"
  [[ -e "$root$src" ]] && return 0
  mkdir -p "$root$(dirname "$src")"
  cp -L "$src" "$root$src"
}

for b in node healthcheck dbcheck; do
  cp "$ZKC_BIN_DIR/$b" "$root/usr/local/bin/$b"
  if command -v strip >/dev/null 2>&1; then
    strip --strip-unneeded "$root/usr/local/bin/$b"
  fi
  # Lines: "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x..)" and
  # "/lib64/ld-linux-x86-64.so.2 (0x..)"; linux-vdso has no file.
  while read -r lib; do
    copy_lib "$lib"
  done < <(ldd "$ZKC_BIN_DIR/$b" | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}')
done

# A user for the numeric uid (for tools that print names), and name resolution through files
# then DNS (glibc >= 2.34 has both built into libc: no NSS modules to copy).
printf 'root:x:0:0:root:/:/nonexistent\nzkc:x:10001:10001:zkc node:/data:/nonexistent\n' >"$root/etc/passwd"
printf 'root:x:0:\nzkc:x:10001:\n' >"$root/etc/group"
printf 'hosts: files dns\n' >"$root/etc/nsswitch.conf"
cp "$INFRA_DIR/docker/Dockerfile" "$ctx/Dockerfile"

log "building image $ZKC_IMAGE (FROM scratch)"
# An image already under this name is replaced: removed below once the tag has moved, so that
# rebuilding leaves no dangling image behind.
old_id="$(docker image inspect -f '{{.Id}}' "$ZKC_IMAGE" 2>/dev/null || true)"
# The classic builder: it needs no buildx plugin and the image has no build stages.
if ! out="$(DOCKER_BUILDKIT=0 docker build --quiet -t "$ZKC_IMAGE" \
  --label "org.opencontainers.image.title=zkc-node" "$ctx" 2>&1)"; then
  printf '%s\n' "$out" >&2
  die "docker build failed"
fi
new_id="$(docker image inspect -f '{{.Id}}' "$ZKC_IMAGE")"
if [[ -n "$old_id" && "$old_id" != "$new_id" ]]; then
  docker image rm "$old_id" >/dev/null 2>&1 || true
fi
size="$(docker image inspect -f '{{.Size}}' "$ZKC_IMAGE")"
log "image $ZKC_IMAGE: $((size / 1024)) KiB ($(du -sh "$root" | cut -f1) of files)"
