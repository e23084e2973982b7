"""The rendered Kubernetes manifests: valid for the stated Kubernetes
version, custom resources valid against the CRDs in ../shared/crds with
unknown fields rejected, and the project's own rules."""

import copy
import json
import re

import jsonschema
import kubernetes_validate
import pytest
import yaml

from test_images_and_iac import load_hcl
from conftest import (
    COMBINATIONS, CRDS, DEPLOY, KUBERNETES_VERSION, combo_id,
)

WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "Job"}
PROBES = ("startupProbe", "readinessProbe", "livenessProbe")


def close_schema(schema):
    """Make every object schema that lists properties reject other fields,
    as the API server's strict field validation does."""
    if isinstance(schema, dict):
        if (
            "properties" in schema
            and not schema.get("x-kubernetes-preserve-unknown-fields")
            and "additionalProperties" not in schema
        ):
            schema["additionalProperties"] = False
        for value in schema.values():
            close_schema(value)
    elif isinstance(schema, list):
        for value in schema:
            close_schema(value)
    return schema


@pytest.fixture(scope="session")
def crd_schemas():
    """{(group/version, kind): closed openAPIV3Schema}"""
    schemas = {}
    files = sorted(CRDS.glob("*.yaml"))
    assert files, f"no CRD files in {CRDS}"
    for path in files:
        for crd in yaml.safe_load_all(path.read_text()):
            if not crd or crd.get("kind") != "CustomResourceDefinition":
                continue
            group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
            for version in crd["spec"]["versions"]:
                if not version.get("served", True):
                    continue
                schema = copy.deepcopy(version["schema"]["openAPIV3Schema"])
                # The API server adds these to every kind; Istio's schemas
                # leave them out.
                root = schema.setdefault("properties", {})
                root.setdefault("apiVersion", {"type": "string"})
                root.setdefault("kind", {"type": "string"})
                root.setdefault("metadata", {"type": "object"})
                schemas[(f"{group}/{version['name']}", kind)] = close_schema(schema)
    return schemas


def pod_specs(docs):
    for doc in docs:
        if doc["kind"] in WORKLOAD_KINDS:
            yield doc, doc["spec"]["template"]["spec"]


@pytest.mark.parametrize("combo", COMBINATIONS, ids=combo_id)
def test_every_object_is_valid(combo, rendered, crd_schemas):
    failures = []
    for doc in rendered[combo]:
        name = f"{doc['kind']}/{doc['metadata']['name']}"
        key = (doc["apiVersion"], doc["kind"])
        if key in crd_schemas:
            errors = jsonschema.Draft7Validator(crd_schemas[key]).iter_errors(doc)
            failures += [f"{name}: {'.'.join(map(str, e.path))}: {e.message}" for e in errors]
            continue
        try:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.SchemaNotFoundError:
            failures.append(f"{name}: unknown kind {doc['apiVersion']} {doc['kind']}")
        except kubernetes_validate.ValidationError as e:
            failures.append(f"{name}: {'.'.join(map(str, e.path))}: {e.message}")
    assert not failures, "\n".join(failures)


def test_a_misspelt_field_is_caught(rendered, crd_schemas):
    """The validators above reject unknown fields: core and custom kinds."""
    docs = rendered[("minikube", "istio")]
    deployment = copy.deepcopy(next(d for d in docs if d["kind"] == "Deployment"))
    deployment["spec"]["replica"] = 2
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)
    route = copy.deepcopy(next(d for d in docs if d["kind"] == "HTTPRoute"))
    route["spec"]["rules"][0]["backendRef"] = []
    schema = crd_schemas[(route["apiVersion"], "HTTPRoute")]
    assert list(jsonschema.Draft7Validator(schema).iter_errors(route))


@pytest.mark.parametrize("combo", COMBINATIONS, ids=combo_id)
def test_istio_policies_pick_one_target(combo, rendered):
    """The CRDs' CEL rule: `selector` or `targetRef(s)`, never both."""
    for doc in rendered[combo]:
        if doc["apiVersion"].startswith(("security.istio.io", "telemetry.istio.io")):
            spec = doc.get("spec", {})
            chosen = [k for k in ("selector", "targetRef", "targetRefs") if k in spec]
            assert len(chosen) <= 1, f"{doc['metadata']['name']}: {chosen}"


