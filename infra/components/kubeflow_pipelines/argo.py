"""Argo Workflows' controller for the whole cluster, which runs the Workflows that KFP compiles
pipelines to, in the tenants' namespaces; its config sets what every pipeline pod runs with."""

from __future__ import annotations

import json

import pulumi
import pulumi_kubernetes as k8s
import yaml

from infra.components.common import CONTAINER_SECURITY, labels, pod_security
from infra.components.kubeflow_pipelines.common import (
    ARGO_METRICS_PORT,
    ARTIFACT_SECRET,
    WORKFLOW_CONTROLLER,
    Part,
    Shared,
    env_from_field,
    rule,
)
from infra.components.kubeflow_pipelines.pipelines_namespace import kfp_service_env
from infra.config import Resources

WORKFLOW_CONTROLLER_CONFIGMAP = "workflow-controller-configmap"
# Pipeline pods run as this user (Argo's workflowDefaults); KFP mounts emptyDirs at /.local,
# /.cache and /.config so that pip and friends work for a uid without a home directory.
PIPELINE_UID = 1000
_ARGO_UID = 8737      # upstream's non-root Argo user (the offline images' USER)


# What the platform, not the step, did to a step's pod, as Argo's retry expression sees it:
# Argo's message for a node whose pod disappeared (workflow/controller/operator.go), the exit code
# of a main container stopped by SIGTERM (128 + 15), and the end of a KFP driver's or launcher's
# log (their terminationMessagePolicy is FallbackToLogsOnError) when its first gRPC connection to
# ML Metadata or the API server was refused, or when the launcher could not move an artifact
# to or from the object store because it was restarting (backend/src/v2/component/launcher_v2.go
# of KFP 2.14.3 wraps the transport's error in these words and does not retry itself).
POD_DELETED_MESSAGE = "pod deleted"
SIGTERM_EXIT_CODE = 143
GRPC_UNAVAILABLE = "code = Unavailable"
CONNECTION_REFUSED = "connect: connection refused"
ARTIFACT_TRANSFER = ("failed to upload output artifact", "failed to download input artifact")
TRANSPORT_ERRORS = (CONNECTION_REFUSED, "connection reset by peer", "i/o timeout")
# Argo waits 5, 10, 20 ... s before each new pod: the object store's pod took 34 s to answer
# again after it was deleted (make fault-test), a new pod of the policy engine's lag far less.
RETRY_BACKOFF = {"duration": "5s", "factor": 2}


def platform_fault_retry(retries: int) -> dict | None:
    """Argo's retryStrategy for every template of every workflow: start a step's pod again when
    the platform made it fail, never when the step itself failed.
    - Kueue reclaims a borrowed GPU by deleting the borrower's pod (Argo: Error, "pod deleted"); a
      drained node, or a preemption seen before the pod is gone, stops it with SIGTERM (143).
    - kube-router lets a new pod's traffic through only after it has seen the pod's address in the
      API server, while the pod already runs: KFP's driver, which does not retry, is refused by ML
      Metadata ("rpc error: code = Unavailable ... connect: connection refused") when the engine
      lags (10 runs at once on the local cluster: 6 of 10 failed so). A new pod is a new
      chance; its address is another one, so a fourth refusal in a row fails the run.
    - The object store restarting (its pod deleted or moved): the launcher's upload of a step's
      outputs or download of its inputs is refused, and the launcher gives up at once.
    Policy Always so that Error and Failed both reach the expression; a DAG's own failure ("child
    ... failed") never matches it; a template with its own retry (KFP's set_retry) keeps its own.
    None when `retries` is 0."""
    if not retries:
        return None
    def contains_any(words) -> str:
        return "(" + " || ".join(f'lastRetry.message contains "{word}"' for word in words) + ")"
    refused = f'(lastRetry.message contains "{GRPC_UNAVAILABLE}" && lastRetry.message contains "{CONNECTION_REFUSED}")'
    artifact = f"({contains_any(ARTIFACT_TRANSFER)} && {contains_any(TRANSPORT_ERRORS)})"
    # A preempted step's new pod waits in its queue anyway; the others get time for the service
    # to come back (RETRY_BACKOFF).
    return {"limit": retries, "retryPolicy": "Always", "backoff": dict(RETRY_BACKOFF),
            "expression": f'lastRetry.message == "{POD_DELETED_MESSAGE}" || lastRetry.exitCode == "{SIGTERM_EXIT_CODE}" || '
                          f'{refused} || {artifact}'}


# Every pipeline pod's main container ends its termination message with its log's last lines
# when it fails (Argo appends that message to the node's): the retry expression reads the cause.
# Argo's `wait` container is named first so that the patch keeps the containers' order.
MAIN_LOG_AS_MESSAGE_PATCH = {"containers": [{"name": "wait"},
                                            {"name": "main", "terminationMessagePolicy": "FallbackToLogsOnError"}]}


