#!/usr/bin/env bash
# LLM benchmark: this service against llama.cpp's llama-server on the same
# model, threads and slots; prints a table. Extra arguments go to bench-llm
# (e.g. --model models/smollm2-135m-instruct-q4_1.gguf --clients 1,4).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
source scripts/models.sh
fetch_model qwen2.5-coder-0.5b
bench/llama-server.sh
cargo build --release -q -p scriptorium -p scriptorium-bench
exec target/release/bench-llm "$@"