@pytest.mark.parametrize("combo", COMBINATIONS, ids=combo_id)
def test_every_container_is_locked_down(combo, rendered):
    failures = []
    for doc, spec in pod_specs(rendered[combo]):
        pod_sc = spec.get("securityContext", {})
        if spec.get("automountServiceAccountToken") is not False:
            failures.append(f"{doc['metadata']['name']}: service account token mounted")
        for c in spec.get("initContainers", []) + spec["containers"]:
            where = f"{doc['metadata']['name']}/{c['name']}"
            sc = c.get("securityContext", {})
            for probe in PROBES:
                if probe not in c:
                    failures.append(f"{where}: no {probe}")
            for kind in ("requests", "limits"):
                for resource in ("cpu", "memory"):
                    if resource not in c.get("resources", {}).get(kind, {}):
                        failures.append(f"{where}: no {kind}.{resource}")
            if not (sc.get("runAsNonRoot") or pod_sc.get("runAsNonRoot")):
                failures.append(f"{where}: may run as root")
            uid = sc.get("runAsUser", pod_sc.get("runAsUser"))
            if not isinstance(uid, int) or uid == 0:
                failures.append(f"{where}: no numeric non-root runAsUser")
            if sc.get("readOnlyRootFilesystem") is not True:
                failures.append(f"{where}: root filesystem writable")
            if sc.get("allowPrivilegeEscalation") is not False:
                failures.append(f"{where}: privilege escalation allowed")
            if sc.get("capabilities", {}).get("drop") != ["ALL"]:
                failures.append(f"{where}: capabilities not all dropped")
            seccomp = sc.get("seccompProfile", pod_sc.get("seccompProfile", {}))
            if seccomp.get("type") != "RuntimeDefault":
                failures.append(f"{where}: no RuntimeDefault seccomp profile")
            if ":" not in c["image"] or c["image"].endswith(":latest"):
                failures.append(f"{where}: image {c['image']} not pinned to a tag")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("combo", COMBINATIONS, ids=combo_id)
def test_every_service_port_is_named(combo, rendered):
    for doc in rendered[combo]:
        if doc["kind"] == "Service":
            for port in doc["spec"]["ports"]:
                assert port.get("name"), f"Service/{doc['metadata']['name']}: unnamed port"


def terraform_secret_keys(name):
    tf = load_hcl(DEPLOY / "terraform" / "main.tf")
    for block in tf.get("resource", []):
        for body in block.get("kubernetes_secret_v1", {}).values():
            if f'"{name}"' in json.dumps(body["metadata"]):
                return set(json.loads(json.dumps(body["data"])).keys())
    raise AssertionError(f"terraform creates no {name}")


def secret_keys_read(docs):
    """{secret name: keys the workloads read}, from secretKeyRef and from
    `*_FILE` paths inside mounted Secret volumes."""
    read = {}
    for _, spec in pod_specs(docs):
        volumes = {
            v["name"]: v["secret"]["secretName"] for v in spec.get("volumes", []) if "secret" in v
        }
        for c in spec["containers"]:
            mounts = {
                m["mountPath"].rstrip("/") + "/": volumes[m["name"]]
                for m in c.get("volumeMounts", [])
                if m["name"] in volumes
            }
            for env in c.get("env", []):
                ref = env.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    read.setdefault(ref["name"], set()).add(ref["key"])
                for prefix, secret in mounts.items():
                    if env.get("value", "").startswith(prefix):
                        read.setdefault(secret, set()).add(env["value"][len(prefix):])
    return read


@pytest.mark.parametrize("combo", COMBINATIONS, ids=combo_id)
def test_secret_keys_match_what_the_deployments_read(combo, rendered):
    docs = rendered[combo]
    read = secret_keys_read(docs)
    assert read, "no workload reads a Secret"
    provided = {
        d["metadata"]["name"]: set(d.get("data", {})) | set(d.get("stringData", {}))
        for d in docs
        if d["kind"] == "Secret"
    }
    for name, keys in read.items():
        if name in provided:
            have = provided[name]
        else:
            # Made outside the overlay: by Terraform (production).
            assert name in ("postgres-secret", "console-session", "documents-s3"), name
            assert combo[0] == "production", name
            have = terraform_secret_keys(name)
        assert keys == have, f"{name}: read {sorted(keys)}, provided {sorted(have)}"
    if combo[0] == "production":
        assert not any(d["kind"] == "Secret" for d in docs), "production renders a Secret"


