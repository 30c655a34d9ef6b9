"""Kueue: the research groups' pipeline steps are admitted through per-group queues.

Each tenant gets a ClusterQueue whose nominal quota is the tenant's cpu, memory and GPU quota,
all ClusterQueues in one cohort: a group may borrow what the others leave idle (up to its
`borrowingLimit`), and a group that wants its own quota back preempts the borrowers (reclaim
within the cohort); fair sharing orders the groups by their share of the cohort. Each tenant
namespace has a LocalQueue named `default`, which Kueue gives every pod there that names no
queue (LocalQueueDefaulting): with the pod integration, every pipeline step pod is created gated
and starts once its group's queue admits it, so work over quota waits instead of failing.

The tenant namespace's ResourceQuota stays as a ceiling (Tenants): quota plus borrowing limit.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s
import yaml
from mlops_components.contract import GPU_RESOURCE

from infra.charts import UPSTREAM_CHARTS, local_chart_path
from infra.components.common import PART_OF, labels, namespace
from infra.components.monitoring import ScrapeTarget
from infra.config import QueueingConfig, TenantConfig, quantity

KUEUE_API = "kueue.x-k8s.io/v1beta2"
# The LocalQueue Kueue assigns to every workload of a namespace that names no queue.
DEFAULT_LOCAL_QUEUE = "default"
# The one ResourceFlavor: every node's capacity is alike to the queues (no node labels).
RESOURCE_FLAVOR = "default-flavor"
# The label every tenant namespace carries (Tenants sets it): Kueue manages pods only there.
TENANT_NAMESPACE_LABEL = "mlops-platform/tenant"
# Ports of Kueue's pods that the API server calls: admission webhooks, the visibility API.
WEBHOOK_PORT = 9443
VISIBILITY_PORT = 8082
# Kueue's metrics: HTTPS, for callers whose token may `get` /metrics (ScrapeTarget.authorized).
METRICS_PORT = 8443
# The chart's labels of Kueue's controller manager pods (its release name aside).
MANAGER_POD_LABELS = {"app.kubernetes.io/name": "kueue", "control-plane": "controller-manager"}
# The Services Kueue's chart makes (named after its release, `kueue`): the webhooks' (443) and the metrics' (8443).
WEBHOOK_SERVICE = "kueue-webhook-service"
METRICS_SERVICE = "kueue-controller-manager-metrics-service"
# The NetworkPolicy that lets only the API server's calls in (webhooks, visibility API).
API_SERVER_POLICY = "api-server-calls-only"


def _cpu(cores: float) -> str:
    return f"{round(cores * 1000)}m"


def _memory(num_bytes: float) -> str:
    return f"{round(num_bytes / 2**20)}Mi"


def nominal_quota(tenant: TenantConfig) -> dict[str, str]:
    """The tenant's ClusterQueue nominal quota: its quota's cpu, memory and GPUs."""
    return {"cpu": tenant.quota.cpu, "memory": tenant.quota.memory, GPU_RESOURCE: str(tenant.quota.gpu)}


def borrowing_limits(tenant: TenantConfig) -> dict[str, str]:
    """The ClusterQueue's borrowing limit per resource; a resource left out may borrow without limit."""
    limit = tenant.borrowing_limit
    limits = {"cpu": limit.cpu, "memory": limit.memory, GPU_RESOURCE: None if limit.gpu is None else str(limit.gpu)}
    return {name: value for name, value in limits.items() if value is not None}


