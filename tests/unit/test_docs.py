"""Docs that a test keeps honest: every stack key is documented and CI runs the README's command."""

import re
from pathlib import Path

import pytest

from infra.config import project_defaults

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[2]


def test_stacks_readme_documents_every_key_and_field():
    readme = (ROOT / "stacks" / "README.md").read_text()
    for key, default in project_defaults().items():
        assert f"| `{key}` |" in readme, f"stacks/README.md lacks key {key}"
        for field in default if isinstance(default, dict) else ():
            assert f"`{field}`" in readme, f"stacks/README.md lacks field {key}.{field}"


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    match = re.search(r"^(make \w+)\s+# everything", readme, re.MULTILINE)
    assert match, "README names the test command as `make <target>  # everything ...`"
    ci = (ROOT / ".ci" / "run").read_text()
    assert re.search(rf"^{re.escape(match.group(1))}$", ci, re.MULTILINE), f".ci/run must call `{match.group(1)}`"


def test_every_stack_file_is_described():
    readme = (ROOT / "stacks" / "README.md").read_text()
    for stack_file in (ROOT / "stacks").glob("Pulumi.*.yaml"):
        stack = stack_file.name.split(".")[1]
        assert f"| `{stack}` |" in readme, f"stacks/README.md does not describe stack {stack}"
