"""The stack outputs the smoke tests read (tests/support/deployed.py), from the state of the real
`pulumi up` that `make render` ran for each shipped stack: every research group of the stack file is
an output with its namespace, bucket and experiment prefix, and so are the platform's namespaces."""

from __future__ import annotations

import pytest

from dev_cluster.workspace import Workspace
from tests.support.deployed import parse_outputs, read_outputs
from tests.support.stacks import RENDER_DIR, stack_config

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("stack", ["local", "university"])
def test_the_outputs_name_what_the_stack_file_declares(stack):
    rendered = RENDER_DIR / stack
    assert (rendered / f"{stack}.passphrase").is_file(), f"no rendered state in {rendered}: run `make render` (part of `make test`)"
    deployed = read_outputs(stack, Workspace.under(rendered, stack))
    cfg = stack_config(stack)
    assert deployed.mlflow_namespace == cfg.mlflow.namespace
    assert deployed.object_store_namespace == cfg.object_store.namespace
    assert deployed.kfp_namespace == (cfg.kubeflow_pipelines.namespace if cfg.kubeflow_pipelines.enabled else "")
    assert deployed.monitoring_namespace == (cfg.monitoring.namespace if cfg.monitoring.enabled else "")
    assert deployed.backup_namespace == (cfg.backup.namespace if cfg.backup.enabled else "")
    assert deployed.queueing_namespace == (cfg.queueing.namespace if cfg.queueing.enabled and cfg.tenancy.tenants else "")
    assert cfg.tenancy.tenants, f"the {stack} stack declares no research group: the test would check nothing"
    assert {(t.name, t.namespace, t.bucket, t.experiment_prefix) for t in deployed.tenants.values()} == \
        {(t.name, t.namespace, t.bucket, t.experiment_prefix) for t in cfg.tenancy.tenants}
    first = cfg.tenancy.tenants[0].name
    assert deployed.tenant(first).credentials_secret, "each group's credentials Secret is named"


def test_a_group_that_was_not_deployed_is_named_with_the_ones_that_were():
    deployed = parse_outputs({"mlflowNamespace": "m", "objectStoreNamespace": "o", "tenants": {
        "vision": {"namespace": "research-vision", "bucket": "b", "experimentPrefix": "vision/", "credentialsSecret": "s"}}})
    assert deployed.tenant("vision").namespace == "research-vision"
    with pytest.raises(LookupError, match="no research group 'nlp' \\(its groups: vision\\)"):
        deployed.tenant("nlp")


def test_outputs_of_another_program_are_refused_by_name():
    with pytest.raises(LookupError, match="no output objectStoreNamespace, tenants"):
        parse_outputs({"mlflowNamespace": "m"})
