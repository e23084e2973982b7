#!/usr/bin/env bash
# Library benchmark: the documents service, /v1/ocr and OCRmyPDF on the same
# scanned pages. OCRmyPDF comes from PyPI into target/bench-venv, with
# Debian's Tesseract and Ghostscript.
set -euo pipefail
cd "$(dirname "$0")/.."
EXTRA_APT_PACKAGES="tesseract-ocr ghostscript" source scripts/deps.sh
if [ ! -x target/bench-venv/bin/ocrmypdf ]; then
  python3 -m venv target/bench-venv
  target/bench-venv/bin/pip install -q "ocrmypdf==${OCRMYPDF_VERSION:-17.13.0}"
fi
cargo build --release -q -p scriptorium -p scriptorium-bench
exec target/release/bench-library --ocrmypdf target/bench-venv/bin/ocrmypdf "$@"