def quota_ceiling(tenant: TenantConfig, tenants: tuple[TenantConfig, ...]) -> dict[str, str]:
    """What the tenant's pods may hold at most with borrowing: its quota plus its borrowing limit,
    and never more than the whole cohort's quota (what there is to borrow). The tenant namespace's
    ResourceQuota is set to this, so that borrowed capacity can be used while a pod that somehow
    bypasses the queue still meets a hard limit."""
    total_cpu = sum(quantity(t.quota.cpu) for t in tenants)
    total_memory = sum(quantity(t.quota.memory) for t in tenants)
    total_gpu = sum(t.quota.gpu for t in tenants)
    limit = tenant.borrowing_limit
    cpu = quantity(tenant.quota.cpu) + (quantity(limit.cpu) if limit.cpu else total_cpu)
    memory = quantity(tenant.quota.memory) + (quantity(limit.memory) if limit.memory else total_memory)
    gpu = tenant.quota.gpu + (limit.gpu if limit.gpu is not None else total_gpu)
    return {"cpu": _cpu(min(cpu, total_cpu)), "memory": _memory(min(memory, total_memory)),
            GPU_RESOURCE: str(min(gpu, total_gpu))}


def cluster_queue_name(tenant: TenantConfig) -> str:
    return tenant.namespace


def local_queue(resource_name: str, tenant: TenantConfig, tenant_labels: dict[str, str],
                opts: pulumi.ResourceOptions) -> k8s.apiextensions.CustomResource:
    """The tenant namespace's LocalQueue `default`, pointing at the tenant's ClusterQueue."""
    return k8s.apiextensions.CustomResource(
        resource_name, api_version=KUEUE_API, kind="LocalQueue",
        metadata={"name": DEFAULT_LOCAL_QUEUE, "namespace": tenant.namespace, "labels": tenant_labels},
        spec={"clusterQueue": cluster_queue_name(tenant)}, opts=opts)


def manager_configuration() -> dict:
    """Kueue's Configuration: plain pods only (Argo's step pods), in tenant namespaces only, fair
    sharing between the groups."""
    return {
        "apiVersion": "config.kueue.x-k8s.io/v1beta2",
        "kind": "Configuration",
        "health": {"healthProbeBindAddress": ":8081"},
        "metrics": {"bindAddress": f":{METRICS_PORT}"},
        "webhook": {"port": WEBHOOK_PORT},
        "leaderElection": {"leaderElect": True, "resourceName": "c1f6bfd2.kueue.x-k8s.io"},
        "controller": {"groupKindConcurrency": {"Pod": 5, "Workload.kueue.x-k8s.io": 5, "LocalQueue.kueue.x-k8s.io": 1,
                                                "ClusterQueue.kueue.x-k8s.io": 1, "ResourceFlavor.kueue.x-k8s.io": 1}},
        "clientConnection": {"qps": 50, "burst": 100},
        # Pods without a queue name are left alone; in a tenant namespace the LocalQueue
        # `default` names one for them.
        "manageJobsWithoutQueueName": False,
        "managedJobsNamespaceSelector": {"matchExpressions": [{"key": TENANT_NAMESPACE_LABEL, "operator": "Exists"}]},
        "integrations": {"frameworks": ["pod"]},
        # Preemption between groups: a group below its fair share may take back from one above.
        "fairSharing": {"preemptionStrategies": ["LessThanOrEqualToFinalShare", "LessThanInitialShare"]},
    }


def chart_values(cfg: QueueingConfig, image: str, pull_policy: str) -> dict:
    repository, _, tag = image.rpartition(":")
    return {
        "fullnameOverride": "kueue",
        "controllerManager": {
            "manager": {
                "image": {"repository": repository, "tag": tag, "pullPolicy": pull_policy},
                "resources": cfg.resources.to_kubernetes(),
            },
        },
        "managerConfig": {"controllerManagerConfigYaml": yaml.safe_dump(manager_configuration(), sort_keys=False)},
    }


@dataclass
class QueueingArgs:
    config: QueueingConfig
    tenants: tuple[TenantConfig, ...]
    image: str
    image_pull_policy: str
    # Prometheus scrapes Kueue (job `kueue`: its queues' pending and admitted workloads).
    metrics: bool = False


