"""Argo Workflows' controller for the whole cluster, which runs the Workflows that KFP compiles
pipelines to, in the tenants' namespaces; its config sets what every pipeline pod runs with."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s
import yaml

from infra.components.common import CONTAINER_SECURITY, labels, pod_security
from infra.components.kubeflow_pipelines.common import ARTIFACT_SECRET, Part, Shared, env_from_field, rule
from infra.components.kubeflow_pipelines.pipelines_namespace import kfp_service_env
from infra.config import Resources

WORKFLOW_CONTROLLER_CONFIGMAP = "workflow-controller-configmap"
# Pipeline pods run as this user (Argo's workflowDefaults); KFP mounts emptyDirs at /.local,
# /.cache and /.config so that pip and friends work for a uid without a home directory.
PIPELINE_UID = 1000
_ARGO_UID = 8737      # upstream's non-root Argo user (the offline images' USER)


# Argo's message for a node whose pod disappeared (workflow/controller/operator.go), and the exit
# code of a main container stopped by SIGTERM (128 + 15): the pod was taken away from the step.
POD_DELETED_MESSAGE = "pod deleted"
SIGTERM_EXIT_CODE = 143


def pod_loss_retry(retries: int) -> dict | None:
    """Argo's retryStrategy for every template of every workflow: start a step again when the
    platform took its pod away, never when the step itself failed. Kueue reclaims a borrowed GPU
    by deleting the borrower's pod (Argo: Error, "pod deleted"); a drained node or a preemption
    seen before the pod is gone stops it with SIGTERM (exit 143). Policy Always so that both
    phases reach the expression; a DAG's own failure ("child ... failed") never matches it, and a
    template with its own retry (KFP's set_retry) keeps its own. None when `retries` is 0."""
    if not retries:
        return None
    return {"limit": retries, "retryPolicy": "Always",
            "expression": f'lastRetry.message == "{POD_DELETED_MESSAGE}" || lastRetry.exitCode == "{SIGTERM_EXIT_CODE}"'}


def workflow_controller_config(executor: Resources, kfp_namespace: str, pod_loss_retries: int = 0) -> dict[str, str]:
    """The workflow-controller-configmap (Argo's config/config.go; one YAML document per key).

    Every pipeline pod runs as PIPELINE_UID with the restricted pod security context, and Argo's
    executor and the main container drop every capability. Every main container (the drivers',
    which KFP's compiler gives no ConfigMap, and the steps') gets kfp_service_env(). A step whose
    pod was taken away is started again up to `pod_loss_retries` times (pod_loss_retry()). No
    artifact repository: each pipelines namespace has its own (artifact_repositories()), with its
    own bucket and keys."""
    container_defaults = {"securityContext": CONTAINER_SECURITY}
    service_env = [{"name": name, "value": value} for name, value in kfp_service_env(kfp_namespace).items()]
    defaults: dict = {"securityContext": pod_security(PIPELINE_UID)}
    retry = pod_loss_retry(pod_loss_retries)
    if retry:
        defaults["retryStrategy"] = retry
    config = {
        # Image and pull policy: the controller's --executor-image* flags.
        "executor": {"resources": executor.to_kubernetes(), **container_defaults},
        "mainContainer": {**container_defaults, "env": service_env},
        "workflowDefaults": {"spec": defaults},
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
        args, workload = self._args, "workflow-controller"
        config = k8s.core.v1.ConfigMap(
            f"{self._name}-workflow-controller-config",
            metadata={"name": WORKFLOW_CONTROLLER_CONFIGMAP, "namespace": self._ns, "labels": labels(workload, "pipelines")},
            data=workflow_controller_config(args.config.resources["argo-executor"], args.config.namespace,
                                            args.config.pod_loss_retries),
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
            # After a pod changes, Argo looks at its workflow again this much later (its default,
            # 10 s, is about 7 s of idle time per pod: kubeflowPipelines.workflowRequeueSeconds).
            "env": [env_from_field("LEADER_ELECTION_IDENTITY", "metadata.name"),
                    {"name": "DEFAULT_REQUEUE_TIME", "value": f"{args.config.workflow_requeue_seconds}s"}],
            "ports": [{"name": "metrics", "containerPort": 9090}, {"name": "healthz", "containerPort": 6060}],
            "livenessProbe": {"httpGet": {"path": "/healthz", "port": 6060}, "initialDelaySeconds": 90,
                              "periodSeconds": 60, "timeoutSeconds": 30, "failureThreshold": 3},
            "securityContext": {"readOnlyRootFilesystem": True},
            "resources": args.config.resources["workflow-controller"].to_kubernetes(),
        }], service_account=account, depends_on=[*depends_on, config])
