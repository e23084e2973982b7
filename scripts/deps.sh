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
# OCR input tests: scans made with ImageMagick and libtiff's tools, photos
# tagged with exiftool, fax PDFs made with img2pdf; searchable PDFs read back
# with poppler-utils (pdftotext, pdfinfo).
APT_PACKAGES=(build-essential cmake pkg-config ca-certificates curl postgresql
  libtesseract-dev libleptonica-dev libclang-dev clang tesseract-ocr-eng tesseract-ocr-fra tesseract-ocr-osd
  fonts-dejavu-core python3 python3-pip python3-venv chromium chromium-driver nginx
  imagemagick libtiff-tools libimage-exiftool-perl img2pdf poppler-utils)
# Callers add their own (e.g. bench/ocr.sh: the tesseract command line).
read -r -a extra <<< "${EXTRA_APT_PACKAGES:-}"
APT_PACKAGES+=("${extra[@]}")

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

# PDFium for PDF input (scripts/pdfium.sh).
source "$(dirname "${BASH_SOURCE[0]}")/pdfium.sh"
fetch_pdfium
