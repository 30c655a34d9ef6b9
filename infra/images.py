"""Every container image the platform runs, as infra/images.toml lists them: the one place where
image references are pinned (read here, by the builders in offline/images/, by `make up` and by the
pipeline package).

Production pulls the upstream images. An air-gapped site sets `images.registry` to its mirror: the
registry host of every reference is replaced and the repository path and tag are kept, so a mirror
populated with `crane copy`/`skopeo copy` under the same paths works unchanged. The local kind
cluster runs the images built by offline/images/ (`images.offline: true` with `images.registry:
mlops.local`): their offline references, which differ from upstream's where the offline build is
another program (MariaDB for MySQL, the Python metadata server). `images.overrides` maps a name to
a complete reference for one image (e.g. a site-built MinIO image).

Run as a script (plain python3, no dependencies), it answers the builders:
    python3 infra/images.py offline NAME      the reference offline/images/<builder>.sh tags for NAME
                                              (registry: $REGISTRY, default mlops.local)
    python3 infra/images.py builders LANE     the builders `make up` runs in LANE, one per line
"""

from __future__ import annotations

import os
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

LIST = Path(__file__).resolve().with_name("images.toml")
LANES = ("cpu", "io", "gpu", "none")
# The registry name of the images built here when REGISTRY is not set (offline/lib/build.sh).
OFFLINE_REGISTRY = "mlops.local"


@dataclass(frozen=True)
class UpstreamImage:
    registry: str
    repository: str
    tag: str
    # The repository:tag built offline (offline/images/<builder>.sh), without a registry.
    offline: str = ""
    builder: str = ""
    lane: str = "none"

    def reference(self, registry: str = "") -> str:
        return f"{registry or self.registry}/{self.repository}:{self.tag}"

    def offline_reference(self, registry: str = "") -> str:
        """The image offline/images/ builds for this one, under `registry` (default mlops.local)."""
        return f"{registry or OFFLINE_REGISTRY}/{self.offline}"


def _split(reference: str) -> tuple[str, str, str]:
    """registry, repository, tag of `registry/repository:tag`."""
    registry, _, rest = reference.partition("/")
    repository, _, tag = rest.rpartition(":")
    return registry, repository, tag


def load(path: Path = LIST) -> dict[str, UpstreamImage]:
    """The image list; an entry that is not complete is refused with its name and what to write."""
    try:
        entries = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as error:
        raise ValueError(f"{path}: not valid TOML: {error}") from error
    images = {}
    for name, entry in entries.items():
        unknown = set(entry) - {"upstream", "offline", "builder", "lane"}
        registry, repository, tag = _split(entry.get("upstream", ""))
        problems = [f"unknown keys {sorted(unknown)}"] if unknown else []
        if not (registry and repository and tag):
            problems.append(f"upstream = {entry.get('upstream')!r} is not registry/repository:tag")
        if entry.get("lane") not in LANES:
            problems.append(f"lane = {entry.get('lane')!r} is not one of {', '.join(LANES)}")
        builder = entry.get("builder")
        if builder is None:
            problems.append('builder is missing (the script under offline/images/, or "" for none)')
        elif builder and not (path.parents[1] / "offline" / "images" / f"{builder}.sh").is_file():
            problems.append(f"builder = {builder!r}: there is no offline/images/{builder}.sh")
        offline = entry.get("offline", f"{repository}:{tag}" if builder else "")
        if builder and ":" not in offline:
            problems.append(f"offline = {offline!r} is not repository:tag")
        if problems:
            raise ValueError(f"{path}: image [{name}]: " + "; ".join(problems))
        images[name] = UpstreamImage(registry, repository, tag, offline, builder or "", entry["lane"])
    return images


UPSTREAM_IMAGES: dict[str, UpstreamImage] = load()


def resolve_image(name: str, registry: str = "", overrides: dict[str, str] | None = None, offline: bool = False) -> str:
    """The reference to run for image `name`, honouring the overrides, then (offline) the image
    built by offline/images/ under `registry`, else the upstream image with `registry` as mirror."""
    if name not in UPSTREAM_IMAGES:
        raise ValueError(f"unknown image {name!r}; known images: {', '.join(sorted(UPSTREAM_IMAGES))}")
    if overrides and name in overrides:
        return overrides[name]
    image = UPSTREAM_IMAGES[name]
    if offline and image.builder:
        return image.offline_reference(registry)
    return image.reference(registry)


def builders(lane: str) -> list[str]:
    """The builders (offline/images/<builder>.sh) of the images in `lane`, in the list's order."""
    return list(dict.fromkeys(image.builder for image in UPSTREAM_IMAGES.values() if image.builder and image.lane == lane))


def _main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "offline":
        image = UPSTREAM_IMAGES.get(argv[1])
        if image is None or not image.builder:
            known = ", ".join(sorted(n for n, i in UPSTREAM_IMAGES.items() if i.builder))
            print(f"images.py: no image {argv[1]!r} is built offline; those built offline: {known}", file=sys.stderr)
            return 2
        print(image.offline_reference(os.environ.get("REGISTRY", "")))
        return 0
    if len(argv) == 2 and argv[0] == "builders" and argv[1] in LANES:
        print("\n".join(builders(argv[1])))
        return 0
    print(f"usage: python3 infra/images.py offline NAME | builders {{{','.join(LANES)}}}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
