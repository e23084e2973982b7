#!/usr/bin/env bash
# Asking benchmark: /v1/ask over generated manuals with facts on known pages,
# on the default model and the test model: recall@5, citations, answer accuracy, time to first
# token.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
source scripts/models.sh
fetch_model qwen2.5-coder-0.5b
fetch_model smollm2-135m
cargo build --release -q -p scriptorium -p scriptorium-bench
exec target/release/bench-ask "$@"
