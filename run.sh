#!/usr/bin/env bash
# Set up and run the whole platform on this machine: every service in one
# process on http://127.0.0.1:8080, SQLite in ./data.
set -euo pipefail
cd "$(dirname "$0")"
source scripts/deps.sh
source scripts/models.sh
fetch_model qwen2.5-coder-0.5b
cargo build --release -p scriptorium
exec target/release/scriptorium serve "$@"