def workflow_controller_config(executor: Resources, kfp_namespace: str, platform_fault_retries: int = 0) -> dict[str, str]:
    """The workflow-controller-configmap (Argo's config/config.go; one YAML document per key).

    Every pipeline pod runs as PIPELINE_UID with the restricted pod security context, and Argo's
    executor and the main container drop every capability. Every main container (the drivers',
    which KFP's compiler gives no ConfigMap, and the steps') gets kfp_service_env(). A pod that
    the platform made fail is started again up to `platform_fault_retries` times
    (platform_fault_retry(); each main container's failed log ends its message). No artifact
    repository: each pipelines namespace has its own (artifact_repositories()), with its
    own bucket and keys. Its metrics are served on ARGO_METRICS_PORT."""
    container_defaults = {"securityContext": CONTAINER_SECURITY}
    service_env = [{"name": name, "value": value} for name, value in kfp_service_env(kfp_namespace).items()]
    defaults: dict = {"securityContext": pod_security(PIPELINE_UID)}
    retry = platform_fault_retry(platform_fault_retries)
    if retry:
        defaults["retryStrategy"] = retry
        defaults["podSpecPatch"] = json.dumps(MAIN_LOG_AS_MESSAGE_PATCH)
    config = {
        # Image and pull policy: the controller's --executor-image* flags.
        "executor": {"resources": executor.to_kubernetes(), **container_defaults},
        "mainContainer": {**container_defaults, "env": service_env},
        "workflowDefaults": {"spec": defaults},
        # Workflow counts by namespace and phase for Prometheus (the Monitoring component), in plain
        # HTTP: Argo's own TLS would be a self-signed certificate nobody can verify; a NetworkPolicy
        # admits Prometheus alone to the port.
        "metricsConfig": {"enabled": True, "path": "/metrics", "port": ARGO_METRICS_PORT, "secure": False},
    }
    return {key: yaml.safe_dump(value, sort_keys=False) for key, value in config.items()}


class KubeflowPipelinesArgo(Part):
    """Argo's controller for every namespace (multi-user mode runs workflows in the tenants'):
    a ClusterRole as Argo's cluster install has, but Secrets read by name (the bucket's of each
    pipelines namespace), and its leader lease in this namespace (a Role); its config is
    workflow_controller_config(). Argo's CRDs are the parent's: the KFP controllers use them too."""

    deployment: pulumi.CustomResource

    def __init__(self, shared: Shared, crds: list[pulumi.Resource]) -> None:
        super().__init__("KubeflowPipelinesArgo", "argo", shared)
        self.deployment = self._workflow_controller(crds)
        self.register_outputs({"workflow_controller": self.deployment.urn})

    def _workflow_controller(self, depends_on: list[pulumi.Resource]) -> pulumi.CustomResource:
        args, workload = self._args, WORKFLOW_CONTROLLER
        config = k8s.core.v1.ConfigMap(
            f"{self._name}-workflow-controller-config",
            metadata={"name": WORKFLOW_CONTROLLER_CONFIGMAP, "namespace": self._ns, "labels": labels(workload, "pipelines")},
            data=workflow_controller_config(args.config.resources["argo-executor"], args.config.namespace,
                                            args.config.platform_fault_retries),
            opts=self.child_opts(),
        )
        crud = ["get", "list", "watch", "update", "patch", "delete", "create"]
        account = self.service_account("argo", [
            rule(["coordination.k8s.io"], ["leases"], ["create", "get", "update"]),
        ], cluster_rules=[
            rule([""], ["pods", "pods/exec"], ["create", "get", "list", "watch", "update", "patch", "delete"]),
            rule([""], ["configmaps"], ["get", "watch", "list"]),
            rule([""], ["persistentvolumeclaims", "persistentvolumeclaims/finalizers"], ["create", "update", "delete", "get"]),
            rule(["argoproj.io"], ["workflows", "workflows/finalizers", "workflowtasksets", "workflowtasksets/finalizers",
                                   "workflowartifactgctasks"], crud),
            rule(["argoproj.io"], ["workflowtemplates", "workflowtemplates/finalizers"], ["get", "list", "watch"]),
            rule(["argoproj.io"], ["workflowtaskresults"], ["list", "watch", "deletecollection"]),
            rule([""], ["serviceaccounts"], ["get", "list"]),
            {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"], "resourceNames": [ARTIFACT_SECRET]},
            rule(["argoproj.io"], ["cronworkflows", "cronworkflows/finalizers"], ["get", "list", "watch", "update", "patch", "delete"]),
            rule([""], ["events"], ["create", "patch"]),
            rule(["policy"], ["poddisruptionbudgets"], ["create", "get", "delete"]),
        ])
        return self.workload("Deployment", workload, "workflow-controller", _ARGO_UID, [{
            "name": "workflow-controller",
            "image": args.images.workflow_controller,
            "command": ["workflow-controller"],
            "args": ["--configmap", WORKFLOW_CONTROLLER_CONFIGMAP,
                     "--executor-image", args.images.argoexec,
                     "--executor-image-pull-policy", args.image_pull_policy],
            # After a pod changes, Argo looks at its workflow again this much later, and only then
            # starts the next pod (its default, 10 s, is about 7 s of idle time per pod; Go's
            # duration syntax takes "0.3s": kubeflowPipelines.workflowRequeueSeconds).
            "env": [env_from_field("LEADER_ELECTION_IDENTITY", "metadata.name"),
                    {"name": "DEFAULT_REQUEUE_TIME", "value": f"{args.config.workflow_requeue_seconds:g}s"}],
            "ports": [{"name": "metrics", "containerPort": ARGO_METRICS_PORT}, {"name": "healthz", "containerPort": 6060}],
            "livenessProbe": {"httpGet": {"path": "/healthz", "port": 6060}, "initialDelaySeconds": 90,
                              "periodSeconds": 60, "timeoutSeconds": 30, "failureThreshold": 3},
            "securityContext": {"readOnlyRootFilesystem": True},
            "resources": args.config.resources["workflow-controller"].to_kubernetes(),
        }], service_account=account, depends_on=[*depends_on, config])
