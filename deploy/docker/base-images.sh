#!/usr/bin/env bash
# The images the stack is built from, made on this machine when no registry
# can be reached (each one is first looked for locally, then pulled, and made
# only when neither works). Nothing here pulls anything else.
#
#   debian:<release>-slim   the Debian release the Dockerfile names
#                           (bookworm), and trixie for PostgreSQL 17, from
#                           Debian's packages by mmdebstrap (minbase), then
#                           `docker import`.
#   scriptorium-standin/postgres:17-trixie
#                           PostgreSQL 17 from Debian trixie's packages with
#                           the official image's interface (standins/postgres).
#   scriptorium-standin/nginx:<release>
#                           Debian's nginx with the official image's template
#                           rendering (standins/nginx).
#   rust:1.95-slim-<release> (with --rust only: the image's own build stage)
#                           this machine's Rust toolchain on the Debian base
#                           (standins/rust).
#
# deploy/docker/compose.standins.yaml swaps the two stand-ins in for the
# official images. Usage: deploy/docker/base-images.sh [--rust] [--remove]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
release=$(sed -n 's/^ARG DEBIAN_RELEASE=//p' "$here/Dockerfile")
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
security=${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
pg_release=trixie
debian=debian:$release-slim
postgres=scriptorium-standin/postgres:17-$pg_release
nginx=scriptorium-standin/nginx:$release
rust=rust:1.95-slim-$release

have() { docker image inspect "$1" >/dev/null 2>&1; }

# A pull that cannot reach a registry fails within seconds; bounded anyway.
pulled() { timeout 60 docker pull -q "$1" >/dev/null 2>&1; }

make_debian() {
  local release=$1
  echo "making debian:$release-slim from Debian's packages (mmdebstrap)" >&2
  # As the official slim image: no manuals, no documentation, no locales
  # but English; apt's lists removed (mmdebstrap's default clean-up).
  mmdebstrap --variant=minbase --include=ca-certificates \
    --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/doc/*' \
    --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    --dpkgopt='path-exclude=/usr/share/locale/*' \
    --dpkgopt='path-include=/usr/share/locale/locale.alias' \
    "$release" - \
    "deb $mirror $release main" \
    "deb $mirror $release-updates main" \
    "deb $security $release-security main" |
    docker import --change 'CMD ["bash"]' --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' - "debian:$release-slim" >/dev/null
}

build_standin() {
  local tag=$1 dir=$2 release=$3
  echo "building the stand-in $tag" >&2
  docker buildx build -q --build-arg "DEBIAN_RELEASE=$release" -t "$tag" "$dir" >/dev/null
}

base() {
  have "debian:$1-slim" || pulled "debian:$1-slim" || make_debian "$1"
}

if [ "${1:-}" = --remove ]; then
  docker image rm -f "$postgres" "$nginx" "$rust" "$debian" "debian:$pg_release-slim" >/dev/null 2>&1 || true
  exit 0
fi

base "$release"
have "$postgres" || { base "$pg_release" && build_standin "$postgres" "$here/standins/postgres" "$pg_release"; }
have "$nginx" || build_standin "$nginx" "$here/standins/nginx" "$release"
if [ "${1:-}" = --rust ] && ! have "$rust" && ! pulled "$rust"; then
  # The toolchain travels as the build context (rustc, cargo, the standard
  # library for this target), linked where the official image keeps it.
  sysroot=$(rustc --print sysroot)
  ctx=$(mktemp -d)
  trap 'rm -rf "$ctx"' EXIT
  cp "$here/standins/rust/Dockerfile" "$ctx/"
  mkdir "$ctx/toolchain"
  cp -a "$sysroot/bin" "$sysroot/lib" "$ctx/toolchain/"
  build_standin "$rust" "$ctx" "$release"
fi
