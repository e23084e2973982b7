#!/usr/bin/env bash
# The compose stack's figures, one table: the image's size, each container's
# cold start to ready (stopped, then started: the time until its own
# readiness check passes, asked from inside it every 0.1 s), and its memory
# at rest (docker stats, 20 s after the last start). Runs the stack of
# deploy/docker/stack.sh on its own project and removes all it made.
#
#   bench/containers.sh            the image from source (the Dockerfile's
#                                  build stage), or the scriptorium:0.1.0
#                                  already here with STACK_USE_IMAGE=1
#   bench/containers.sh BINARY     the runtime stage around BINARY
set -euo pipefail
cd "$(dirname "$0")/.."
export STACK_PROJECT=scriptorium-bench
GATEWAY_PUBLISHED_PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export GATEWAY_PUBLISHED_PORT
trap 'deploy/docker/stack.sh down >/dev/null 2>&1 || true' EXIT
deploy/docker/stack.sh up "$@" >&2

ready() {
  local c=$1
  case "$c" in
    *-postgres-*) docker exec "$c" pg_isready -q -U scriptorium -d scriptorium ;;
    *-gateway-*) docker exec "$c" wget -q -O /dev/null http://127.0.0.1:8080/.well-known/jwks.json ;;
    *) docker exec "$c" scriptorium probe --path /readyz ;;
  esac
}

now() { date +%s.%N; }

declare -A cold
containers=()
for service in postgres auth console ocr llm documents gateway; do
  c=$STACK_PROJECT-$service-1
  containers+=("$c")
  docker stop -t 10 "$c" >/dev/null
  start=$(now)
  docker start "$c" >/dev/null
  deadline=$(( $(date +%s) + 300 ))
  until ready "$c" >/dev/null 2>&1; do
    [ "$(date +%s)" -lt "$deadline" ] || { echo "$c: not ready within 300 s" >&2; exit 1; }
    sleep 0.1
  done
  cold[$c]=$(python3 -c "print(f'{$(now) - $start:.1f}')")
done
sleep 20
image_bytes=$(docker image inspect -f '{{.Size}}' scriptorium:0.1.0)
echo "image scriptorium:0.1.0: $(python3 -c "print(f'{$image_bytes / 1e6:.0f} MB')")"
echo
echo "| container | target | cold start to ready (s) | memory at rest |"
echo "|---|---|---|---|"
for c in "${containers[@]}"; do
  target=$(docker inspect -f '{{join .Config.Cmd " "}}' "$c" | sed -n 's/.*--target //p')
  memory=$(docker stats --no-stream --format '{{.MemUsage}}' "$c" | cut -d/ -f1)
  echo "| ${c#"$STACK_PROJECT"-} | ${target:--} | ${cold[$c]} | $memory |"
done
