"""Writes the variables table of each role's README.md from its meta/argument_specs.yml, the one
place a role variable is described (its type, default and purpose), so the README cannot drift.

    python ansible/role_docs.py            rewrite the tables (make role-docs)
    python ansible/role_docs.py --check    exit 1 and name each README whose table differs

The table sits between GENERATED_START and GENERATED_END in the README; the text around it is the
README's own. tests/ansible/test_ansible_static.py runs the check in `make test`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import yaml

ROLES_DIR = Path(__file__).resolve().parent / "roles"
GENERATED_START = "<!-- variables: generated from meta/argument_specs.yml by ansible/role_docs.py (make role-docs) -->"
GENERATED_END = "<!-- end of generated variables -->"


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def _default(option: dict) -> str:
    if "default" not in option:
        return "required" if option.get("required") else "(none)"
    value = option["default"]
    shown = json.dumps(value) if isinstance(value, list | dict | bool) or value is None else str(value)
    if isinstance(value, bool):
        shown = str(value).lower()
    return f"`{_cell(shown)}`" if shown != "" else '`""`'


def table(spec: dict) -> str:
    """The Markdown table of a role's main entry point's options."""
    options = spec["argument_specs"]["main"].get("options") or {}
    rows = ["| Variable | Type | Default | Purpose |", "|---|---|---|---|"]
    for name, option in options.items():
        kind = option.get("type", "str")
        if option.get("elements"):
            kind = f"{kind} of {option['elements']}"
        description = option.get("description", "")
        if isinstance(description, list):
            description = " ".join(description)
        if option.get("choices"):
            description += " One of: " + ", ".join(f"`{choice}`" for choice in option["choices"]) + "."
        rows.append(f"| `{name}` | {kind} | {_default(option)} | {_cell(description)} |")
    return "\n".join(rows)


def render(readme: str, spec: dict) -> str:
    """The README with its generated block replaced (or, the first time, its first variables
    table: the block of lines starting with `| Variable |`)."""
    block = f"{GENERATED_START}\n{table(spec)}\n{GENERATED_END}"
    if GENERATED_START in readme:
        before, rest = readme.split(GENERATED_START, 1)
        if GENERATED_END not in rest:
            raise ValueError(f"{GENERATED_START!r} without {GENERATED_END!r}")
        return before + block + rest.split(GENERATED_END, 1)[1]
    lines = readme.split("\n")
    start = next((i for i, line in enumerate(lines) if line.startswith("| Variable |")), None)
    if start is None:
        raise ValueError("no variables table (a line starting with '| Variable |') and no generated block")
    end = start
    while end < len(lines) and lines[end].startswith("|"):
        end += 1
    return "\n".join([*lines[:start], block, *lines[end:]])


def main(argv: list[str]) -> int:
    check = "--check" in argv
    stale = []
    for role in sorted(p for p in ROLES_DIR.iterdir() if (p / "meta" / "argument_specs.yml").is_file()):
        readme_path = role / "README.md"
        readme = readme_path.read_text()
        try:
            wanted = render(readme, yaml.safe_load((role / "meta" / "argument_specs.yml").read_text()))
        except ValueError as error:
            print(f"{readme_path}: {error}", file=sys.stderr)
            return 2
        if wanted != readme:
            stale.append(str(readme_path))
            if not check:
                readme_path.write_text(wanted)
    if check and stale:
        print("variables tables that differ from meta/argument_specs.yml (run make role-docs):\n  " + "\n  ".join(stale),
              file=sys.stderr)
        return 1
    if not check:
        print(f"rewrote {len(stale)} README(s)" + (f": {', '.join(stale)}" if stale else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
