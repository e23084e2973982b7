#!/usr/bin/env bash
# OCR benchmark: the service against the tesseract command line on the same pages.
set -euo pipefail
cd "$(dirname "$0")/.."
# The reference is Debian's tesseract command line.
EXTRA_APT_PACKAGES="tesseract-ocr" source scripts/deps.sh
cargo build --release -q -p scriptorium -p scriptorium-bench
exec target/release/bench-ocr "$@"
