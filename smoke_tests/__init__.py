"""The smoke pipelines, their end-to-end test and the measurement scripts. Run from a checkout with
the platform's virtualenv, they import `mlops_components` from pipeline_components/ (as infra/ does); in the
pipelines' virtualenv and the pipeline image it is installed and this changes nothing."""

import sys
from pathlib import Path

_COMPONENTS = Path(__file__).resolve().parent.parent / "pipeline_components"
if _COMPONENTS.is_dir() and str(_COMPONENTS) not in sys.path:
    sys.path.append(str(_COMPONENTS))
