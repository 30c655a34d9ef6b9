"""Kubeflow Pipelines 2.14.3 in multi-user mode on Argo Workflows 3.6.18, defined here from what
the KFP and Argo programs read, not from their manifests.

Multi-user: every research group's namespace is a pipelines namespace. A run executes in the
namespace of its experiment, as that namespace's `pipeline-runner` ServiceAccount, under its
ResourceQuota, LimitRange and NetworkPolicies, with its own bucket and S3 keys. The objects that
upstream's profile controller would make in each such namespace are declared by the Tenants
component from `pipelines_namespace_objects()` here (no metacontroller).

Who the caller is: the API server authorizes every request with a SubjectAccessReview on the
resources of `pipelines.kubeflow.org` (ClusterRoles EDIT_CLUSTER_ROLE and VIEW_CLUSTER_ROLE, bound
per tenant to its members and groups). It authenticates callers by their bearer token only
(TokenReview, audience `pipelines.kubeflow.org`): upstream also trusts a user-id header, which any
pod that reaches the API server could set without a service mesh, so the header is configured to
a name that no HTTP or gRPC request can carry (IDENTITY_HEADER_DISABLED). With the Login
component (people_login_namespace), a second API server, `ml-pipeline-people`, trusts the header
that the Login component's oauth2-proxy sets; only the UI's pods reach it, and only that proxy's
pods reach the UI, which then runs in multi-user mode with a group selector (dashboard_lib.js).

Workloads, all in one namespace: the KFP API server (`ml-pipeline`), persistence agent and
scheduled-workflow controller (watching every namespace); the ML Metadata gRPC server
(`metadata-grpc-service`) that the driver and launcher of every pipeline step record lineage in;
Argo's workflow controller for the whole cluster (ClusterRole); MySQL (in-cluster StatefulSet or
external) with the databases `mlpipeline` (API server) and `metadb` (metadata server), which both
programs create; and, with `ui`, the web UI (`ml-pipeline-ui`) with the gRPC-Web proxy
(`metadata-envoy-service`) through which the browser reads ML Metadata.

One child component per part, under the parent KubeflowPipelines (component.py: the namespace,
CRDs, bucket Secret, install ConfigMap, user ClusterRoles and NetworkPolicies): database.py,
api_server.py (the API server and its two controllers), metadata.py, argo.py and ui.py (with the
gRPC-Web proxy, which serves only the browser). Each part keeps the logical names its objects had
when the parent declared them all, and aliases them to the parent: no replacement on a stack
deployed before the split. What a tenant's pipelines namespace holds: pipelines_namespace.py.

Names the KFP programs look up are kept: the Services `ml-pipeline` and `metadata-grpc-service`,
and per pipelines namespace the ConfigMaps `kfp-launcher` (pipeline root and the S3 provider the
launcher writes artifacts with) and `metadata-grpc-configmap` (where the driver and launcher find
the metadata server and the API server), Argo's `artifact-repositories`, the Secret
`mlpipeline-minio-artifact` and the ServiceAccount `pipeline-runner`.

Pod Security: the platform's own workloads meet the restricted standard. Pipeline pods get a
restricted pod security context and container security contexts for Argo's executor and the main
container through the workflow controller's defaults, but the `kfp-launcher` init container that
KFP's compiler adds sets none, so pipelines namespaces enforce `baseline` and warn/audit
`restricted`.
"""

from infra.components.kubeflow_pipelines.api_server import (
    IDENTITY_HEADER_DISABLED,
    KubeflowPipelinesApiServer,
)
from infra.components.kubeflow_pipelines.argo import (
    PIPELINE_UID,
    WORKFLOW_CONTROLLER_CONFIGMAP,
    KubeflowPipelinesArgo,
    workflow_controller_config,
)
from infra.components.kubeflow_pipelines.common import (
    API_GRPC_PORT,
    API_HTTP_PORT,
    API_SERVICE,
    ARTIFACT_SECRET,
    DATABASE_PORT,
    INSTALL_CONFIGMAP,
    METADATA_DATABASE,
    METADATA_ENVOY_PORT,
    METADATA_ENVOY_SERVICE,
    METADATA_GRPC_PORT,
    METADATA_SERVICE,
    PIPELINE_DATABASE,
    PIPELINE_RUNNER,
    PIPELINES_GROUP,
    S3_REGION,
    TOKEN_AUDIENCE,
    UI_PORT,
    UI_SERVICE,
    UI_SERVICE_PORT,
    UI_WORKLOADS,
    WORKLOADS,
    KubeflowPipelinesArgs,
    KubeflowPipelinesImages,
)
from infra.components.kubeflow_pipelines.component import (
    EDIT_CLUSTER_ROLE,
    EDIT_RULES,
    VIEW_CLUSTER_ROLE,
    VIEW_RULES,
    KubeflowPipelines,
)
from infra.components.kubeflow_pipelines.database import (
    KubeflowPipelinesDatabase,
)
from infra.components.kubeflow_pipelines.metadata import (
    KubeflowPipelinesMetadata,
)
from infra.components.kubeflow_pipelines.pipelines_namespace import (
    ARTIFACT_REPOSITORIES_ANNOTATIONS,
    ARTIFACT_REPOSITORIES_CONFIGMAP,
    LAUNCHER_CONFIGMAP,
    METADATA_CONFIGMAP,
    RUNNER_RULES,
    artifact_repositories,
    kfp_service_env,
    launcher_providers,
    pipelines_namespace_config,
)
from infra.components.kubeflow_pipelines.ui import (
    KubeflowPipelinesUi,
)

__all__ = [
    "API_GRPC_PORT",
    "API_HTTP_PORT",
    "API_SERVICE",
    "ARTIFACT_REPOSITORIES_ANNOTATIONS",
    "ARTIFACT_REPOSITORIES_CONFIGMAP",
    "ARTIFACT_SECRET",
    "DATABASE_PORT",
    "EDIT_CLUSTER_ROLE",
    "EDIT_RULES",
    "IDENTITY_HEADER_DISABLED",
    "INSTALL_CONFIGMAP",
    "LAUNCHER_CONFIGMAP",
    "METADATA_CONFIGMAP",
    "METADATA_DATABASE",
    "METADATA_ENVOY_PORT",
    "METADATA_ENVOY_SERVICE",
    "METADATA_GRPC_PORT",
    "METADATA_SERVICE",
    "PIPELINES_GROUP",
    "PIPELINE_DATABASE",
    "PIPELINE_RUNNER",
    "PIPELINE_UID",
    "RUNNER_RULES",
    "S3_REGION",
    "TOKEN_AUDIENCE",
    "UI_PORT",
    "UI_SERVICE",
    "UI_SERVICE_PORT",
    "UI_WORKLOADS",
    "VIEW_CLUSTER_ROLE",
    "VIEW_RULES",
    "WORKFLOW_CONTROLLER_CONFIGMAP",
    "WORKLOADS",
    "KubeflowPipelines",
    "KubeflowPipelinesApiServer",
    "KubeflowPipelinesArgo",
    "KubeflowPipelinesArgs",
    "KubeflowPipelinesDatabase",
    "KubeflowPipelinesImages",
    "KubeflowPipelinesMetadata",
    "KubeflowPipelinesUi",
    "artifact_repositories",
    "kfp_service_env",
    "launcher_providers",
    "pipelines_namespace_config",
    "workflow_controller_config",
]
