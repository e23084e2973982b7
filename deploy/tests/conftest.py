"""Shared fixtures of the deployment checks: tool paths and the rendered
kustomize combinations (each overlay alone and with each Istio component)."""

import os
import secrets
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
TOOLS = Path(os.environ.get("DEPLOY_TOOLS", REPO / "target" / "deploy-tools"))
CRDS = Path(os.environ.get("DEPLOY_CRDS", REPO.parent / "shared" / "crds"))
KUBERNETES_VERSION = "1.34.0"

OVERLAYS = ["minikube", "production"]
COMPONENTS = [None, "istio", "istio-classic"]
COMBINATIONS = [(o, c) for o in OVERLAYS for c in COMPONENTS]


def tool(name: str, env: str = "venv") -> str:
    path = TOOLS / env / "bin" / name
    assert path.exists(), f"{path} missing: run scripts/deploy-tools.sh's install_deploy_tools"
    return str(path)


def combo_id(combo) -> str:
    overlay, component = combo
    return overlay if component is None else f"{overlay}+{component}"


@pytest.fixture(scope="session")
def deploy_copy(tmp_path_factory) -> Path:
    """deploy/ copied aside, with the minikube overlay's untracked env files
    made up (random secrets), so that rendering touches no tracked file."""
    root = tmp_path_factory.mktemp("deploy") / "deploy"
    shutil.copytree(DEPLOY, root, ignore=shutil.ignore_patterns("secrets", ".render", "tests"))
    env = root / "k8s" / "overlays" / "minikube" / "secrets" / "postgres.env"
    env.parent.mkdir(parents=True)
    env.write_text(
        "postgresql-user=scriptorium\npostgresql-db=scriptorium\n"
        f"postgresql-password={secrets.token_hex(16)}\n"
    )
    (env.parent / "console.env").write_text(f"session-key={secrets.token_hex(32)}\n")
    return root


@pytest.fixture(scope="session")
def rendered(deploy_copy) -> dict:
    """{(overlay, component): [objects]} rendered by kubectl kustomize."""
    out = {}
    for overlay, component in COMBINATIONS:
        target = deploy_copy / "k8s" / "overlays" / overlay
        if component is not None:
            target = deploy_copy / "k8s" / "combinations" / f"{overlay}-{component}"
            target.mkdir(parents=True)
            (target / "kustomization.yaml").write_text(
                "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
                f"resources: [../../overlays/{overlay}]\n"
                f"components: [../../components/{component}]\n"
            )
        result = subprocess.run(
            [tool("kubectl"), "kustomize", str(target)], capture_output=True, text=True
        )
        assert result.returncode == 0, f"{overlay}+{component}: {result.stderr}"
        docs = [d for d in yaml.safe_load_all(result.stdout) if d]
        assert docs, f"{overlay}+{component} rendered nothing"
        out[(overlay, component)] = docs
    return out
