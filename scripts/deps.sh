#!/usr/bin/env bash
# Installs what a fresh Debian machine lacks to build, run and test
# Scriptorium. Sourced by run.sh and test.sh; safe to run again.
set -euo pipefail

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

# Build: a C toolchain (ring, SQLite), pkg-config, CMake (llama.cpp).
# OCR: Tesseract 5 and Leptonica with English, French and orientation data;
# clang for the bindings. Tests: PostgreSQL server binaries (a throwaway
# cluster is made with initdb), DejaVu fonts to render test pages.
# PDF: PDFium from the pypdfium2 wheel on PyPI (pip only downloads it).
# Console tests: Debian's Chromium and ChromeDriver. Gateway test: nginx.
APT_PACKAGES=(build-essential cmake pkg-config ca-certificates curl postgresql
  libtesseract-dev libleptonica-dev libclang-dev clang tesseract-ocr-eng tesseract-ocr-fra tesseract-ocr-osd
  fonts-dejavu-core python3 python3-pip chromium chromium-driver nginx)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null 2>&1; then
  if [ -x "$HOME/.cargo/bin/cargo" ]; then
    export PATH="$HOME/.cargo/bin:$PATH"
  else
    echo "Rust is required (cargo 1.85 or newer, e.g. from rustup)." >&2
    exit 1
  fi
fi

# PDFium for PDF input: the libpdfium.so inside the pypdfium2 wheel, checked
# against its sha256, unpacked into vendor/pdfium/.
PDFIUM_WHEEL_VERSION="5.15.2"
PDFIUM_WHEEL_SHA256="dc31aea5b0fb9fefc9b537a65f4113980b2c40798445736a7e6565bc85161e37"
if [ ! -f vendor/pdfium/libpdfium.so ]; then
  tmp=$(mktemp -d)
  python3 -m pip download -q --no-deps --only-binary=:all: \
    --platform manylinux_2_17_x86_64 --python-version 3.11 \
    "pypdfium2==${PDFIUM_WHEEL_VERSION}" -d "$tmp"
  wheel=$(ls "$tmp"/pypdfium2-*.whl)
  echo "${PDFIUM_WHEEL_SHA256}  ${wheel}" | sha256sum -c --quiet -
  mkdir -p vendor/pdfium
  python3 - "$wheel" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    with open("vendor/pdfium/libpdfium.so", "wb") as out:
        out.write(z.read("pypdfium2_raw/libpdfium.so"))
PY
  rm -rf "$tmp"
fi
