"""Kueue on the platform that `make up` deployed, checked with real pods on the cluster's GPUs
(the CI cluster advertises 2 fake `nvidia.com/gpu`; each local tenant has a quota of 1 and may
borrow 1): a GPU pod over its group's quota waits in the group's queue, gated, with Kueue's reason,
and starts when the group's running pod finishes; a group borrows the other's idle GPU and gives
it back, by preemption, when the owner submits work.

The pods are what Argo creates for a pipeline step: plain pods in the tenant namespace, which
Kueue's pod integration admits through the namespace's LocalQueue `default`."""

from __future__ import annotations

import json
import uuid

import pytest

from infra.components.queueing import DEFAULT_LOCAL_QUEUE
from tests.cluster.test_local_cluster import kubectl, wait_for
from tests.platform.test_platform import CFG, pipeline_image, tenant_named

pytestmark = pytest.mark.e2e
GPU = "nvidia.com/gpu"
ADMISSION_GATE = "kueue.x-k8s.io/admission"


def cluster_gpus() -> int:
    nodes = json.loads(kubectl("get", "nodes", "-o", "json"))["items"]
    return sum(int(node["status"].get("allocatable", {}).get(GPU, "0")) for node in nodes)


@pytest.fixture
def gpu_tenants():
    """The pods a test creates, deleted after it (each test starts with both groups idle)."""
    if not CFG.queueing.enabled:
        pytest.fail("the local stack has queueing.enabled false: nothing queues the tenants' work")
    vision, nlp = tenant_named("vision"), tenant_named("nlp")
    gpus = cluster_gpus()
    if gpus < vision.quota.gpu + nlp.quota.gpu:
        pytest.skip(f"SKIPPED LOUDLY: the cluster advertises {gpus} {GPU}, fewer than the two tenants' GPU quotas "
                    f"({vision.quota.gpu} + {nlp.quota.gpu}); the CI cluster has 2 fake GPUs "
                    "(offline/cluster-check.sh: MLOPS_FAKE_GPUS=2; a dev cluster: make cluster MLOPS_FAKE_GPUS=2)")
    assert (vision.quota.gpu, nlp.quota.gpu) == (1, 1), "the scenario below assumes one GPU per tenant"
    assert vision.borrowing_limit.gpu != 0, "vision may borrow a GPU"
    assert nlp.borrowing_limit.gpu != 0, "nlp may borrow a GPU"
    created: list[tuple[str, str]] = []
    yield created
    for namespace, name in created:
        kubectl("delete", "pod", "-n", namespace, name, "--ignore-not-found", "--timeout=60s", check=False)


def gpu_pod(created: list, namespace: str, prefix: str, seconds: int) -> str:
    """A pod asking for one GPU that sleeps `seconds`, as a pipeline step would be created (no queue
    named: the namespace's default LocalQueue)."""
    name = f"{prefix}-{uuid.uuid4().hex[:6]}"
    resources = {"cpu": "10m", "memory": "32Mi", GPU: "1"}
    pod = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": name, "labels": {"app.kubernetes.io/part-of": "mlops-platform-tests"}},
           "spec": {"restartPolicy": "Never", "automountServiceAccountToken": False, "terminationGracePeriodSeconds": 1,
                    "securityContext": {"runAsNonRoot": True, "runAsUser": 1000, "seccompProfile": {"type": "RuntimeDefault"}},
                    "containers": [{"name": "work", "image": pipeline_image(), "imagePullPolicy": "IfNotPresent",
                                    "command": ["sleep", str(seconds)],
                                    "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
                                    "resources": {"requests": resources, "limits": {**resources, "cpu": "100m"}}}]}}
    kubectl("apply", "-n", namespace, "-f", "-", stdin=json.dumps(pod))
    created.append((namespace, name))
    return name


def pod(namespace: str, name: str) -> dict:
    out = kubectl("get", "pod", "-n", namespace, name, "-o", "json", "--ignore-not-found")
    return json.loads(out) if out.strip() else {}


def gated(obj: dict) -> bool:
    return any(gate["name"] == ADMISSION_GATE for gate in obj.get("spec", {}).get("schedulingGates", []) or [])


def running(namespace: str, name: str):
    def probe():
        obj = pod(namespace, name)
        return obj.get("status", {}).get("phase") == "Running", {
            "phase": obj.get("status", {}).get("phase"), "gated": gated(obj), "workload": workload_state(namespace, name)}
    return probe


def workload(namespace: str, pod_name: str) -> dict:
    """Kueue's Workload of a plain pod: owned by the pod."""
    items = json.loads(kubectl("get", "workloads.kueue.x-k8s.io", "-n", namespace, "-o", "json"))["items"]
    return next((w for w in items if any(ref["name"] == pod_name for ref in w["metadata"].get("ownerReferences", []))), {})


def workload_state(namespace: str, pod_name: str) -> dict:
    conditions = workload(namespace, pod_name).get("status", {}).get("conditions", [])
    return {c["type"]: f"{c['status']} {c.get('reason', '')}: {c.get('message', '')}" for c in conditions}


def borrowed_gpus(cluster_queue: str) -> str:
    status = json.loads(kubectl("get", "clusterqueues.kueue.x-k8s.io", cluster_queue, "-o", "json")).get("status", {})
    return next((r.get("borrowed", "0") for flavor in status.get("flavorsReservation", [])
                 for r in flavor["resources"] if r["name"] == GPU), "0")