@pytest.mark.parametrize("combo", COMBINATIONS, ids=combo_id)
def test_the_seed_s_database_and_replicas(combo, rendered):
    docs = {(d["kind"], d["metadata"]["name"]): d for d in rendered[combo]}
    postgres = docs[("Deployment", "postgres")]["spec"]["template"]["spec"]
    c = postgres["containers"][0]
    assert c["image"].startswith("postgres:")
    env = {e["name"]: e.get("value") for e in c["env"]}
    assert env["POSTGRES_USER"] and env["POSTGRES_DB"]
    assert env["POSTGRES_PASSWORD_FILE"].endswith("/postgresql-password")
    assert "pg_isready" in c["readinessProbe"]["exec"]["command"]
    assert c["ports"][0]["containerPort"] == 5432
    mount = next(m for m in c["volumeMounts"] if m["name"] == "data")
    assert mount["mountPath"] == "/var/lib/postgresql/data"
    claim = next(v for v in postgres["volumes"] if v["name"] == "data")
    pvc = docs[("PersistentVolumeClaim", claim["persistentVolumeClaim"]["claimName"])]
    assert pvc["spec"]["resources"]["requests"]["storage"] == "10Gi"
    assert docs[("Deployment", "auth")]["spec"]["replicas"] == 2
    for name in ("ocr", "llm"):
        assert ("HorizontalPodAutoscaler", name) in docs
    for name in ("auth", "console", "ocr", "llm", "documents", "gateway", "postgres"):
        assert ("ServiceAccount", name) in docs
    # The library: its own database on the server, made by the init script.
    library = docs[("Deployment", "documents")]["spec"]["template"]["spec"]
    assert library["containers"][0]["args"][-1] == "ocr,documents"
    init = next(v for v in postgres["volumes"] if v["name"] == "init")
    script = docs[("ConfigMap", init["configMap"]["name"])]["data"]["10-documents.sql"]
    assert "CREATE DATABASE documents" in script
    config = next(d for (kind, _), d in docs.items() if kind == "ConfigMap" and "scriptorium.toml" in d.get("data", {}))
    assert 'database_name = "documents"' in config["data"]["scriptorium.toml"]
    gateway_env = docs[("Deployment", "gateway")]["spec"]["template"]["spec"]["containers"][0]["env"]
    assert {"name": "DOCUMENTS_UPSTREAM", "value": "documents:8080"} in gateway_env
    # The gateway's internal listener believes X-Forwarded-For, so only the
    # console and the library reach it, through a Service of its own, and
    # they call the APIs there.
    assert {"name": "INTERNAL_PORT", "value": "8081"} in gateway_env
    internal = docs[("Service", "gateway-internal")]["spec"]
    assert internal.get("type", "ClusterIP") == "ClusterIP"
    assert [p["port"] for p in internal["ports"]] == [8081]
    policy = docs[("NetworkPolicy", "gateway")]["spec"]
    admitted = [r for r in policy["ingress"] if {"protocol": "TCP", "port": 8081} in r["ports"]]
    assert len(admitted) == 1 and "from" in admitted[0]
    callers = admitted[0]["from"][0]["podSelector"]["matchExpressions"][0]["values"]
    assert sorted(callers) == ["console", "documents"]
    assert 'api_url = "http://gateway-internal:8081"' in config["data"]["scriptorium.toml"]
    assert 'llm_url = "http://gateway-internal:8081"' in config["data"]["scriptorium.toml"]
    # The console keeps nothing in memory (sessions sealed in the cookie,
    # conversations in the library): two replicas; it holds no database
    # credentials.
    console = docs[("Deployment", "console")]["spec"]
    assert console["replicas"] >= 2
    container = console["template"]["spec"]["containers"][0]
    assert container["args"][-1] == "web"
    assert "postgres" not in str(console)
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env == {"SCRIPTORIUM_WEB__SESSION_KEY_FILE": "/run/secrets/console/session-key"}
    assert ("NetworkPolicy", "default-deny") in docs
    # The library: one replica on its volume, or (production) two sharing
    # an S3 bucket, with no volume of originals left to hold them to one.
    documents = docs[("Deployment", "documents")]["spec"]
    env = {e["name"]: e.get("value") for e in documents["template"]["spec"]["containers"][0]["env"]}
    volumes = {v["name"]: v for v in documents["template"]["spec"]["volumes"]}
    if combo[0] == "production":
        assert documents["replicas"] == 2
        assert documents["strategy"]["type"] == "RollingUpdate"
        assert env["SCRIPTORIUM_DOCUMENTS__BLOBS__KIND"] == "s3"
        assert env["SCRIPTORIUM_DOCUMENTS__BLOBS__SECRET_ACCESS_KEY_FILE"] == "/run/secrets/s3/secret-access-key"
        assert "persistentVolumeClaim" not in volumes["blobs"]
        assert volumes["s3-secret"]["secret"]["secretName"] == "documents-s3"
        assert ("PersistentVolumeClaim", "documents-blobs") not in docs
        assert docs[("PodDisruptionBudget", "documents")]["spec"]["minAvailable"] == 1
    else:
        assert documents["replicas"] == 1 and documents["strategy"]["type"] == "Recreate"
        assert "SCRIPTORIUM_DOCUMENTS__BLOBS__KIND" not in env
        assert volumes["blobs"]["persistentVolumeClaim"]["claimName"] == "documents-blobs"
    if combo[0] == "minikube":
        gateway = docs[("Service", "gateway")]["spec"]
        assert gateway["type"] == "LoadBalancer" and gateway["ports"][0]["port"] == 80


