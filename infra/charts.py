"""The upstream Helm charts the platform deploys: the one place where chart versions are pinned.

Production pulls each chart from its OCI repository. An air-gapped site (and the local stack)
points the component's `chart` key at a local folder holding the same chart version; the offline
build extracts it from the Go module that also pins the program's source (offline/charts.sh:
Kueue's chart is charts/kueue in the sigs.k8s.io/kueue module), so the folder is checked to hold
the pinned version before anything is deployed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class UpstreamChart:
    # oci://<registry>/<path>/<name>: Helm pulls <name>:<version> from there.
    repository: str
    version: str


UPSTREAM_CHARTS: dict[str, UpstreamChart] = {
    # Kueue (Apache-2.0): the queueing controller of the research groups' pipeline steps
    # (Queueing component). Its image, "kueue" in infra/images.toml, has the same version.
    "kueue": UpstreamChart("oci://registry.k8s.io/kueue/charts/kueue", "0.17.0"),
}


def local_chart_path(value: str) -> Path:
    """A `chart` key's folder: absolute, or relative to the repository root."""
    path = Path(value)
    return path if path.is_absolute() else ROOT / path


def local_chart_problem(value: str, pinned: UpstreamChart) -> str:
    """'' when `value` names a folder holding the pinned chart version, else what is wrong."""
    chart_file = local_chart_path(value) / "Chart.yaml"
    hint = "extract it with offline/charts.sh (from the pinned Go module), or set '' to pull it from " + pinned.repository
    if not chart_file.is_file():
        return f"no Helm chart there ({chart_file} is missing); {hint}"
    version = str((yaml.safe_load(chart_file.read_text()) or {}).get("version", ""))
    if version != pinned.version:
        return f"the chart there is version {version or '(none)'}, the platform pins {pinned.version}; {hint}"
    return ""
