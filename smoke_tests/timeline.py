"""Where a Kubeflow Pipelines run's time goes, from what the cluster recorded about it: the Argo
Workflow's start and end, each pod's timestamps (created, scheduled, containers started and
finished), Kueue's Workload for each pod (quota reserved) and the step containers' timestamped
logs (the KFP launcher's and the Python executor's lines). No cluster access here: `make bench`
(smoke_tests/bench.py) collects the objects and these functions turn them into numbers.

A step of a KFP v2 pipeline is two pods: a driver (`system-container-driver`: resolves inputs,
records the execution in ML Metadata) and the step itself (`system-container-impl`: Argo's init
container, KFP's launcher copied in by `kfp-launcher`, then the launcher runs the component's Python
"executor" and uploads its outputs). The run also has a root DAG driver. Per pod the phases are:

  queue      pod created -> Kueue reserved quota for it (its Workload's QuotaReserved)
  schedule   quota reserved (or created) -> PodScheduled
  start      scheduled -> the main container started (sandbox, Argo's init, kfp-launcher copy)
  driver     a driver pod's main container, start -> end
  launcher   a step pod's main container minus the executor (launcher before and after it)
  executor   the component's Python: first `[KFP Executor` line -> the launcher's ExecutorOutput line
  exit       main container finished -> the pod finished (Argo's wait container saves the result)
  argo       the rest of the run's wall time: no pod of the run alive, the workflow controller
             between one pod's end and the next one's creation

Kubernetes records pod and condition times in whole seconds; log lines carry nanoseconds. Per-pod
figures are therefore good to about a second; the sums over a run and medians over runs are what
the bench reports.
"""

from __future__ import annotations

import re
import statistics
from dataclasses import dataclass, field
from datetime import datetime

from infra.components.kubeflow_pipelines.argo import (
    ARTIFACT_TRANSFER,
    CONNECTION_REFUSED,
    GRPC_UNAVAILABLE,
    POD_DELETED_MESSAGE,
    SIGTERM_EXIT_CODE,
    TRANSPORT_ERRORS,
)

PHASES = ("queue", "schedule", "start", "driver", "launcher", "executor", "exit", "argo")
OVERHEAD_PHASES = tuple(phase for phase in PHASES if phase != "executor")
RETRY_SUFFIX = re.compile(r"\(\d+\)$")


def seconds(stamp: str | None) -> float | None:
    """An RFC 3339 time (Kubernetes' or a log line's, any fraction) as POSIX seconds."""
    if not stamp:
        return None
    stamp = stamp.strip().replace("Z", "+00:00")
    if "." in stamp:  # Python parses at most microseconds
        head, rest = stamp.split(".", 1)
        digits = "".join(ch for ch in rest if ch.isdigit())
        zone = rest[len(digits):]
        stamp = f"{head}.{digits[:6].ljust(6, '0')}{zone}"
    return datetime.fromisoformat(stamp).timestamp()


@dataclass(frozen=True)
class PodTimes:
    """One pod of a run, reduced to its timestamps (POSIX seconds; None when not recorded)."""

    name: str
    kind: str              # "root-driver", "driver" or "step"
    task: str              # Argo's node name, e.g. "train-model-driver" or "train-model" for the step
    created: float
    quota_reserved: float | None
    scheduled: float | None
    main_started: float | None
    main_finished: float | None
    finished: float | None
    executor_started: float | None = None
    executor_finished: float | None = None
    gpus: int = 0

    def phases(self) -> dict[str, float]:
        """The pod's time per phase (PHASES, without argo), in seconds, clipped at 0."""
        def span(start, end):
            return max(0.0, end - start) if start is not None and end is not None else 0.0
        admitted = self.quota_reserved if self.quota_reserved is not None else self.created
        main = span(self.main_started, self.main_finished)
        executor = span(self.executor_started, self.executor_finished) if self.kind == "step" else 0.0
        return {
            "queue": span(self.created, self.quota_reserved),
            "schedule": span(admitted, self.scheduled),
            "start": span(self.scheduled, self.main_started),
            "driver": main if self.kind != "step" else 0.0,
            "launcher": max(0.0, main - executor) if self.kind == "step" else 0.0,
            "executor": executor,
            "exit": span(self.main_finished, self.finished),
        }


def _condition(pod: dict, kind: str) -> float | None:
    return next((seconds(c.get("lastTransitionTime")) for c in pod.get("status", {}).get("conditions", [])
                 if c.get("type") == kind and c.get("status") == "True"), None)


def _terminated(pod: dict, container: str) -> dict:
    for status in pod.get("status", {}).get("containerStatuses", []):
        if status.get("name") == container:
            return status.get("state", {}).get("terminated") or {}
    return {}


