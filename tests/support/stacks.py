"""The shipped stack files (stacks/Pulumi.<stack>.yaml) as tests read them, and where `make render`
writes what a real `pulumi up` in render mode produced."""

from __future__ import annotations

import os
from pathlib import Path

import yaml

from infra.config import PROJECT, PlatformConfig, parse

ROOT = Path(__file__).resolve().parents[2]
STACKS_DIR = ROOT / "stacks"
RENDER_DIR = Path(os.environ.get("MLOPS_RENDER_DIR", ROOT / "build" / "render"))


def stack_values(stack: str) -> tuple[dict, frozenset]:
    """A stack file's values (without the project prefix); secure values count as secret keys."""
    config = yaml.safe_load((STACKS_DIR / f"Pulumi.{stack}.yaml").read_text())["config"]
    raw, secret = {}, set()
    for full_key, value in config.items():
        namespace, key = full_key.split(":", 1)
        if namespace != PROJECT:
            continue
        if isinstance(value, dict) and set(value) == {"secure"}:
            secret.add(key)
            value = "postgresql://mlflow:pw@db.example.edu:5432/mlflow"  # stands in for the ciphertext
        raw[key] = value
    return raw, frozenset(secret)


def stack_config(stack: str) -> PlatformConfig:
    """The stack's validated configuration, as `pulumi up --stack <stack>` parses it."""
    return parse(*stack_values(stack))
