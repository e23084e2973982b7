#!/usr/bin/env bash
# The compose stack on this machine, from the repository's compose file and
# the stand-ins' override, with no registry. From the repository root:
#
#   deploy/docker/stack.sh image [BINARY]  the scriptorium image: from source
#       (the Dockerfile's build stage), or with the runtime stage as shipped
#       around BINARY, a release or test build of `scriptorium` made on this
#       machine (Debian bookworm, as the image).
#   deploy/docker/stack.sh up [BINARY]     base images, the image, secrets
#       (made once, kept in deploy/docker/secrets), then `compose up` until
#       every healthcheck is healthy. The gateway is published on
#       127.0.0.1:$GATEWAY_PUBLISHED_PORT (8080).
#   deploy/docker/stack.sh down            containers, networks and volumes
#       removed, then the images and their build cache (KEEP_IMAGES=1 keeps them).
#   deploy/docker/stack.sh compose ARGS    any compose command on the stack.
#
# STACK_PROJECT names the compose project (scriptorium); STACK_USE_IMAGE=1
# takes the scriptorium image already on this machine instead of building.
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/containers.sh
install_container_tools
project=${STACK_PROJECT:-scriptorium}
image=scriptorium:0.1.0
binaries=scriptorium-binaries:local
model=models/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf

stack() {
  docker compose -p "$project" -f deploy/docker/compose.yaml -f deploy/docker/compose.standins.yaml "$@"
}

build_image() {
  local binary=${1:-}
  if [ -n "${STACK_USE_IMAGE:-}" ] && docker image inspect "$image" >/dev/null 2>&1; then
    return
  fi
  if [ -z "$binary" ]; then
    deploy/docker/base-images.sh --rust
    # The build downloads crates, PDFium and the model, trusting what this
    # machine trusts (a build secret: in no layer of the image).
    local ca=/etc/ssl/certs/ca-certificates.crt secret=()
    [ -f "$ca" ] && secret=(--secret "id=ca-certificates,src=$ca")
    docker buildx build "${secret[@]}" -f deploy/docker/Dockerfile -t "$image" .
    return
  fi
  source scripts/models.sh
  fetch_model qwen2.5-coder-0.5b
  source scripts/pdfium.sh
  fetch_pdfium
  local ctx
  ctx=$(mktemp -d)
  mkdir -p "$ctx/out/models" "$ctx/out/pdfium"
  objcopy --strip-debug "$binary" "$ctx/out/scriptorium"
  ln "$model" "$ctx/out/models/" 2>/dev/null || cp "$model" "$ctx/out/models/"
  cp vendor/pdfium/libpdfium.so "$ctx/out/pdfium/"
  printf 'FROM scratch\nCOPY out/ /out/\n' > "$ctx/Dockerfile"
  docker buildx build -q -t "$binaries" "$ctx" >/dev/null
  rm -rf "$ctx"
  docker buildx build -q --build-arg "BINARIES=$binaries" -f deploy/docker/Dockerfile -t "$image" . >/dev/null
  docker image rm "$binaries" >/dev/null
}

secrets() {
  local dir=deploy/docker/secrets
  mkdir -p "$dir"
  [ -s "$dir/postgres-password" ] || openssl rand -hex 24 > "$dir/postgres-password"
  [ -s "$dir/console-session-key" ] || openssl rand -hex 32 > "$dir/console-session-key"
}

case "${1:-}" in
  image)
    deploy/docker/base-images.sh
    build_image "${2:-}"
    ;;
  up)
    # What an interrupted run left is removed first.
    stack down --volumes --remove-orphans >/dev/null 2>&1 || true
    deploy/docker/base-images.sh
    build_image "${2:-}"
    secrets
    stack up -d --pull never --no-build --wait --wait-timeout 300
    ;;
  down)
    stack down --volumes --remove-orphans --timeout 10
    if [ -z "${KEEP_IMAGES:-}" ]; then
      docker image rm -f "$image" >/dev/null 2>&1 || true
      deploy/docker/base-images.sh --remove
      # The build cache those images leave (a from-source build's cargo
      # cache alone is many GB): what no image uses any more.
      docker builder prune -f >/dev/null 2>&1 || true
    fi
    ;;
  compose)
    shift
    stack "$@"
    ;;
  *)
    sed -n '2,18p' "$0" >&2
    exit 2
    ;;
esac
