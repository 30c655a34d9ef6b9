"""The test tree's own rule: what tests share lives in a support module (tests/support/,
smoke_tests/smoke.py), so no module imports a test module (test_*.py): importing one runs its
module-level setup again and collects its tests a second time in the importer."""

import ast
import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[2]
TREES = ("tests", "smoke_tests", "pipelines", "infra", "pipeline_components", "platform_backup", "platform_usage",
         "platform_dashboard", "platform_metadata", "offline", "dev_cluster", "ansible")


def imported_modules(path: Path) -> set[str]:
    """Every module `path` imports (absolute names; relative imports resolved against its package)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = ".".join(path.relative_to(ROOT).parent.parts)
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def test_imports_of_test_modules_are_found():
    """The check itself: an import of a test module, absolute or relative, is seen."""
    sample = ROOT / "tests" / "unit" / "sample_importer.py"
    try:
        sample.write_text("from tests.platform.test_platform import CFG\nfrom .test_config import x\nimport smoke_tests.test_smoke\n")
        found = {name for name in imported_modules(sample) if name.rsplit(".", 1)[-1].startswith("test_")}
    finally:
        sample.unlink()
    assert found == {"tests.platform.test_platform", "tests.unit.test_config", "smoke_tests.test_smoke"}


def test_no_module_imports_a_test_module():
    offenders = []
    for tree in TREES:
        for path in sorted((ROOT / tree).rglob("*.py")):
            if any(part.startswith(".") or part in {"node_modules", "__pycache__"} for part in path.parts):
                continue
            for name in sorted(imported_modules(path)):
                if name.rsplit(".", 1)[-1].startswith("test_"):
                    offenders.append(f"{path.relative_to(ROOT)} imports {name}")
    assert not offenders, ("modules import test modules; move what they share into tests/support/ "
                           "(or smoke_tests/smoke.py):\n" + "\n".join(offenders))


def test_every_pod_script_is_run_by_a_test_and_every_one_named_exists():
    scripts = {path.stem for path in (ROOT / "tests" / "pod_scripts").glob("*.py")}
    named = set()
    for tree in ("tests", "smoke_tests"):
        for path in (ROOT / tree).rglob("*.py"):
            named.update(re.findall(r'pod_script\("([a-z0-9_]+)"\)', path.read_text()))
    assert named - scripts == set(), f"pod scripts named but missing in tests/pod_scripts/: {sorted(named - scripts)}"
    assert scripts - named == set(), f"pod scripts no test runs (remove them): {sorted(scripts - named)}"
    readme = (ROOT / "tests" / "pod_scripts" / "README.md").read_text()
    assert not [name for name in scripts if f"`{name}.py`" not in readme], "tests/pod_scripts/README.md lists every script"


def test_every_image_check_script_is_run_by_a_test():
    """offline/images/<image>/check.sh scripts check an image for real; each must be run by a test
    (tests/images/, in `make test` and `make image-checks`) or be removed."""
    scripts = {path.parent.name for path in (ROOT / "offline" / "images").glob("*/check.sh")}
    run = set()
    for path in (ROOT / "tests").rglob("*.py"):
        run.update(re.findall(r'"images" / "([a-z0-9-]+)" / "check\.sh"', path.read_text()))
    assert scripts, "no offline/images/*/check.sh found: the test looks in the wrong place"
    assert scripts - run == set(), f"image check scripts no test runs: {sorted(scripts - run)}"
    assert "pytest -m e2e tests/images" in (ROOT / "Makefile").read_text(), "make image-checks must run tests/images"
    assert '-m e2e "$root/tests/images"' in (ROOT / "dev_cluster" / "cluster-check.sh").read_text(), \
        "make test (dev_cluster/cluster-check.sh) must run tests/images"
