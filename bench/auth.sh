#!/usr/bin/env bash
# Auth benchmark: build in release mode, start the server, print the table.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p scriptorium -p scriptorium-bench
exec target/release/bench-auth "$@"
