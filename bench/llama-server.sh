#!/usr/bin/env bash
# Builds llama.cpp's own `llama-server`, the reference for bench/llm.sh, and
# its batched benchmark `llama-batched-bench` (the engine alone, no server)
# into target/bench/. The llama-cpp-sys-2 crate vendors llama.cpp
# without tools/server, so the server comes from the complete llama.cpp tree
# inside the llama-cpp-python source distribution on PyPI (sha256-checked),
# built as llama.cpp builds it by default (GGML_NATIVE, OpenMP) but with
# CMake's RelWithDebInfo (-O2), the build type our own engine is built with
# (Cargo.toml explains why: Release crashed in ggml's AMX kernels here), so
# the comparison holds the engine and compiler flags equal.
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=0.3.36
SHA256=832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e
OUT=target/bench
if [ -x "$OUT/llama-server" ] && [ -x "$OUT/llama-batched-bench" ]; then exit 0; fi
mkdir -p "$OUT"
if [ ! -d "$OUT/llama.cpp" ]; then
  tmp=$(mktemp -d)
  python3 -m pip download -q --no-deps --no-binary :all: "llama-cpp-python==$VERSION" -d "$tmp"
  echo "$SHA256  $tmp/llama_cpp_python-$VERSION.tar.gz" | sha256sum -c --quiet -
  tar xzf "$tmp/llama_cpp_python-$VERSION.tar.gz" -C "$tmp"
  mv "$tmp/llama_cpp_python-$VERSION/vendor/llama.cpp" "$OUT/llama.cpp"
  rm -rf "$tmp"
fi
cmake -S "$OUT/llama.cpp" -B "$OUT/llama.cpp/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DGGML_NATIVE=ON -DLLAMA_BUILD_SERVER=ON -DLLAMA_BUILD_TESTS=OFF \
  -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF >/dev/null
cmake --build "$OUT/llama.cpp/build" --target llama-server llama-batched-bench -j "$(nproc)" >/dev/null
cp "$OUT/llama.cpp/build/bin/llama-server" "$OUT/llama.cpp/build/bin/llama-batched-bench" "$OUT/"
echo "built $OUT/llama-server and $OUT/llama-batched-bench" >&2
