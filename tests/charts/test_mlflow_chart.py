"""Render tests of charts/mlflow: `helm template` and `helm lint` with no cluster."""

import copy
import json
import re
import subprocess
from pathlib import Path

import jsonschema
import pytest
import yaml

pytestmark = pytest.mark.render

CHART = Path(__file__).resolve().parents[2] / "charts" / "mlflow"
RELEASE = "tracking"
NAMESPACE = "mlops"
FULLNAME = f"{RELEASE}-mlflow"
POSTGRES_FULLNAME = f"{FULLNAME}-postgres"

# Distinctive Secret names: a rendered credential would have to come from somewhere else.
AUTH_SECRET = "fake-auth-secret-name"
BACKEND_SECRET = "fake-backend-secret-name"
ARTIFACTS_SECRET = "fake-artifacts-secret-name"

REQUIRED_VALUES = {
    "auth": {"existingSecret": AUTH_SECRET},
    "backendStore": {"existingSecret": BACKEND_SECRET},
    "artifacts": {
        "bucket": "mlflow-artifacts",
        "s3EndpointUrl": "http://seaweedfs.mlops-storage.svc:8333",
        "existingSecret": ARTIFACTS_SECRET,
    },
}

WORKLOAD_KINDS = {"Deployment", "StatefulSet", "Pod"}
REQUIRED_LABELS = {
    "app.kubernetes.io/name",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/component",
    "app.kubernetes.io/part-of",
    "app.kubernetes.io/managed-by",
}


def merged(base: dict, override: dict) -> dict:
    """Deep merge of two values trees; override wins."""
    result = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = merged(result[key], value)
        else:
            result[key] = copy.deepcopy(value)
    return result


def at_path(dotted: str, value) -> dict:
    """{"a": {"b": value}} for "a.b"."""
    tree = value
    for key in reversed(dotted.split(".")):
        tree = {key: tree}
    return tree


@pytest.fixture
def run_helm(helm, tmp_path):
    """Runs a helm subcommand on the chart with REQUIRED_VALUES merged with `overrides`."""

    def run(subcommand: list[str], overrides: dict | None = None) -> subprocess.CompletedProcess:
        values_file = tmp_path / "values.yaml"
        values_file.write_text(yaml.safe_dump(merged(REQUIRED_VALUES, overrides or {})))
        return subprocess.run(
            [helm, *subcommand, "--values", str(values_file)],
            capture_output=True,
            text=True,
            check=False,
        )

    return run


@pytest.fixture
def render(run_helm):
    """Renders the chart and returns its objects; fails the test with helm's error if any."""

    def rendered(overrides: dict | None = None) -> list[dict]:
        result = run_helm(["template", RELEASE, str(CHART), "--namespace", NAMESPACE], overrides)
        assert result.returncode == 0, f"helm template failed:\n{result.stderr}"
        return [doc for doc in yaml.safe_load_all(result.stdout) if doc]

    return rendered


@pytest.fixture
def render_error(run_helm):
    """Renders the chart expecting failure and returns helm's error output."""

    def error(overrides: dict) -> str:
        result = run_helm(["template", RELEASE, str(CHART), "--namespace", NAMESPACE], overrides)
        assert result.returncode != 0, f"helm template accepted {overrides}"
        return result.stderr

    return error


def find(objects: list[dict], kind: str, name: str) -> dict:
    matches = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(matches) == 1, f"expected one {kind} {name}, found {len(matches)}"
    return matches[0]


def pod_spec(workload: dict) -> dict:
    return workload["spec"] if workload["kind"] == "Pod" else workload["spec"]["template"]["spec"]


def containers(workload: dict) -> list[dict]:
    spec = pod_spec(workload)
    return spec.get("initContainers", []) + spec["containers"]


def workloads(objects: list[dict]) -> list[dict]:
    return [o for o in objects if o["kind"] in WORKLOAD_KINDS]


def describe(workload: dict, container: dict) -> str:
    return f"{workload['kind']} {workload['metadata']['name']}, container {container['name']}"


def env_of(container: dict) -> dict[str, dict]:
    return {item["name"]: item for item in container.get("env", [])}


def server_container(objects: list[dict]) -> dict:
    deployment = find(objects, "Deployment", FULLNAME)
    return next(c for c in pod_spec(deployment)["containers"] if c["name"] == "server")


