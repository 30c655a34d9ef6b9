"""What a pipelines namespace (a tenant's) holds for KFP, as upstream's profile controller would
write it: the ConfigMaps the launcher, driver and Argo read, and the pipeline runner's rules. The
Tenants component declares them in each tenant namespace."""

from __future__ import annotations

from urllib.parse import urlsplit

import yaml

from infra.components.kubeflow_pipelines.common import (
    API_GRPC_PORT,
    API_SERVICE,
    ARTIFACT_SECRET,
    METADATA_GRPC_PORT,
    METADATA_SERVICE,
    S3_REGION,
    rule,
)

LAUNCHER_CONFIGMAP = "kfp-launcher"
METADATA_CONFIGMAP = "metadata-grpc-configmap"
ARTIFACT_REPOSITORIES_CONFIGMAP = "artifact-repositories"  # Argo's per-namespace repositories
ARTIFACT_REPOSITORIES_ANNOTATIONS = {"workflows.argoproj.io/default-artifact-repository": "default"}

# The pipeline runner of a pipelines namespace: the driver (its pod, PVCs of kfp-kubernetes, the
# ConfigMaps it reads), the launcher and Argo's executor (the bucket Secret, task results). Of the
# Secrets it reads the bucket's only: other Secrets reach a step through its pod spec (the kubelet
# reads them). The deploy step's model servers: Deployments and Services, and the pods and events
# it reads when a rollout fails. No Secret writes, no pod changes.
RUNNER_RULES = [
    rule([""], ["pods"], ["get", "watch"]),
    rule([""], ["configmaps"], ["get", "list", "watch"]),
    {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"], "resourceNames": [ARTIFACT_SECRET]},
    rule([""], ["persistentvolumeclaims"], ["create", "get", "delete"]),
    rule(["argoproj.io"], ["workflowtaskresults"], ["create", "patch"]),
    rule(["apps"], ["deployments"], ["get", "list", "watch", "create", "update", "patch", "delete"]),
    rule([""], ["services"], ["get", "create", "update", "patch", "delete"]),
    rule([""], ["pods/log", "events"], ["get", "list"]),
]


def launcher_providers(endpoint: str) -> str:
    """The `providers` entry of the kfp-launcher ConfigMap (backend/src/v2/config/env.go, s3.go):
    every s3:// artifact goes to the platform's object store with the scoped user's keys."""
    parts = urlsplit(endpoint)
    return yaml.safe_dump({"s3": {"default": {
        "endpoint": parts.netloc,
        "region": S3_REGION,
        "disableSSL": parts.scheme != "https",
        "forcePathStyle": True,
        "credentials": {"fromEnv": False, "secretRef": {
            "secretName": ARTIFACT_SECRET, "accessKeyKey": "accesskey", "secretKeyKey": "secretkey"}},
    }}}, sort_keys=False)


def kfp_service_env(kfp_namespace: str) -> dict[str, str]:
    """Where the driver and launcher of a step find the metadata server and the API server's task
    API: by these variables (backend/src/v2/metadata/env.go, cacheutils/cache.go), which the
    Services' links would set in their own namespace; elsewhere they fall back to `*.kubeflow`.
    The driver passes METADATA_GRPC_SERVICE_HOST/PORT to the launcher's flags (v2/driver/driver.go)."""
    return {
        "METADATA_GRPC_SERVICE_HOST": f"{METADATA_SERVICE}.{kfp_namespace}.svc.cluster.local",
        "METADATA_GRPC_SERVICE_PORT": str(METADATA_GRPC_PORT),
        "METADATA_GRPC_SERVICE_SERVICE_HOST": f"{METADATA_SERVICE}.{kfp_namespace}.svc.cluster.local",
        "METADATA_GRPC_SERVICE_SERVICE_PORT": str(METADATA_GRPC_PORT),
        "ML_PIPELINE_SERVICE_HOST": f"{API_SERVICE}.{kfp_namespace}.svc.cluster.local",
        "ML_PIPELINE_SERVICE_PORT_GRPC": str(API_GRPC_PORT),
    }


def artifact_repositories(endpoint: str, bucket: str) -> dict[str, str]:
    """Argo's `artifact-repositories` ConfigMap of a pipelines namespace: step logs archived in
    the namespace's own bucket with its own keys."""
    parts = urlsplit(endpoint)
    return {"default": yaml.safe_dump({"archiveLogs": True, "s3": {
        "endpoint": parts.netloc,
        "bucket": bucket,
        "region": S3_REGION,
        "insecure": parts.scheme != "https",
        "keyFormat": "artifacts/{{workflow.name}}/{{workflow.creationTimestamp.Y}}/"
                     "{{workflow.creationTimestamp.m}}/{{workflow.creationTimestamp.d}}/{{pod.name}}",
        "accessKeySecret": {"name": ARTIFACT_SECRET, "key": "accesskey"},
        "secretKeySecret": {"name": ARTIFACT_SECRET, "key": "secretkey"},
    }}, sort_keys=False)}


def pipelines_namespace_config(kfp_namespace: str, endpoint: str, bucket: str) -> dict[str, dict[str, str]]:
    """The ConfigMaps of a pipelines namespace (what upstream's profile controller writes):
    name -> data. KFP's compiler gives the launcher and importer `metadata-grpc-configmap` as
    environment: kfp_service_env() (the workflow controller also sets it on every main container)."""
    return {
        LAUNCHER_CONFIGMAP: {"defaultPipelineRoot": f"s3://{bucket}/v2/artifacts",
                             "providers": launcher_providers(endpoint)},
        METADATA_CONFIGMAP: kfp_service_env(kfp_namespace),
        ARTIFACT_REPOSITORIES_CONFIGMAP: artifact_repositories(endpoint, bucket),
    }
