"""The KFP web UI (`ml-pipeline-ui`) and the gRPC-Web proxy (`metadata-envoy-service`) through
which the browser reads ML Metadata; both only with config.ui."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import SplitResult

import pulumi
import pulumi_kubernetes as k8s

from infra.components.common import content_digest, labels
from infra.components.kubeflow_pipelines.common import (
    API_HTTP_PORT,
    API_SERVICE,
    ARTIFACT_SECRET,
    KFP_UID,
    METADATA_ENVOY_PORT,
    METADATA_ENVOY_SERVICE,
    METADATA_ENVOY_WORKLOAD,
    METADATA_GRPC_PORT,
    METADATA_SERVICE,
    PEOPLE_API_SERVICE,
    UI_PORT,
    UI_SERVICE,
    UI_SERVICE_PORT,
    Part,
    Shared,
    env_from_config,
    env_from_secret,
    rule,
)

# The UI's group selector (served as /dashboard_lib.bundle.js) and its ConfigMap.
DASHBOARD_LIB = Path(__file__).resolve().parent / "dashboard_lib.js"
GROUP_SELECTOR_CONFIGMAP = "ml-pipeline-ui-group-selector"


class KubeflowPipelinesUi(Part):
    """The web UI (frontend/server of KFP 2.14.3): its Node server serves the static app,
    proxies /apis/v1beta1 and /apis/v2beta1 to the API server and /ml_metadata.* to the
    gRPC-Web proxy, and reads artifacts and archived step logs from the bucket with the
    scoped user's keys (from the Secret; for v2 artifacts it reads the Secret that the
    launcher's provider config names, hence `get` on that one Secret only) and live logs from
    the pods. The gRPC-Web proxy (upstream: an Envoy; offline: platform_metadata/
    grpc_web_proxy.py) answers the browser's metadata calls and accepts only the UI's pod."""

    deployment: pulumi.CustomResource  # the UI's

    def __init__(self, shared: Shared, artifact_secret: pulumi.Input[str], store_url: pulumi.Output[SplitResult],
                 api_server: pulumi.Resource, metadata_server: pulumi.Resource) -> None:
        super().__init__("KubeflowPipelinesUi", "frontend", shared)
        self._metadata_proxy(metadata_server)
        self.deployment = self._ui(artifact_secret, store_url, api_server)
        self.register_outputs({"ui": self.deployment.urn})

    def _metadata_proxy(self, metadata_server: pulumi.Resource) -> None:
        args = self._args
        self.service(METADATA_ENVOY_SERVICE, METADATA_ENVOY_WORKLOAD, [("md-envoy", METADATA_ENVOY_PORT)])
        envoy_probe = {"tcpSocket": {"port": METADATA_ENVOY_PORT}, "periodSeconds": 10, "timeoutSeconds": 2}
        self.workload("Deployment", METADATA_ENVOY_WORKLOAD, "metadata-envoy", KFP_UID, [{
            "name": "container",
            "image": args.images.metadata_envoy,
            # Read by the offline proxy; upstream's Envoy has the same target in its config.
            "env": [{"name": "GRPC_WEB_UPSTREAM", "value": f"{METADATA_SERVICE}:{METADATA_GRPC_PORT}"},
                    {"name": "GRPC_WEB_PORT", "value": str(METADATA_ENVOY_PORT)}],
            "ports": [{"name": "md-envoy", "containerPort": METADATA_ENVOY_PORT}],
            "readinessProbe": envoy_probe,
            "livenessProbe": {**envoy_probe, "initialDelaySeconds": 10, "failureThreshold": 6},
            "resources": args.config.resources["metadata-envoy"].to_kubernetes(),
        }], depends_on=[metadata_server])

    def _group_selector(self) -> tuple[list[dict], list[dict], dict]:
        """Behind the Login component, the UI runs in multi-user mode (DEPLOYMENT=KUBEFLOW) and
        asks /dashboard_lib.bundle.js for the namespace to show: dashboard_lib.js, with the groups'
        namespaces and members, from a ConfigMap mounted into the UI's static folder. Returns the
        volumes, mounts and pod annotations (a new selector or group list restarts the UI)."""
        script = DASHBOARD_LIB.read_text()
        groups = json.dumps([{"namespace": namespace, "members": list(members)}
                             for namespace, members in self._args.people_namespaces], indent=1)
        configmap = k8s.core.v1.ConfigMap(
            f"{self._name}-ui-group-selector",
            metadata={"name": GROUP_SELECTOR_CONFIGMAP, "namespace": self._ns, "labels": labels(UI_SERVICE, "pipelines")},
            data={"dashboard_lib.bundle.js": script, "mlops-namespaces.json": groups},
            opts=self.child_opts())
        name = configmap.metadata.apply(lambda m: m["name"])
        mounts = [{"name": "group-selector", "mountPath": f"/client/{key}", "subPath": key, "readOnly": True}
                  for key in ("dashboard_lib.bundle.js", "mlops-namespaces.json")]
        digest = content_digest(script + groups)
        return ([{"name": "group-selector", "configMap": {"name": name}}], mounts,
                {"mlops-platform/group-selector": digest})

    def _ui(self, artifact_secret: pulumi.Input[str], store_url: pulumi.Output[SplitResult],
            api_server: pulumi.Resource) -> pulumi.CustomResource:
        args = self._args
        volumes, mounts, annotations = self._group_selector() if args.people_login_namespace else ([], [], {})
        account = self.service_account(UI_SERVICE, [], cluster_rules=[
            rule([""], ["pods", "pods/log", "events"], ["get", "list"]),
            {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"], "resourceNames": [ARTIFACT_SECRET]},
            rule(["argoproj.io"], ["workflows"], ["get", "list"]),
        ])
        self.service(UI_SERVICE, UI_SERVICE, [("http", UI_SERVICE_PORT, UI_PORT)])
        ready = {"httpGet": {"path": "/apis/v2beta1/healthz", "port": UI_PORT}, "periodSeconds": 10, "timeoutSeconds": 3}
        alive = {"httpGet": {"path": "/", "port": UI_PORT}, "periodSeconds": 20, "timeoutSeconds": 3, "failureThreshold": 6}
        secure = store_url.apply(lambda p: str(p.scheme == "https").lower())
        return self.workload("Deployment", UI_SERVICE, "ui", KFP_UID, [{
            "name": "ml-pipeline-ui",
            "image": args.images.ui,
            "env": [
                # Behind the Login component: the people API server, which knows the signed-in
                # person by the header the proxy sets (the UI passes request headers on).
                {"name": "ML_PIPELINE_SERVICE_HOST", "value": pulumi.Output.concat(
                    PEOPLE_API_SERVICE if args.people_login_namespace else API_SERVICE, ".", self._ns, ".svc.cluster.local")},
                {"name": "ML_PIPELINE_SERVICE_PORT", "value": str(API_HTTP_PORT)},
                {"name": "METADATA_ENVOY_SERVICE_SERVICE_HOST",
                 "value": pulumi.Output.concat(METADATA_ENVOY_SERVICE, ".", self._ns, ".svc.cluster.local")},
                {"name": "METADATA_ENVOY_SERVICE_SERVICE_PORT", "value": str(METADATA_ENVOY_PORT)},
                # The object store, for minio:// artifacts and Argo's archived logs ("" namespace:
                # the host is used as given, not suffixed with ".kubeflow").
                env_from_config("MINIO_HOST", "objectStoreHost"),
                env_from_config("MINIO_PORT", "objectStorePort"),
                {"name": "MINIO_NAMESPACE", "value": ""},
                {"name": "MINIO_SSL", "value": secure},
                env_from_secret("MINIO_ACCESS_KEY", artifact_secret, "accesskey"),
                env_from_secret("MINIO_SECRET_KEY", artifact_secret, "secretkey"),
                {"name": "ARGO_ARCHIVE_LOGS", "value": "true"},
                {"name": "ARGO_ARCHIVE_ARTIFACTORY", "value": "minio"},
                {"name": "ARGO_ARCHIVE_BUCKETNAME", "value": args.config.bucket},
                {"name": "FRONTEND_SERVER_NAMESPACE", "value": self._ns},
                {"name": "DISABLE_GKE_METADATA", "value": "true"},
                {"name": "ALLOW_CUSTOM_VISUALIZATIONS", "value": "false"},
                # Who asks for an artifact or a log: the UI server's own checks ask the API server
                # with this header of the request (and its bearer token).
                *([{"name": "KUBEFLOW_USERID_HEADER", "value": args.people_identity_header},
                   {"name": "KUBEFLOW_USERID_PREFIX", "value": ""},
                   # Multi-user mode: every page asks for its namespace (the group selector's).
                   {"name": "DEPLOYMENT", "value": "KUBEFLOW"},
                   {"name": "HIDE_SIDENAV", "value": "false"}] if args.people_login_namespace else []),
            ],
            "ports": [{"name": "http", "containerPort": UI_PORT}],
            "readinessProbe": ready,
            "livenessProbe": {**alive, "initialDelaySeconds": 10},
            "resources": args.config.resources["ui"].to_kubernetes(),
            **({"volumeMounts": mounts} if mounts else {}),
        }], service_account=account, volumes=volumes, depends_on=[api_server], pod_annotations=annotations)