def pod_kind(pod: dict) -> str:
    name = pod["metadata"]["name"]
    if "-system-dag-driver-" in name:
        return "root-driver"
    return "driver" if "-system-container-driver-" in name else "step"


def log_marks(log: str) -> dict[str, float]:
    """From a step's main-container log with kubelet timestamps (`kubectl logs --timestamps`), to
    the nanosecond: when Argo's emissary started capturing (`main_started`), when the component's
    Python executor logged its first line (`executor_started`), when the launcher logged the
    executor's output (`executor_finished`) and when the emissary saw its process exit
    (`main_finished`). Markers a log lacks are absent."""
    marks: dict[str, float] = {}
    for line in log.splitlines():
        stamp, _, text = line.partition(" ")
        if "msg=\"capturing logs\"" in text:
            marks.setdefault("main_started", seconds(stamp))
        elif text.startswith("[KFP Executor"):
            marks.setdefault("executor_started", seconds(stamp))
        elif "] ExecutorOutput:" in text:
            marks["executor_finished"] = seconds(stamp)
        elif "msg=\"sub-process exited\"" in text:
            marks["main_finished"] = seconds(stamp)
    return marks


def pod_times(pod: dict, workloads: dict[str, dict], log: str = "") -> PodTimes:
    """PodTimes of a pod (the API object) given the namespace's Kueue Workloads by name (the pod's
    annotation `kueue.x-k8s.io/workload` names its own) and, for a step pod, its main log."""
    metadata = pod["metadata"]
    workload = workloads.get(metadata.get("annotations", {}).get("kueue.x-k8s.io/workload", ""), {})
    reserved = next((seconds(c["lastTransitionTime"]) for c in workload.get("status", {}).get("conditions", [])
                     if c.get("type") == "QuotaReserved" and c.get("status") == "True"), None)
    main = _terminated(pod, "main")
    finished = [seconds(state.get("finishedAt")) for state in
                (_terminated(pod, status["name"]) for status in pod.get("status", {}).get("containerStatuses", []))]
    kind = pod_kind(pod)
    marks = log_marks(log) if kind == "step" else {}
    # Argo suffixes each node of a template with a retry strategy (kubeflowPipelines.platformFaultRetries)
    # with its attempt, e.g. <workflow>(0).root(0).train-model(0).executor(1): the task is the name.
    node = [RETRY_SUFFIX.sub("", part) for part in
            metadata.get("annotations", {}).get("workflows.argoproj.io/node-name", "").split(".")]
    gpus = sum(int(c.get("resources", {}).get("limits", {}).get("nvidia.com/gpu", 0))
               for c in pod.get("spec", {}).get("containers", []))
    return PodTimes(
        name=metadata["name"], kind=kind,
        # Argo names a step's pod node <workflow>.root.<task>.executor, a driver's <...>.<task>-driver.
        task=node[-2] if node[-1] == "executor" and len(node) > 1 else node[-1],
        created=seconds(metadata["creationTimestamp"]), quota_reserved=reserved,
        scheduled=_condition(pod, "PodScheduled"),
        main_started=marks.get("main_started", seconds(main.get("startedAt"))),
        main_finished=marks.get("main_finished", seconds(main.get("finishedAt"))),
        finished=max(filter(None, finished), default=None) if all(finished) else None,
        executor_started=marks.get("executor_started"), executor_finished=marks.get("executor_finished"), gpus=gpus)


@dataclass
class RunTimeline:
    """One run: its wall time, its pods and the phase totals (PHASES) that add up to the wall time."""

    run_id: str
    tenant: str
    started: float
    finished: float
    pods: list[PodTimes] = field(default_factory=list)

    @property
    def seconds(self) -> float:
        return self.finished - self.started

    @property
    def steps(self) -> int:
        return sum(pod.kind == "step" for pod in self.pods)

    def busy(self) -> float:
        """Seconds of the run during which at least one of its pods existed (created -> finished)."""
        spans = sorted((max(pod.created, self.started), min(pod.finished or self.finished, self.finished))
                       for pod in self.pods)
        total, end = 0.0, self.started
        for start, stop in spans:
            start = max(start, end)
            if stop > start:
                total, end = total + stop - start, stop
        return total

    def phases(self) -> dict[str, float]:
        """Totals per phase over the run's pods; `argo` is the wall time no pod covered. For a
        pipeline whose pods run one after another (the smoke pipeline) they add up to the wall time."""
        totals = dict.fromkeys(PHASES, 0.0)
        for pod in self.pods:
            for phase, value in pod.phases().items():
                totals[phase] += value
        totals["argo"] = max(0.0, self.seconds - self.busy())
        return {phase: round(value, 2) for phase, value in totals.items()}

    def overhead_per_step(self) -> float:
        """Wall time not spent in the components' own code, per step: (run - executors) / steps."""
        return (self.seconds - self.phases()["executor"]) / max(1, self.steps)

    def step_overheads(self) -> list[float]:
        """Per step, in order: the time from the previous step's end (the root driver's for the
        first) to this step's pod's end, less its executor: what one more step costs."""
        steps = sorted((pod for pod in self.pods if pod.kind == "step" and pod.finished),
                       key=lambda pod: pod.finished)
        root = [pod.finished for pod in self.pods if pod.kind == "root-driver" and pod.finished]
        previous = root[0] if root else self.started
        result = []
        for pod in steps:
            executor = pod.phases()["executor"]
            result.append(round(pod.finished - previous - executor, 2))
            previous = pod.finished
        return result


