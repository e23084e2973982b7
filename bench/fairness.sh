#!/usr/bin/env bash
# Fairness benchmark: a second user's latency while another user sends the
# largest accepted JSON schema, or holds the most streams one user may, next
# to an idle server; prints a table. Extra arguments go to bench-fairness
# (e.g. --model models/smollm2-135m-instruct-q4_1.gguf --requests 50).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
source scripts/models.sh
fetch_model qwen2.5-coder-0.5b
cargo build --release -q -p scriptorium -p scriptorium-bench
exec target/release/bench-fairness "$@"
