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
    # MLflow server; PyPI mlflow at the same version (3.17.2: the newest whose mlflow-skinny
    # and mlflow-tracing are on PyPI here) is baked into the offline image.
    "mlflow": UpstreamImage("ghcr.io", "mlflow/mlflow", "v3.17.2"),
    # NVIDIA device plugin (GPU component): advertises nvidia.com/gpu, time-slicing and MIG.
    "nvidia-device-plugin": UpstreamImage("nvcr.io", "nvidia/k8s-device-plugin", "v0.17.1"),
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
