"""The Queueing component (infra/components/queueing.py, Kueue) under Pulumi mocks: a ClusterQueue
per research group in one cohort, the LocalQueues, the chart and its manager configuration."""

from __future__ import annotations

import pytest
import yaml

from tests.support.components import TENANTS
from tests.support.pulumi_mocks import run

pytestmark = pytest.mark.unit


def test_queueing_gives_each_tenant_a_cluster_queue_in_one_cohort_and_a_default_local_queue(mocks):
    tenants = [{**TENANTS[0], "quota": {"gpu": 1, "cpu": "4", "memory": "8Gi"}, "borrowingLimit": {"gpu": "1"}},
               {**TENANTS[1], "quota": {"gpu": 1, "cpu": "2", "memory": "4Gi"}}]
    run({"gpu": {"totalGpus": 2}, "tenants": tenants, "images": {"registry": "mirror.example.edu"}})
    queues = {r.inputs["metadata"]["name"]: r.inputs["spec"] for r in mocks.of_type("kubernetes:kueue.x-k8s.io/v1beta2:ClusterQueue")}
    assert set(queues) == {"research-vision", "research-nlp"}
    vision = queues["research-vision"]
    assert {q["cohortName"] for q in queues.values()} == {"research"}, "all groups share one cohort"
    assert vision["namespaceSelector"] == {"matchLabels": {"kubernetes.io/metadata.name": "research-vision"}}
    assert vision["preemption"]["reclaimWithinCohort"] == "Any", "owners take their lent quota back"
    (group,) = vision["resourceGroups"]
    assert group["coveredResources"] == ["cpu", "memory", "nvidia.com/gpu"]
    resources = {r["name"]: r for r in group["flavors"][0]["resources"]}
    assert resources["nvidia.com/gpu"] == {"name": "nvidia.com/gpu", "nominalQuota": "1", "borrowingLimit": "1"}
    assert resources["cpu"] == {"name": "cpu", "nominalQuota": "4"}, "no cpu borrowing limit set: none declared"
    local_queues = mocks.of_type("kubernetes:kueue.x-k8s.io/v1beta2:LocalQueue")
    assert sorted((q.inputs["metadata"]["namespace"], q.inputs["metadata"]["name"], q.inputs["spec"]["clusterQueue"])
                  for q in local_queues) == [("research-nlp", "default", "research-nlp"),
                                             ("research-vision", "default", "research-vision")]
    # The ResourceQuota is the ceiling: quota + borrowing limit, at most the cohort's total.
    vision_hard = mocks.named("tenants-vision-quota").inputs["spec"]["hard"]
    nlp_hard = mocks.named("tenants-nlp-quota").inputs["spec"]["hard"]
    assert vision_hard["requests.nvidia.com/gpu"] == "2"
    assert (vision_hard["requests.cpu"], vision_hard["requests.memory"]) == ("6000m", "12288Mi"), "no cpu/memory limit: the cohort"
    assert (nlp_hard["requests.nvidia.com/gpu"], nlp_hard["requests.cpu"]) == ("2", "6000m")

    chart = mocks.chart("queueing")
    assert chart.inputs["chart"] == "oci://registry.k8s.io/kueue/charts/kueue"
    assert chart.inputs["version"] == "0.17.0"
    values = chart.inputs["values"]
    assert values["controllerManager"]["manager"]["image"] == {
        "repository": "mirror.example.edu/kueue/kueue", "tag": "v0.17.0", "pullPolicy": "IfNotPresent"}
    manager = yaml.safe_load(values["managerConfig"]["controllerManagerConfigYaml"])
    assert manager["integrations"]["frameworks"] == ["pod"], "Argo's step pods are plain pods"
    assert manager["managedJobsNamespaceSelector"] == {
        "matchExpressions": [{"key": "mlops-platform/tenant", "operator": "Exists"}]}, "tenant namespaces only"
    assert manager["manageJobsWithoutQueueName"] is False
    assert "fairSharing" in manager
    ns = mocks.named("tenants-vision-ns").inputs["metadata"]["labels"]
    assert ns["mlops-platform/tenant"] == "vision", "the label Kueue's namespace selector matches"


def test_queueing_from_a_local_chart_folder_and_off(mocks, tmp_path):
    (tmp_path / "Chart.yaml").write_text("apiVersion: v2\nname: kueue\nversion: 0.17.0\n")
    run({"gpu": {"totalGpus": 2}, "tenants": TENANTS, "queueing": {"chart": str(tmp_path)}})
    chart = mocks.chart("queueing")
    assert chart.inputs["chart"] == str(tmp_path)
    assert "version" not in chart.inputs, "a local chart has the version it has (checked by the config)"
    mocks.resources.clear()
    run({"gpu": {"totalGpus": 2}, "tenants": TENANTS, "queueing": {"enabled": False}})
    assert not [r for r in mocks.resources if "kueue" in r.typ or r.name.startswith("queueing")]