@pytest.mark.parametrize("combo", [c for c in COMBINATIONS if c[1]], ids=combo_id)
def test_istio_guards_the_edge(combo, rendered):
    docs = rendered[combo]
    kinds = {d["kind"] for d in docs}
    if combo[1] == "istio":
        assert {"HTTPRoute"} <= kinds and any(
            d["kind"] == "Gateway" and d["apiVersion"].startswith("gateway.networking.k8s.io")
            for d in docs
        )
    else:
        assert "VirtualService" in kinds and any(
            d["kind"] == "Gateway" and d["apiVersion"].startswith("networking.istio.io")
            for d in docs
        )
    peer = next(d for d in docs if d["kind"] == "PeerAuthentication")
    assert peer["spec"]["mtls"]["mode"] == "STRICT"
    assert any(d["kind"] == "Telemetry" for d in docs)
    # Envoy's JWT filter refuses API keys (not JWTs): the edge asks auth
    # instead, for every API route.
    assert not any(d["kind"] == "RequestAuthentication" for d in docs)
    policies = [d for d in docs if d["kind"] == "AuthorizationPolicy"]
    deny = next(p for p in policies if p["spec"].get("action") == "DENY")
    denied = deny["spec"]["rules"][0]["to"][0]["operation"]["paths"]
    assert {"/auth/introspect", "/auth/check/*"} <= set(denied)
    custom = next(p for p in policies if p["spec"].get("action") == "CUSTOM")
    assert custom["spec"]["provider"]["name"] == PROVIDER["name"]
    checked = custom["spec"]["rules"][0]["to"][0]["operation"]["paths"]
    assert {"/v1/*", "/auth/me", "/auth/api-keys"} <= set(checked)


# The mesh's extension provider, as deploy/terraform/main.tf declares it.
PROVIDER = {"name": "scriptorium-auth", "pathPrefix": "/auth/check"}


def test_the_edge_s_provider_asks_auth_s_check_route():
    main = (DEPLOY / "terraform/main.tf").read_text()
    block = main[main.index(f'name = "{PROVIDER["name"]}"') :]
    setting = lambda key: re.search(rf"\b{key}\s*=\s*(\S+)", block).group(1)
    assert setting("pathPrefix") == f'"{PROVIDER["pathPrefix"]}"'
    assert setting("service") == '"auth.scriptorium.svc.cluster.local"'
    assert setting("failOpen") == "false"
    # auth serves that prefix on any method and path.
    routes = (DEPLOY.parent / "crates/auth/src/routes.rs").read_text()
    assert f'.route("{PROVIDER["pathPrefix"]}/{{*path}}", any(check))' in routes