def median(values: list[float]) -> float | None:
    return round(statistics.median(values), 2) if values else None


def summarize(runs: list[RunTimeline]) -> dict:
    """Medians over runs: wall time, per-step overhead (both measures) and each phase per step."""
    steps = [overhead for run in runs for overhead in run.step_overheads()]
    per_step_phases = {phase: median([run.phases()[phase] / max(1, run.steps) for run in runs]) for phase in PHASES}
    return {
        "runs": len(runs), "median_run_s": median([run.seconds for run in runs]),
        "median_overhead_per_step_s": median([run.overhead_per_step() for run in runs]),
        "median_step_overhead_s": median(steps), "step_overheads_s": steps,
        "median_phase_per_step_s": per_step_phases,
    }


def queue_waits(runs: list[RunTimeline]) -> dict[str, dict]:
    """Per tenant, Kueue's queue wait of its runs' pods (created -> quota reserved): median, max,
    and the total per run."""
    result = {}
    for tenant in sorted({run.tenant for run in runs}):
        own = [run for run in runs if run.tenant == tenant]
        waits = [pod.phases()["queue"] for run in own for pod in run.pods]
        result[tenant] = {"pods": len(waits), "median_pod_wait_s": median(waits),
                          "max_pod_wait_s": round(max(waits), 2) if waits else None,
                          "median_run_wait_s": median([sum(pod.phases()["queue"] for pod in run.pods) for run in own])}
    return result


def gpu_shares(runs: list[RunTimeline]) -> dict:
    """Each tenant's GPU-seconds admitted (quota reserved -> pod finished, x GPUs) while both
    tenants had GPU work, and its share of the total: how Kueue divided the GPUs under contention."""
    gpu_pods = [(run.tenant, pod) for run in runs for pod in run.pods if pod.gpus and pod.finished]
    tenants = sorted({tenant for tenant, _ in gpu_pods})
    if len(tenants) < 2:
        return {"contended_window_s": 0.0, "tenants": {tenant: {"gpu_s": 0.0, "share": None} for tenant in tenants}}
    # Contention: from the moment every tenant has a GPU pod waiting or running to the first
    # moment one of them has none left (after that the other has the GPUs to itself).
    start = max(min(pod.created for t, pod in gpu_pods if t == tenant) for tenant in tenants)
    end = min(max(pod.finished for t, pod in gpu_pods if t == tenant) for tenant in tenants)
    used = {}
    for tenant in tenants:
        used[tenant] = sum(max(0.0, min(pod.finished, end) - max(pod.quota_reserved or pod.created, start)) * pod.gpus
                           for t, pod in gpu_pods if t == tenant)
    total = sum(used.values())
    return {"contended_window_s": round(max(0.0, end - start), 2),
            "tenants": {tenant: {"gpu_s": round(used[tenant], 2),
                                 "share": round(used[tenant] / total, 3) if total else None} for tenant in tenants}}


def restart_cause(node: dict) -> str:
    """Why Argo started a pod again (infra/components/kubeflow_pipelines/argo.py's retry), in short."""
    message = node.get("message") or ""
    if message == POD_DELETED_MESSAGE:
        return "pod taken away (Argo: pod deleted)"
    if (node.get("outputs") or {}).get("exitCode") == str(SIGTERM_EXIT_CODE):
        return "stopped by SIGTERM (exit 143)"
    if GRPC_UNAVAILABLE in message and CONNECTION_REFUSED in message:
        return "connection refused while the NetworkPolicy engine caught up"
    if any(words in message for words in ARTIFACT_TRANSFER) and any(error in message for error in TRANSPORT_ERRORS):
        return "an artifact's upload or download refused by the object store (restarting?)"
    return message[:120] or "no message"


def restarts(workflow: dict) -> list[dict]:
    """Each time Argo started a pod again (kubeflowPipelines.platformFaultRetries): the node and
    why its earlier pod ended."""
    nodes = workflow.get("status", {}).get("nodes", {})
    return [{"step": node.get("displayName"), "cause": restart_cause(nodes.get(child, {}))}
            for node in nodes.values() if node.get("type") == "Retry"
            for child in node.get("children", [])[:-1]]