def test_renders_with_required_values_and_passes_strict_lint(run_helm, render):
    lint = run_helm(["lint", "--strict", str(CHART)])
    assert lint.returncode == 0, f"helm lint --strict failed:\n{lint.stdout}{lint.stderr}"

    objects = render()
    assert sorted((o["kind"], o["metadata"]["name"]) for o in objects) == sorted(
        [
            ("ConfigMap", f"{POSTGRES_FULLNAME}-initdb"),
            ("Deployment", FULLNAME),
            ("NetworkPolicy", FULLNAME),
            ("NetworkPolicy", POSTGRES_FULLNAME),
            ("Pod", f"{FULLNAME}-test"),
            ("Service", FULLNAME),
            ("Service", POSTGRES_FULLNAME),
            ("StatefulSet", POSTGRES_FULLNAME),
        ]
    )


def test_every_object_carries_the_platform_labels(render):
    objects = render({"ingress": {"enabled": True, "host": "mlflow.example.org"}})
    for obj in objects:
        labels = obj["metadata"].get("labels", {})
        missing = REQUIRED_LABELS - labels.keys()
        assert not missing, f"{obj['kind']} {obj['metadata']['name']} lacks labels {missing}"
        assert labels["app.kubernetes.io/part-of"] == "mlops-platform", obj["metadata"]["name"]


def test_every_workload_has_requests_limits_and_runs_as_non_root(render):
    for workload in workloads(render()):
        pod_security = pod_spec(workload)["securityContext"]
        assert pod_security["runAsNonRoot"] is True, workload["metadata"]["name"]
        assert pod_security["runAsUser"] > 0, workload["metadata"]["name"]
        assert pod_security["seccompProfile"]["type"] == "RuntimeDefault", workload["metadata"]["name"]
        for container in containers(workload):
            where = describe(workload, container)
            for bound in ("requests", "limits"):
                assert {"cpu", "memory"} <= container["resources"][bound].keys(), f"{where}: {bound}"
            security = container["securityContext"]
            assert security["allowPrivilegeEscalation"] is False, where
            assert security["capabilities"]["drop"] == ["ALL"], where
            assert security.get("runAsUser", pod_security["runAsUser"]) > 0, where


def test_no_credential_is_rendered_only_secret_references(render):
    objects = render()
    assert not [o for o in objects if o["kind"] == "Secret"], "the chart must not render Secrets"

    referenced = set()
    for workload in workloads(objects):
        for container in containers(workload):
            for item in container.get("env", []):
                where = f"{describe(workload, container)}, env {item['name']}"
                if "valueFrom" in item:
                    referenced.add(item["valueFrom"]["secretKeyRef"]["name"])
                    continue
                value = item["value"]
                if re.search(r"PASSWORD|SECRET|TOKEN|_KEY|DSN", item["name"]):
                    assert re.fullmatch(r"\$\(\w+\)", value), f"{where} holds a literal {value!r}"
                userinfo = re.search(r"://[^/@]*:([^/@]*)@", value)
                if userinfo:
                    assert re.fullmatch(r"\$\(\w+\)", userinfo.group(1)), f"{where}: password in URI"
    assert referenced == {AUTH_SECRET, BACKEND_SECRET, ARTIFACTS_SECRET}


def test_in_cluster_backend_store_uri_is_assembled_from_the_secret(render):
    objects = render()
    env = env_of(server_container(objects))
    assert env["POSTGRES_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
        "name": BACKEND_SECRET,
        "key": "postgres-password",
    }
    assert env["MLFLOW_BACKEND_STORE_URI"]["value"] == (f"postgresql://mlflow:$(POSTGRES_PASSWORD)@{POSTGRES_FULLNAME}:5432/mlflow")
    names = list(env)
    assert names.index("POSTGRES_PASSWORD") < names.index("MLFLOW_BACKEND_STORE_URI"), (
        "$(POSTGRES_PASSWORD) only expands when the variable is defined earlier"
    )

    postgres = find(objects, "StatefulSet", POSTGRES_FULLNAME)
    postgres_env = env_of(pod_spec(postgres)["containers"][0])
    assert postgres_env["POSTGRES_USER"]["value"] == "mlflow"
    assert postgres_env["POSTGRES_DB"]["value"] == "mlflow"
    initdb = find(objects, "ConfigMap", f"{POSTGRES_FULLNAME}-initdb")
    assert "CREATE DATABASE mlflow_auth" in "".join(initdb["data"].values())


@pytest.mark.parametrize(
    ("dotted_key", "overrides"),
    [
        ("auth.existingSecret", {}),
        ("backendStore.existingSecret", {}),
        ("artifacts.bucket", {}),
        ("artifacts.s3EndpointUrl", {}),
        ("artifacts.existingSecret", {}),
        ("ingress.host", {"ingress": {"enabled": True}}),
    ],
)
def test_missing_required_value_fails_with_its_message(render_error, dotted_key, overrides):
    error = render_error(merged(overrides, at_path(dotted_key, "")))
    assert f"{dotted_key} is required" in error, error
    assert "set it to" in error, error


