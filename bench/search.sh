#!/usr/bin/env bash
# Search benchmark: /v1/search next to the database engine's own time for the
# same query, on SQLite and on a throwaway PostgreSQL cluster.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
cargo build --release -q -p scriptorium -p scriptorium-bench
exec target/release/bench-search "$@"
