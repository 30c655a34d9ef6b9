"""`make up`: the local kind cluster with the platform deployed by a real `pulumi up --stack local`,
as stages (dev_cluster/stages.py: progress, expected times, logs, the table of stage times at the end).

The plan, in list order. Lanes: `cpu` for Go compiles, `io` for downloads, package installs and
image builds, so that a compile and a download-bound image build overlap on 2 cores:
  docker engine; the tools (pulumi with its language host, the Kubernetes provider, kind; helm is
  for the chart tests only, `make tools`);
  Kubernetes; the node components; the Debian base image; the platform images (the ones from Go
  modules in the cpu lane, the ones from Debian, PyPI and npm in the io lane); the node image; the
  cluster; the PyTorch image where a node advertises nvidia.com/gpu; loading the images into the
  nodes (those from Debian, PyPI and npm while the Go ones compile); `pulumi up` (dev_cluster/up.sh
  deploy), while the PyTorch image is loaded onto the GPU nodes.

usage: up.py            (environment: MLOPS_BUILD_JOBS=1 runs one stage at a time;
                         MLOPS_STAGES_JSON=FILE also writes the stage times there)
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parents[1]))
from stages import Stage, run_plan

from infra.images import builders

ROOT = Path(__file__).resolve().parents[1]
# The platform images: (builder under offline/images/, lane), from the image list (infra/images.toml,
# in its order). Each builder prints the references it built. The Go-module ones compile in the cpu
# lane; the others mostly download and install.
PLATFORM_IMAGES = [(builder, lane) for lane in ("io", "cpu") for builder in builders(lane)] + [
    # Not the platform's: the stand-in directory the local stack's LDAP connector names (UI login test).
    ("directory", "io"),
]
# Built only where a node advertises nvidia.com/gpu (the list's "gpu" lane: the PyTorch image).
(GPU_IMAGE,) = builders("gpu")


def bash(script: str, *args: str) -> list[str]:
    """The command running SCRIPT (a path from the repository root) with ARGS."""
    return ["bash", str(ROOT / script), *args]


def gpu_nodes() -> list[str]:
    """Nodes that advertise nvidia.com/gpu (kind: MLOPS_FAKE_GPUS=N)."""
    out = subprocess.run(["kubectl", "get", "nodes", "-o", "go-template={{range .items}}{{if index "
                          '.status.allocatable "nvidia.com/gpu"}}{{.metadata.name}} {{end}}{{end}}'],
                         check=True, capture_output=True, text=True).stdout
    return out.split()


def images_built(outputs: dict[str, list[str]], lane: str) -> list[str]:
    return [ref for name, image_lane in PLATFORM_IMAGES if image_lane == lane
            for ref in outputs[f"image: {name}"] if ref.strip()]


def plan() -> list[Stage]:
    images = [Stage(f"image: {name}", bash(f"offline/images/{name}.sh"), lane, ("debian base image",))
              for name, lane in PLATFORM_IMAGES]
    torch = f"image: {GPU_IMAGE}"
    return [
        Stage("docker engine", bash("offline/docker.sh")),
        Stage("tool: pulumi", bash("offline/build-tools.sh", "pulumi"), "cpu"),
        Stage("debian base image", bash("offline/images/debian-base.sh"), "io", ("docker engine",)),
        Stage("tool: kubernetes provider", bash("offline/build-tools.sh", "kubernetes-provider"), "cpu", ("tool: pulumi",)),
        *[s for s in images if s.lane == "io"],
        Stage("tool: kind", bash("offline/build-tools.sh", "kind"), "cpu"),
        Stage("kubernetes", bash("offline/build-kubernetes.sh"), "cpu"),
        Stage("node components", bash("offline/images/build-node-components.sh"), "cpu"),
        Stage("node image", bash("offline/images/kind-node.sh"), "io", ("debian base image", "kubernetes", "node components")),
        Stage("cluster", bash("dev_cluster/cluster.sh", "create"), "io", ("node image", "tool: kind")),
        *[s for s in images if s.lane == "cpu"],
        Stage(torch, lambda _: bash(f"offline/images/{GPU_IMAGE}.sh") if gpu_nodes() else None, "io",
              ("cluster", "image: pipeline-base"), skip_reason="no node advertises nvidia.com/gpu"),
        # The images from Debian, PyPI and npm are loaded while the Go ones still compile.
        Stage("image load: Debian, PyPI, npm images", lambda out: bash("dev_cluster/up.sh", "load", *images_built(out, "io")), "io",
              ("cluster", *[s.name for s in images if s.lane == "io"])),
        Stage("image load: Go-module images", lambda out: bash("dev_cluster/up.sh", "load", *images_built(out, "cpu")), "io",
              ("cluster", *[s.name for s in images if s.lane == "cpu"])),
        # Only pipeline steps use the PyTorch image: it is loaded while `pulumi up` deploys (in the cpu
        # lane, whose compiles are done by then), not before it.
        Stage("image load: GPU nodes", lambda out: bash("dev_cluster/up.sh", "load-gpu", *out[torch]) if out.get(torch) else None,
              "cpu", ("cluster", torch, *[s.name for s in images if s.lane == "cpu"]),
              skip_reason="no PyTorch image: no GPU node"),
        Stage("pulumi up", bash("dev_cluster/up.sh", "deploy"), "io",
              ("image load: Debian, PyPI, npm images", "image load: Go-module images", "tool: kubernetes provider")),
    ]


def main() -> int:
    return run_plan("up", plan(), env=dict(os.environ), epilogue="pulumi up")


if __name__ == "__main__":
    sys.exit(main())
