"""Shared test setup: the repository root is importable (tests import `infra`), and pipeline_components/
(`mlops_components.contract`, which infra shares with the pipeline components)."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.append(str(ROOT / "pipeline_components"))
