"""Refuses an image load the disk cannot hold, before `kind load docker-image` starts (dev_cluster/up.sh
load and load-gpu). From a fresh machine, session 21's `make test` filled an 80 GB disk at the load of
the Go-module images, an hour in: kind's `docker save` stopped with "no space left on device". This
check says it first, with the numbers, and names what can be freed.

What a load writes (an estimate, on the high side): kind saves the images some node lacks into one
archive in TMPDIR, and each node that lacks an image stores it twice in its containerd (the layers
from the archive and their unpacked snapshot), in its container's file system under Docker's data
root. Layers the images share count once (sizes from `docker image history`). The check keeps
MLOPS_LOAD_RESERVE_GB (default 2) free after the load. Measured on make test's cluster (2026-12-08): the
PyTorch image (6.36 GB) took 10.75 GB in the GPU node's /var/lib/containerd (this estimate: 12.7 GB); a
node's layers of images it already holds are not subtracted, so the estimate errs high. Two loads that
run at once (make up loads the PyTorch image beside the others) are each checked alone.

usage: load_space.py CLUSTER NODE[,NODE...]|- IMAGE...   (-: every node of the cluster)
exit 0: room enough (one line on stderr says how much is used); 1: refused, with the reason.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

GB = 1000**3


@dataclass(frozen=True)
class Need:
    archive: int  # bytes in TMPDIR
    nodes: int  # bytes under Docker's data root
    missing: dict[str, list[str]]  # node -> images it lacks


def need(layers: dict[str, dict[str, int]], present: dict[str, set[str]]) -> Need:
    """What loading the images of LAYERS (image -> its layers' IDs and sizes) onto the nodes of PRESENT
    (node -> the images it has) writes: the archive holds each layer of the wanted images once, and a
    node stores each layer of the images it lacks twice (blob and snapshot), once however many of them
    share it."""
    missing = {node: [image for image in layers if image not in have] for node, have in present.items()}

    def once(images) -> int:
        return sum({layer: size for image in images for layer, size in layers[image].items()}.values())

    wanted = [image for image in layers if any(image in images for images in missing.values())]
    return Need(archive=once(wanted), nodes=sum(2 * once(images) for images in missing.values()),
                missing={node: images for node, images in missing.items() if images})


def shortfall(load: Need, tmp: tuple[int, int], docker: tuple[int, int], reserve: int) -> list[str]:
    """Why the load does not fit, as lines (none: it fits). TMP and DOCKER: (device, free bytes) of
    TMPDIR and Docker's data root; on one device their needs add up."""
    if tmp[0] == docker[0]:
        wanted = load.archive + load.nodes + reserve
        return [] if wanted <= tmp[1] else [
            f"it needs about {wanted / GB:.1f} GB on the file system of TMPDIR and Docker's data root "
            f"(archive {load.archive / GB:.1f} GB, the nodes' copies {load.nodes / GB:.1f} GB, "
            f"{reserve / GB:.0f} GB kept free): {tmp[1] / GB:.1f} GB are free"]
    lines = []
    if load.archive + reserve > tmp[1]:
        lines.append(f"its archive needs about {(load.archive + reserve) / GB:.1f} GB in TMPDIR "
                     f"({reserve / GB:.0f} GB kept free): {tmp[1] / GB:.1f} GB are free")
    if load.nodes + reserve > docker[1]:
        lines.append(f"the nodes' copies need about {(load.nodes + reserve) / GB:.1f} GB under Docker's data root "
                     f"({reserve / GB:.0f} GB kept free): {docker[1] / GB:.1f} GB are free")
    return lines


def _run(*command: str) -> str:
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout


def image_layers(image: str, inspected: dict) -> dict[str, int]:
    """The image's layers (diff ID -> bytes), from `docker image history`: its entries that made a
    layer are the non-empty ones, oldest last. When they do not pair with the layers one to one (a
    layer of 0 bytes), the whole image counts as one layer of its own: more, never less."""
    diff_ids = inspected["RootFS"]["Layers"]
    sizes = [int(size) for size in _run("docker", "image", "history", "--human=false", "--format", "{{.Size}}", image).split()]
    made = [size for size in reversed(sizes) if size > 0]
    if len(made) != len(diff_ids):
        return {inspected["Id"]: int(inspected["Size"])}
    return dict(zip(diff_ids, made, strict=True))


def _du_gb(path: Path) -> str:
    if not path.is_dir():
        return "absent"
    done = subprocess.run(["du", "-sb", str(path)], capture_output=True, text=True, check=False)
    return f"{int(done.stdout.split()[0]) / GB:.1f} GB" if done.stdout else "size unknown"


def what_to_free(cache: Path) -> list[str]:
    """The large things a developer machine holds that can go, with their sizes."""
    gomod = _run("go", "env", "GOMODCACHE").strip() if shutil.which("go") else ""
    lines = [f"  - the builders' Go build cache {cache / 'go-build'} ({_du_gb(cache / 'go-build')}): "
             "lower MLOPS_GO_BUILD_CACHE_MB, or delete it (a rebuild compiles again)"]
    if gomod:
        lines.append(f"  - the Go module cache {gomod} ({_du_gb(Path(gomod))}): go clean -modcache "
                     "(the next build downloads what it needs again)")
    dangling = subprocess.run(["docker", "images", "-q", "--filter", "dangling=true"],
                              capture_output=True, text=True, check=False).stdout.split()
    lines.append(f"  - {len(dangling)} untagged Docker images: docker image prune")
    clusters = subprocess.run(["kind", "get", "clusters"], capture_output=True, text=True, check=False).stdout.split()
    if len(clusters) > 1:
        lines.append(f"  - other kind clusters ({', '.join(clusters)}): kind delete cluster --name NAME")
    return lines


def main(argv: list[str]) -> int:
    if len(argv) < 3:
        print(__doc__.split("usage: ")[1].splitlines()[0], file=sys.stderr)
        return 2
    cluster, node_list, images = argv[0], argv[1], argv[2:]
    try:
        reserve = int(float(os.environ.get("MLOPS_LOAD_RESERVE_GB", "2")) * GB)
    except ValueError:
        print(f"MLOPS_LOAD_RESERVE_GB={os.environ['MLOPS_LOAD_RESERVE_GB']}: give the space to keep free in GB (a number)",
              file=sys.stderr)
        return 1
    nodes = _run("kind", "get", "nodes", "--name", cluster).split() if node_list == "-" else node_list.split(",")
    # By image ID, as kind decides: a node holding another build under the same tag gets this one.
    inspected = json.loads(_run("docker", "image", "inspect", *images))
    ids = dict(zip(images, (image["Id"] for image in inspected), strict=True))
    layers = {image: image_layers(image, found) for image, found in zip(images, inspected, strict=True)}
    present = {}
    for node in nodes:
        held = {image["id"] for image in json.loads(_run("docker", "exec", node, "crictl", "images", "-o", "json"))["images"]}
        present[node] = {image for image, image_id in ids.items() if image_id in held}
    load = need(layers, present)
    tmpdir = Path(tempfile.gettempdir())  # kind (Go os.TempDir) reads TMPDIR the same way
    docker_root = Path(_run("docker", "info", "--format", "{{.DockerRootDir}}").strip())
    # The data root may be unreadable (rootless or remote engine): then its free space is not known here.
    if not docker_root.is_dir():
        docker_root = tmpdir
    places = [(os.stat(path).st_dev, shutil.disk_usage(path).free) for path in (tmpdir, docker_root)]
    lines = shortfall(load, places[0], places[1], reserve)
    if not lines:
        print(f"[load] room enough: about {(load.archive + load.nodes) / GB:.1f} GB for {sum(map(len, load.missing.values()))} "
              f"image copies on {len(load.missing)} node(s); {places[1][1] / GB:.1f} GB free under {docker_root}", file=sys.stderr)
        return 0
    cache = Path(os.environ.get("MLOPS_CACHE_DIR") or Path.home() / ".cache" / "mlops-platform")
    print("\n".join([
        f"[load] ERROR: not loading {len(images)} images into the nodes of {cluster}: the disk cannot hold it;",
        *[f"  {line}" for line in lines],
        f"  (images the nodes lack: {', '.join(f'{node} {len(found)}' for node, found in load.missing.items())};"
        f" TMPDIR {tmpdir}, Docker's data root {docker_root})",
        "Free space, then run make up again (what is built stays cached). What this machine holds:",
        *what_to_free(cache)]), file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