class Queueing(pulumi.ComponentResource):
    """Kueue (its upstream chart, pinned in infra/charts.py) in its namespace, a NetworkPolicy
    that lets only the API server's calls in, one ResourceFlavor and a ClusterQueue per tenant in
    one cohort. The tenants' namespaces, with their LocalQueue `default` (local_queue()), are
    declared by Tenants after this component: Kueue's webhooks admit their pods from the start,
    and `pulumi destroy` removes them while Kueue still runs to release its pods' finalizers."""

    def __init__(self, name: str, args: QueueingArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops-platform:platform:Queueing", name, None, opts)
        cfg = args.config
        ns = namespace(f"{name}-ns", cfg.namespace, "queueing", self)
        pinned = UPSTREAM_CHARTS["kueue"]
        chart_source = ({"chart": str(local_chart_path(cfg.chart))} if cfg.chart
                        else {"chart": pinned.repository, "version": pinned.version})
        chart = k8s.helm.v4.Chart(
            name,
            **chart_source,
            namespace=ns.metadata.apply(lambda m: m["name"]),
            values=chart_values(cfg, args.image, args.image_pull_policy),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[ns]),
        )
        # The API server (host network, outside any pod selector) calls the webhooks and the
        # visibility API; nothing else may connect.
        k8s.networking.v1.NetworkPolicy(
            f"{name}-api-server-only",
            metadata={"name": API_SERVER_POLICY, "namespace": cfg.namespace,
                      "labels": {"app.kubernetes.io/part-of": PART_OF}},
            spec={"podSelector": {}, "policyTypes": ["Ingress"],
                  "ingress": [{"ports": [{"protocol": "TCP", "port": p} for p in (WEBHOOK_PORT, VISIBILITY_PORT)]}]},
            opts=pulumi.ResourceOptions(parent=self, depends_on=[ns]),
        )
        # Queues are checked by Kueue's webhooks: declared once its Deployment is ready.
        after_kueue = pulumi.ResourceOptions(parent=self, depends_on=[chart])
        flavor = k8s.apiextensions.CustomResource(
            f"{name}-flavor", api_version=KUEUE_API, kind="ResourceFlavor",
            metadata={"name": RESOURCE_FLAVOR, "labels": labels(RESOURCE_FLAVOR, "queueing")}, spec={},
            opts=after_kueue)
        for tenant in args.tenants:
            self._cluster_queue(name, tenant, cfg, flavor)
        self.namespace = cfg.namespace
        self.metrics_targets = (ScrapeTarget("kueue", (cfg.namespace,), MANAGER_POD_LABELS, METRICS_PORT, authorized=True),) \
            if args.metrics else ()
        self.register_outputs({"namespace": self.namespace, "chart": chart.urn})

    def _cluster_queue(self, name: str, tenant: TenantConfig, cfg: QueueingConfig, flavor: pulumi.Resource) -> None:
        nominal, borrowing = nominal_quota(tenant), borrowing_limits(tenant)
        resources = [{"name": resource, "nominalQuota": value,
                      **({"borrowingLimit": borrowing[resource]} if resource in borrowing else {})}
                     for resource, value in nominal.items()]
        queue_labels = {**labels(tenant.name, "queueing"), TENANT_NAMESPACE_LABEL: tenant.name}
        k8s.apiextensions.CustomResource(
            f"{name}-{tenant.name}-cluster-queue", api_version=KUEUE_API, kind="ClusterQueue",
            metadata={"name": cluster_queue_name(tenant), "labels": queue_labels},
            spec={
                "cohortName": cfg.cohort,
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": tenant.namespace}},
                "queueingStrategy": "BestEffortFIFO",
                "resourceGroups": [{"coveredResources": list(nominal),
                                    "flavors": [{"name": RESOURCE_FLAVOR, "resources": resources}]}],
                "preemption": {
                    # A group takes its own quota back from the groups that borrowed it.
                    "reclaimWithinCohort": "Any",
                    "withinClusterQueue": "LowerPriority",
                },
                "fairSharing": {"weight": "1"},
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=[flavor]))