def test_schema_is_draft_07_closed_at_every_object_level_and_accepts_the_defaults():
    schema = json.loads((CHART / "values.schema.json").read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"

    def open_objects(node: dict, path: str) -> list[str]:
        found = []
        if node.get("type") == "object" and node.get("additionalProperties") is not False:
            found.append(path or "/")
        for name, child in node.get("properties", {}).items():
            found += open_objects(child, f"{path}/{name}")
        if isinstance(node.get("items"), dict):
            found += open_objects(node["items"], f"{path}/items")
        return found

    assert open_objects(schema, "") == []
    defaults = yaml.safe_load((CHART / "values.yaml").read_text())
    jsonschema.validate(merged(defaults, REQUIRED_VALUES), schema)


def test_schema_rejects_an_unknown_key(render_error):
    error = render_error({"artifacts": {"bukket": "typo"}})
    assert "additional properties 'bukket' not allowed" in error, error


@pytest.mark.parametrize(
    ("overrides", "rejected_at"),
    [
        ({"service": {"type": "ExternalName"}}, "/service/type"),
        ({"resources": {"limits": {"memory": "1 gigabyte"}}}, "/resources/limits/memory"),
        ({"backendStore": {"postgres": {"storageSize": "lots"}}}, "/backendStore/postgres/storageSize"),
    ],
    ids=["service-type", "memory-quantity", "storage-quantity"],
)
def test_schema_rejects_a_bad_value(render_error, overrides, rejected_at):
    error = render_error(overrides)
    assert "don't meet the specifications of the schema" in error, error
    assert f"at '{rejected_at}'" in error, error


def test_external_backend_store_renders_no_postgres_and_reads_the_dsn(render):
    objects = render({"backendStore": {"external": True}})
    postgres = [f"{o['kind']} {o['metadata']['name']}" for o in objects if o["metadata"]["labels"]["app.kubernetes.io/component"] == "postgres"]
    assert postgres == [], f"external backend store still renders {postgres}"

    deployment = find(objects, "Deployment", FULLNAME)
    for container in containers(deployment):
        env = env_of(container)
        where = describe(deployment, container)
        assert "POSTGRES_PASSWORD" not in env, where
        assert env["MLFLOW_BACKEND_STORE_URI"]["valueFrom"]["secretKeyRef"] == {
            "name": BACKEND_SECRET,
            "key": "dsn",
        }, where


def test_images_come_from_values_in_every_container(render):
    objects = render(
        {
            "image": {"repository": "registry.example/ml/mlflow-server", "tag": "3.18.0-custom"},
            "backendStore": {"postgres": {"image": {"repository": "registry.example/db/postgres", "tag": "15.99"}}},
        }
    )
    for workload in workloads(objects):
        is_postgres = workload["kind"] == "StatefulSet"
        expected = "registry.example/db/postgres:15.99" if is_postgres else "registry.example/ml/mlflow-server:3.18.0-custom"
        for container in containers(workload):
            assert container["image"] == expected, describe(workload, container)
    kinds = {w["kind"] for w in workloads(objects)}
    assert kinds == WORKLOAD_KINDS, f"test hook, server or postgres missing: {kinds}"


def test_server_migrates_before_serving_and_proxies_artifacts(render):
    objects = render({"ingress": {"enabled": True, "host": "mlflow.example.org"}})
    deployment = find(objects, "Deployment", FULLNAME)
    init = [c["name"] for c in pod_spec(deployment)["initContainers"]]
    assert init.index("wait-for-database") < init.index("migrate-database"), init
    migrate = next(c for c in pod_spec(deployment)["initContainers"] if c["name"] == "migrate-database")
    assert 'mlflow db upgrade "$MLFLOW_BACKEND_STORE_URI"' in " ".join(migrate["command"])

    server = server_container(objects)
    command = server["command"]
    assert command[:2] == ["mlflow", "server"]
    for flag in (
        "--app-name=basic-auth",
        "--host=0.0.0.0",
        "--port=5000",
        "--serve-artifacts",
        "--artifacts-destination=s3://mlflow-artifacts/",
    ):
        assert flag in command, f"{flag} missing from {command}"
    allowed = next(a for a in command if a.startswith("--allowed-hosts=")).split("=", 1)[1]
    hosts = allowed.split(",")
    for host in (
        FULLNAME,
        f"{FULLNAME}:*",
        f"{FULLNAME}.{NAMESPACE}.svc",
        f"{FULLNAME}.{NAMESPACE}.svc.*",
        "mlflow.example.org",
        "localhost:*",
    ):
        assert host in hosts, f"{host} missing from --allowed-hosts={allowed}"

    env = env_of(server)
    assert env["MLFLOW_S3_ENDPOINT_URL"]["value"] == "http://seaweedfs.mlops-storage.svc:8333"
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        assert env[key]["valueFrom"]["secretKeyRef"] == {"name": ARTIFACTS_SECRET, "key": key}
    for probe in ("readinessProbe", "livenessProbe"):
        assert server[probe]["httpGet"]["path"] == "/health", probe


def test_network_policy_admits_the_allowed_namespaces(render):
    objects = render({"networkPolicy": {"allowedNamespaces": ["ingress-nginx", "team-a"]}})
    server_policy = find(objects, "NetworkPolicy", FULLNAME)
    [rule] = server_policy["spec"]["ingress"]
    assert {"podSelector": {}} in rule["from"], "the release's own namespace must be admitted"
    namespace_peers = [peer["namespaceSelector"] for peer in rule["from"] if "namespaceSelector" in peer]
    assert namespace_peers == [
        {
            "matchExpressions": [
                {
                    "key": "kubernetes.io/metadata.name",
                    "operator": "In",
                    "values": ["ingress-nginx", "team-a"],
                }
            ]
        }
    ]
    assert rule["ports"] == [{"port": 5000, "protocol": "TCP"}]

    postgres_policy = find(objects, "NetworkPolicy", POSTGRES_FULLNAME)
    [postgres_rule] = postgres_policy["spec"]["ingress"]
    [peer] = postgres_rule["from"]
    assert peer["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "server"
    assert postgres_rule["ports"] == [{"port": 5432, "protocol": "TCP"}]

    disabled = render({"networkPolicy": {"enabled": False}})
    assert not [o for o in disabled if o["kind"] == "NetworkPolicy"]


def test_test_hook_pod_carries_the_hook_annotations_and_checks_auth(render):
    pod = find(render(), "Pod", f"{FULLNAME}-test")
    annotations = pod["metadata"]["annotations"]
    assert annotations["helm.sh/hook"] == "test"
    assert set(annotations["helm.sh/hook-delete-policy"].split(",")) == {
        "before-hook-creation",
        "hook-succeeded",
    }
    assert pod["spec"]["restartPolicy"] == "Never"
    [container] = pod["spec"]["containers"]
    script = container["command"][-1]
    for expectation in ("/health", "/api/2.0/mlflow/experiments/search?max_results=1", "401"):
        assert expectation in script, f"test hook does not check {expectation}"
    env = env_of(container)
    assert env["MLFLOW_URL"]["value"] == f"http://{FULLNAME}:5000"
    assert env["ADMIN_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
        "name": AUTH_SECRET,
        "key": "admin-password",
    }


TENANT_VALUES = {
    "workspaces": {"enabled": True},
    "tenants": {"passwordsSecret": "fake-tenant-passwords", "identities": [
        {"workspace": "vision", "editor": "tenant-vision", "reader": "tenant-vision-reader"},
        {"workspace": "nlp", "editor": "tenant-nlp", "reader": "tenant-nlp-reader"}]},
}


def test_tenants_get_a_provisioning_job_that_reruns_on_every_change(render):
    objects = render(TENANT_VALUES)
    assert "--enable-workspaces" in server_container(objects)["command"]
    (job,) = [o for o in objects if o["kind"] == "Job"]
    (container,) = pod_spec(job)["containers"]
    env = env_of(container)
    assert json.loads(env["TENANTS"]["value"]) == TENANT_VALUES["tenants"]["identities"]
    assert env["ADMIN_PASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": AUTH_SECRET, "key": "admin-password"}
    volumes = {v["name"]: v for v in pod_spec(job)["volumes"]}
    assert volumes["passwords"]["secret"]["secretName"] == "fake-tenant-passwords"
    script = find(objects, "ConfigMap", f"{FULLNAME}-tenants-script")["data"]["provision_tenants.py"]
    assert script == (CHART / "files" / "provision_tenants.py").read_text()
    assert pod_spec(job)["automountServiceAccountToken"] is False
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    # One tenant more: a Job of another name, so that Pulumi runs it again.
    more = merged(TENANT_VALUES, {"tenants": {"identities": [
        *TENANT_VALUES["tenants"]["identities"], {"workspace": "bio", "editor": "tenant-bio", "reader": "tenant-bio-reader"}]}})
    (other,) = [o for o in render(more) if o["kind"] == "Job"]
    assert other["metadata"]["name"] != job["metadata"]["name"]
    assert not [o for o in render() if o["kind"] == "Job"], "no tenants, no Job"
    assert "--enable-workspaces" not in server_container(render())["command"]


def test_metrics_are_served_by_a_sidecar_on_their_own_port(render):
    objects = render({"metrics": {"enabled": True, "port": 9102}})
    assert "--expose-prometheus=/tmp/prometheus-metrics" in server_container(objects)["command"]
    deployment = find(objects, "Deployment", FULLNAME)
    (sidecar,) = [c for c in pod_spec(deployment)["containers"] if c["name"] == "metrics"]
    assert sidecar["command"] == ["python", "/scripts/serve_metrics.py"]
    assert env_of(sidecar)["METRICS_DIR"]["value"] == "/tmp/prometheus-metrics"  # noqa: S108 - the pod's emptyDir
    assert sidecar["ports"] == [{"name": "metrics", "containerPort": 9102, "protocol": "TCP"}]
    assert sidecar["securityContext"]["readOnlyRootFilesystem"] is True
    # What the local stack's monitoring budget counts (tests/unit/components/test_monitoring.py).
    assert sidecar["resources"]["requests"] == {"cpu": "5m", "memory": "32Mi"}
    assert {"name": "tmp", "mountPath": "/tmp"} in sidecar["volumeMounts"], "shares the server's metrics files"  # noqa: S108
    script = find(objects, "ConfigMap", f"{FULLNAME}-metrics-script")["data"]["serve_metrics.py"]
    assert script == (CHART / "files" / "serve_metrics.py").read_text()
    policy = find(objects, "NetworkPolicy", FULLNAME)
    assert [p["port"] for rule in policy["spec"]["ingress"] for p in rule["ports"]] == [5000], \
        "the chart opens only the server's port; the scraper brings its own policy"
    off = render()
    assert "--expose-prometheus=/tmp/prometheus-metrics" not in server_container(off)["command"]
    assert [c["name"] for c in pod_spec(find(off, "Deployment", FULLNAME))["containers"]] == ["server"]


@pytest.mark.parametrize(("overrides", "message"), [
    ({"workspaces": {"enabled": False}}, "needs workspaces.enabled"),
    ({"tenants": {"passwordsSecret": ""}}, "needs tenants.passwordsSecret"),
    ({"tenants": {"identities": [{"workspace": "vision", "editor": "vision", "reader": "tenant-vision-reader"}]}},
     "must start with tenants.userPrefix"),
], ids=["workspaces off", "no passwords", "user without prefix"])
def test_bad_tenant_values_are_refused(render_error, overrides, message):
    assert message in render_error(merged(TENANT_VALUES, overrides))


def test_network_policy_admits_the_allowed_cidrs(render):
    objects = render({"networkPolicy": {"allowedNamespaces": [], "allowedCidrs": ["10.20.0.0/24"]}})
    [rule] = find(objects, "NetworkPolicy", FULLNAME)["spec"]["ingress"]
    assert {"ipBlock": {"cidr": "10.20.0.0/24"}} in rule["from"], rule["from"]
    [rule] = find(render(), "NetworkPolicy", FULLNAME)["spec"]["ingress"]
    assert not [peer for peer in rule["from"] if "ipBlock" in peer], "no CIDR is admitted unless listed"


def test_ingress_serves_tls_with_the_given_secret_and_annotations(render):
    objects = render({"ingress": {"enabled": True, "host": "mlflow.example.org", "tlsSecretName": "mlflow-tls",
                                  "annotations": {"cert-manager.io/cluster-issuer": "campus-ca"}}})
    ingress = find(objects, "Ingress", FULLNAME)
    assert ingress["spec"]["tls"] == [{"hosts": ["mlflow.example.org"], "secretName": "mlflow-tls"}]
    assert ingress["metadata"]["annotations"] == {"cert-manager.io/cluster-issuer": "campus-ca"}



def test_the_tenants_job_waits_through_refused_connections_while_mlflow_starts(monkeypatch):
    """files/provision_tenants.py: a refused connection (no ready server pod yet) is waited out like a 503."""
    import importlib.util
    import urllib.error

    spec = importlib.util.spec_from_file_location("provision_tenants", CHART / "files" / "provision_tenants.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    answers = [urllib.error.URLError(ConnectionRefusedError(111, "Connection refused")), (503, {}), (200, {})]

    def call(self, method, path, body=None, query=None):
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    monkeypatch.setattr(script.Mlflow, "call", call)
    monkeypatch.setattr(script.time, "sleep", lambda _: None)
    script.wait_until_up(script.Mlflow("http://mlflow:5000", "admin", "secret"))
    assert answers == [], "it asked until MLflow answered 200"
