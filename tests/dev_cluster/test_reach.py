"""dev_cluster/reach.py, what `make up` prints at its end and `make down` lists before it deletes,
from the outputs and state of the local stack as the real `pulumi up` of `make render` left them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from dev_cluster.workspace import Workspace
from infra import outputs
from tests.support.deployed import pulumi
from tests.support.stacks import RENDER_DIR, stack_config

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "dev_cluster"))
import reach  # noqa: E402

pytestmark = pytest.mark.unit


def rendered(*args: str) -> str:
    where = RENDER_DIR / "local"
    assert (where / "local.passphrase").is_file(), f"no rendered state in {where}: run `make render` (part of `make test`)"
    return pulumi(*args, workspace=Workspace.under(where, "local"))


def test_the_summary_tells_how_to_reach_each_service_of_the_local_stack():
    values = json.loads(rendered("stack", "output", "--json"))
    cfg = stack_config("local")
    text = reach.summary(values, "/kube/config", "/the/workspace")
    assert "The platform is up (kubeconfig: /kube/config)." in text
    assert f"kubectl -n {cfg.mlflow.namespace} port-forward svc/mlflow 5000:5000" in text
    assert f"(cd /the/workspace && pulumi stack output --show-secrets {outputs.MLFLOW_ADMIN_PASSWORD})" in text
    assert f"kubectl -n {cfg.object_store.namespace} port-forward svc/object-store 8333:8333" in text
    assert f"kubectl -n {cfg.kubeflow_pipelines.namespace} port-forward svc/ml-pipeline 8888:8888" in text
    assert cfg.login.enabled, "the local stack signs people in: the Login lines are what this test reads"
    assert f"people sign in at {values[outputs.LOGIN_UI_URL]}" in text
    assert "svc/ml-pipeline-ui" not in text, "with Login, the UI is reached through oauth2-proxy only"
    assert f"kubectl -n {cfg.monitoring.namespace} port-forward svc/prometheus 9090" in text


def test_a_stack_without_pipelines_or_monitoring_names_only_what_it_has():
    text = reach.summary({outputs.OBJECT_STORE_NAMESPACE: "s", outputs.MLFLOW_NAMESPACE: "m", outputs.KFP_NAMESPACE: "",
                          outputs.MONITORING_NAMESPACE: ""}, "k", "w")
    assert "kubectl -n m port-forward svc/mlflow" in text
    assert "Pipelines" not in text
    assert "Monitoring" not in text
    with_ui = reach.summary({outputs.OBJECT_STORE_NAMESPACE: "s", outputs.MLFLOW_NAMESPACE: "m", outputs.KFP_NAMESPACE: "p",
                             outputs.KFP_UI_ENDPOINT: "http://ui"}, "k", "w")
    assert "kubectl -n p port-forward svc/ml-pipeline-ui 8080:80" in with_ui


def test_make_down_lists_every_namespace_of_the_state():
    listed = reach.namespaces(json.loads(rendered("stack", "export")))
    cfg = stack_config("local")
    expected = {cfg.mlflow.namespace, cfg.object_store.namespace, cfg.kubeflow_pipelines.namespace,
                *(t.namespace for t in cfg.tenancy.tenants)}
    assert expected <= set(listed), f"missing: {sorted(expected - set(listed))}"
    assert listed == sorted(listed)
    assert reach.namespaces({}) == []


def run(*args: str, stdin: str = "{}") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "dev_cluster" / "reach.py"), *args], input=stdin,
                          capture_output=True, text=True, check=False)


@pytest.mark.parametrize("state", ["", "{}", '{"deployment": {"resources": []}}'], ids=["no stack", "empty", "destroyed"])
def test_a_stack_without_namespaces_lists_nothing_not_an_empty_line(state):
    """`make down` on a destroyed stack said "deleting the namespaces  with everything in them" (one
    empty name from an empty line) and asked kubectl for the volume claims of nothing."""
    done = run("namespaces", stdin=state)
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""


def test_namespaces_are_listed_one_per_line():
    state = {"deployment": {"resources": [
        {"type": "kubernetes:core/v1:Namespace", "outputs": {"metadata": {"name": name}}} for name in ("b", "a")]}}
    assert run("namespaces", stdin=json.dumps(state)).stdout == "a\nb\n"


def test_one_output_by_its_name_in_infra_outputs():
    assert run("output", "BACKUP_NAMESPACE", stdin=json.dumps({outputs.BACKUP_NAMESPACE: "mlops-backup"})).stdout == "mlops-backup\n"
    assert run("output", "BACKUP_NAMESPACE").stdout == "\n", "an absent output is empty"
    refused = run("output", "backupNamespace")
    assert refused.returncode == 1
    assert "infra/outputs.py names no output backupNamespace" in refused.stderr
    usage = run("deploy")
    assert usage.returncode == 1
    assert "reach.py summary KUBECONFIG WORKSPACE" in usage.stderr
