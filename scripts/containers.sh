# The container tools, from Debian's packages, nothing pulled from a
# registry: mmdebstrap (makes the Debian base image from packages) on the
# host; Docker Compose v2 (the compose file uses the Compose Specification,
# which the v1 tool of older Debian releases cannot read) and buildx (the
# docker client builds with BuildKit only through it), downloaded with apt
# from Debian trixie, signatures checked by apt, unpacked under
# target/container-tools as the client's plugins (DOCKER_CONFIG points
# there) without touching the system's packages. Sourced by test.sh and
# deploy/docker/stack.sh.

CONTAINER_TOOLS=${CONTAINER_TOOLS:-$PWD/target/container-tools}
CONTAINER_TOOLS_DEBS=(docker-compose=2.26.1-4 docker-buildx=0.13.1+ds1-3)

install_container_tools() {
  if ! command -v mmdebstrap >/dev/null; then
    echo "installing mmdebstrap from Debian's packages" >&2
    apt-get install -y -q --no-install-recommends mmdebstrap >&2
  fi
  export DOCKER_CONFIG="$CONTAINER_TOOLS/docker"
  local stamp="$CONTAINER_TOOLS/.installed" apt="$CONTAINER_TOOLS/apt" deb
  if [ "$(cat "$stamp" 2>/dev/null)" = "${CONTAINER_TOOLS_DEBS[*]}" ]; then
    return 0
  fi
  echo "installing ${CONTAINER_TOOLS_DEBS[*]} from Debian trixie" >&2
  rm -rf "$CONTAINER_TOOLS"
  mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial" "$apt/deb"
  echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian trixie main" \
    > "$apt/sources.list"
  local opts=(-o "Dir::Etc::SourceList=$apt/sources.list" -o "Dir::Etc::SourceParts=/nonexistent"
    -o "Dir::State::Lists=$apt/lists" -o "Dir::Cache=$apt/cache" -q)
  apt-get "${opts[@]}" update >&2
  (cd "$apt/deb" && apt-get "${opts[@]}" download "${CONTAINER_TOOLS_DEBS[@]}" >&2)
  for deb in "$apt/deb"/*.deb; do
    dpkg-deb -x "$deb" "$CONTAINER_TOOLS/root"
  done
  mkdir -p "$DOCKER_CONFIG/cli-plugins"
  ln -sf "$CONTAINER_TOOLS/root/usr/libexec/docker/cli-plugins/docker-buildx" "$DOCKER_CONFIG/cli-plugins/"
  ln -sf "$CONTAINER_TOOLS/root/usr/bin/docker-compose" "$DOCKER_CONFIG/cli-plugins/"
  rm -rf "$apt"
  echo "${CONTAINER_TOOLS_DEBS[*]}" > "$stamp"
}

