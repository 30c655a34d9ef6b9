"""Every container image the platform runs: the one place where image references are pinned.

Production pulls the upstream images below. An air-gapped site (and the local kind cluster,
whose images are built offline) sets `images.registry` to its mirror: the registry host of
every reference is replaced and the repository path and tag are kept, so a mirror populated
with `crane copy`/`skopeo copy` under the same paths works unchanged. `images.overrides` maps
a name to a complete reference for one image (e.g. a site-built MinIO image).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class UpstreamImage:
    registry: str
    repository: str
    tag: str

    def reference(self, registry: str = "") -> str:
        return f"{registry or self.registry}/{self.repository}:{self.tag}"


UPSTREAM_IMAGES: dict[str, UpstreamImage] = {
    # SeaweedFS 4.53 (Apache-2.0): the object store of the local stack and Kubeflow's default.
    "seaweedfs": UpstreamImage("docker.io", "chrislusf/seaweedfs", "4.53"),
    # MinIO community edition is archived; its last release published as an image. The image
    # also carries `mc`, which the bucket Job uses. Sites that build RELEASE.2025-10-15 (source
    # only) from source set images.overrides.minio.
    "minio": UpstreamImage("quay.io", "minio/minio", "RELEASE.2025-09-07T16-13-09Z"),
    # Debian 12's PostgreSQL major version, so the offline-built image and upstream agree.
    "postgres": UpstreamImage("docker.io", "library/postgres", "15.14-bookworm"),
    # MySQL for Kubeflow Pipelines' API server and ML Metadata (KFP's default database; its
    # PostgreSQL mode cannot work in 2.14.3). Offline: MariaDB 10.11 from Debian with the same
    # interface (offline/images/mariadb.sh), set as an override in the local stack.
    "mysql": UpstreamImage("docker.io", "library/mysql", "8.4.6"),
    # MLflow server; PyPI mlflow at the same version (3.17.2: the newest whose mlflow-skinny
    # and mlflow-tracing are on PyPI here) is baked into the offline image.
    "mlflow": UpstreamImage("ghcr.io", "mlflow/mlflow", "v3.17.2"),
    # Kubeflow Pipelines 2.14.3 backend (KubeflowPipelines component). Offline, the five Go
    # programs are built from the Go module at the 2.14.3 commit (offline/images/kubeflow-pipelines.sh).
    "kfp-api-server": UpstreamImage("ghcr.io", "kubeflow/kfp-api-server", "2.14.3"),
    "kfp-persistence-agent": UpstreamImage("ghcr.io", "kubeflow/kfp-persistence-agent", "2.14.3"),
    "kfp-scheduled-workflow": UpstreamImage("ghcr.io", "kubeflow/kfp-scheduled-workflow-controller", "2.14.3"),
    "kfp-driver": UpstreamImage("ghcr.io", "kubeflow/kfp-driver", "2.14.3"),
    "kfp-launcher": UpstreamImage("ghcr.io", "kubeflow/kfp-launcher", "2.14.3"),
    # KFP's web UI (kubeflowPipelines.ui) and the Envoy that translates its browser's gRPC-Web
    # calls for the metadata server. Offline: the UI is built from the same Go module's frontend/
    # with npm (offline/images/kfp-frontend.sh); the Envoy's stand-in is a Python gRPC-Web proxy
    # (offline/images/metadata/grpc_web_proxy.py) on the metadata server's image.
    "kfp-frontend": UpstreamImage("ghcr.io", "kubeflow/kfp-frontend", "2.14.3"),
    "kfp-metadata-envoy": UpstreamImage("ghcr.io", "kubeflow/kfp-metadata-envoy", "2.14.3"),
    # ML Metadata gRPC server that KFP 2.14.3's driver and launcher record lineage in. Upstream's
    # is C++ (Bazel); the offline image serves the same gRPC API from the PyPI ml-metadata wheel
    # (offline/images/metadata.sh) and accepts the same command-line flags.
    "mlmd-server": UpstreamImage("gcr.io", "tfx-oss-public/ml_metadata_store_server", "1.14.0"),
    # Argo Workflows, the engine KFP compiles runs to (3.6.18: newest 3.6 patch; KFP 2.14.3 was
    # released against 3.6.7).
    "argo-workflow-controller": UpstreamImage("quay.io", "argoproj/workflow-controller", "v3.6.18"),
    "argoexec": UpstreamImage("quay.io", "argoproj/argoexec", "v3.6.18"),
    # The image pipeline components run in (Python 3.11, kfp 2.14.3, scikit-learn, the MLflow
    # client, boto3): built by offline/images/pipeline-base.sh. It has no public upstream; a site
    # builds it with REGISTRY=<its registry> and pushes it there (images.registry then resolves it).
    "pipeline-base": UpstreamImage("ghcr.io", "mlops-platform/pipeline-base", "py3.11-kfp2.14.3"),
    # The pipeline base image plus PyTorch 2.15.0 and its CUDA 13 runtime wheels (about 6.4 GB),
    # for the train_torch component: built by offline/images/pipeline-torch.sh, no public upstream
    # either (the same REGISTRY=<its registry> build and push).
    "pipeline-torch": UpstreamImage("ghcr.io", "mlops-platform/pipeline-torch", "py3.11-kfp2.14.3-torch2.15.0"),
    # Kueue's controller manager (Queueing component; its chart is pinned in infra/charts.py at the
    # same version). Offline: built from the sigs.k8s.io/kueue Go module (offline/images/kueue.sh).
    "kueue": UpstreamImage("registry.k8s.io", "kueue/kueue", "v0.17.0"),
    # NVIDIA device plugin (GPU component): advertises nvidia.com/gpu, time-slicing and MIG. Offline:
    # built from the github.com/NVIDIA/k8s-device-plugin Go module (offline/images/nvidia-device-plugin.sh).
    "nvidia-device-plugin": UpstreamImage("nvcr.io", "nvidia/k8s-device-plugin", "v0.17.4"),
    # People's sign-in (Login component): Dex, the OpenID Connect provider, and oauth2-proxy in front
    # of the Kubeflow Pipelines UI. Offline: built from their Go modules (offline/images/login.sh;
    # Dex v2.45.1 by the pseudo-version of its tag).
    "dex": UpstreamImage("ghcr.io", "dexidp/dex", "v2.45.1"),
    "oauth2-proxy": UpstreamImage("quay.io", "oauth2-proxy/oauth2-proxy", "v7.15.6"),
    # DCGM exporter (GPU component, optional): per-GPU metrics for Prometheus.
    "dcgm-exporter": UpstreamImage("nvcr.io", "nvidia/k8s/dcgm-exporter", "3.3.9-3.6.1-ubuntu22.04"),
}


def resolve_image(name: str, registry: str = "", overrides: dict[str, str] | None = None) -> str:
    """The reference to run for image `name`, honouring the registry mirror and overrides."""
    if name not in UPSTREAM_IMAGES:
        raise ValueError(f"unknown image {name!r}; known images: {', '.join(sorted(UPSTREAM_IMAGES))}")
    if overrides and name in overrides:
        return overrides[name]
    return UPSTREAM_IMAGES[name].reference(registry)
