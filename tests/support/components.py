"""What the unit tests of the components (tests/unit/components/) share: the research groups
most of them deploy, the namespace of Kubeflow Pipelines and a container's env by name."""

from __future__ import annotations

TENANTS = [{"name": "vision", "members": ["alice"], "groups": ["ml-vision"], "quota": {"gpu": 2}},
           {"name": "nlp", "members": ["bob"]}]


KFP_NS = "mlops-pipelines"


def env_of(container: dict) -> dict[str, dict]:
    return {e["name"]: e for e in container.get("env", [])}