def test_a_group_at_its_gpu_quota_waits_in_its_queue_and_runs_when_its_first_pod_finishes(gpu_tenants):
    vision, nlp = tenant_named("vision"), tenant_named("nlp")
    for tenant in (vision, nlp):
        queue = json.loads(kubectl("get", "localqueues.kueue.x-k8s.io", "-n", tenant.namespace, DEFAULT_LOCAL_QUEUE, "-o", "json"))
        assert queue["spec"]["clusterQueue"] == tenant.namespace
    first = gpu_pod(gpu_tenants, vision.namespace, "queue-first", 45)
    wait_for(f"vision's first GPU pod {first} running", running(vision.namespace, first), timeout=180)
    # nlp holds its own GPU: nothing idle is left for vision to borrow.
    holder = gpu_pod(gpu_tenants, nlp.namespace, "queue-holder", 900)
    wait_for(f"nlp's GPU pod {holder} running", running(nlp.namespace, holder), timeout=180)

    second = gpu_pod(gpu_tenants, vision.namespace, "queue-second", 5)

    def waiting():
        obj, state = pod(vision.namespace, second), workload_state(vision.namespace, second)
        reserved = state.get("QuotaReserved", "")
        return gated(obj) and reserved.startswith("False") and GPU in reserved, {"gated": gated(obj), "workload": state}
    state = wait_for(f"vision's second GPU pod {second} pending in the queue with Kueue's reason", waiting, timeout=60)
    assert pod(vision.namespace, first)["status"]["phase"] == "Running", \
        f"the second pod must wait while the first still runs; it waits with: {state}"
    assert "insufficient" in state["workload"]["QuotaReserved"].lower(), state

    def succeeded():
        obj = pod(vision.namespace, second)
        return obj.get("status", {}).get("phase") == "Succeeded", {
            "phase": obj.get("status", {}).get("phase"), "gated": gated(obj),
            "first": pod(vision.namespace, first).get("status", {}).get("phase"), "workload": workload_state(vision.namespace, second)}
    wait_for(f"vision's second GPU pod {second} admitted and finished after the first", succeeded, timeout=240)
    first_end = pod(vision.namespace, first)["status"]["containerStatuses"][0]["state"]["terminated"]["finishedAt"]
    second_start = pod(vision.namespace, second)["status"]["containerStatuses"][0]["state"]["terminated"]["startedAt"]
    assert second_start >= first_end, f"the second pod started at {second_start}, before the first ended at {first_end}"


def test_a_group_borrows_the_idle_gpu_and_gives_it_back_when_the_owner_submits(gpu_tenants):
    vision, nlp = tenant_named("vision"), tenant_named("nlp")

    def vision_idle():
        pods = json.loads(kubectl("get", "pods", "-n", vision.namespace, "-o", "json"))["items"]
        busy = [p["metadata"]["name"] for p in pods if p["status"].get("phase") in ("Pending", "Running")
                and any(GPU in c.get("resources", {}).get("requests", {}) for c in p["spec"]["containers"])]
        return not busy, busy
    wait_for("vision to hold no GPU pod", vision_idle, timeout=120)
    owned = gpu_pod(gpu_tenants, nlp.namespace, "borrow-own", 900)
    wait_for(f"nlp's own GPU pod {owned} running", running(nlp.namespace, owned), timeout=180)
    borrower = gpu_pod(gpu_tenants, nlp.namespace, "borrow-idle", 900)
    wait_for(f"nlp's second GPU pod {borrower} running on vision's idle GPU", running(nlp.namespace, borrower), timeout=180)
    assert borrowed_gpus(nlp.namespace) == "1", "nlp's second GPU is borrowed from the cohort"

    owner = gpu_pod(gpu_tenants, vision.namespace, "reclaim", 30)
    state = wait_for(f"vision's GPU pod {owner} running on its GPU taken back", running(vision.namespace, owner), timeout=240)
    assert not gated(pod(vision.namespace, owner)), state

    def preempted():
        events = json.loads(kubectl("get", "events", "-n", nlp.namespace, "--field-selector", "reason=Preempted", "-o", "json"))
        messages = [e.get("message", "") for e in events["items"]]
        nlp_running = [name for _, name in gpu_tenants if pod(nlp.namespace, name).get("status", {}).get("phase") == "Running"
                       and not pod(nlp.namespace, name)["metadata"].get("deletionTimestamp")]
        return any("reclamation" in m.lower() for m in messages) and len(nlp_running) <= 1, {
            "events": messages, "nlp running": nlp_running}
    state = wait_for("one of nlp's borrowing pods preempted for vision (reclamation within the cohort)", preempted, timeout=120)
    assert borrowed_gpus(nlp.namespace) == "0", f"nlp still borrows after the reclaim: {state}"


def test_kueues_aggregated_visibility_api_answers_through_the_api_server():
    """Kueue registers an aggregated API (visibility.kueue.x-k8s.io: the pending workloads of a
    queue). If the API server cannot reach it, discovery of that group fails and the namespace
    controller deletes no namespace anywhere in the cluster (NamespaceDeletionDiscoveryFailure):
    it must answer, as the API server sees it."""
    vision = tenant_named("vision")
    path = (f"/apis/visibility.kueue.x-k8s.io/v1beta2/namespaces/{vision.namespace}/localqueues/"
            f"{DEFAULT_LOCAL_QUEUE}/pendingworkloads")
    answer = json.loads(kubectl("get", "--raw", path))
    assert answer["kind"] == "PendingWorkloadsSummary", answer
    apis = kubectl("api-resources", "-o", "name", capture_stderr=True)
    assert "unable to retrieve the complete list of server APIs" not in apis, apis
