"""The platform's Pulumi program: config -> components -> exports (see __main__.py)."""

import sys
from pathlib import Path

# The names shared with the pipeline components (mlops_components.contract) are imported from
# pipeline_components/, the package the pipeline images carry; it needs nothing but the standard library.
_COMPONENTS = str(Path(__file__).resolve().parent.parent / "pipeline_components")
if _COMPONENTS not in sys.path:
    sys.path.append(_COMPONENTS)
