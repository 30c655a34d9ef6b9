"""Prepare a Pulumi workspace for one stack outside the source tree.

`pulumi stack init` with the passphrase secrets provider writes a per-machine encryption salt
into the stack's config file, and `--config` flags persist there too. To keep the tracked
stacks/ files untouched, the Makefile's targets run Pulumi in a generated workspace: a copy of
Pulumi.yaml whose `main` and virtualenv point back at this checkout, and a copy of the stack's
config, optionally with extra settings (e.g. render mode) and without its encrypted values.

usage: workspace.py STACK WORKSPACE_DIR [--drop-secrets] [--set KEY=VALUE ...]
A KEY `namespace:key.field` sets one field of an object value (kept from the stack file or added).
Prints the keys of dropped secret values, one per line.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("stack")
    parser.add_argument("workspace", type=Path)
    parser.add_argument("--drop-secrets", action="store_true", help="leave out `secure:` values")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="extra plain config value")
    args = parser.parse_args()

    project = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())
    source = ROOT / project["stackConfigDir"] / f"Pulumi.{args.stack}.yaml"
    if not source.is_file():
        known = sorted(p.name[len("Pulumi."):-len(".yaml")] for p in source.parent.glob("Pulumi.*.yaml"))
        sys.exit(f"no stack config {source}; known stacks: {', '.join(known)}")

    project["main"] = str(ROOT / project["main"])
    project["runtime"]["options"]["virtualenv"] = str(ROOT / project["runtime"]["options"]["virtualenv"])
    project["stackConfigDir"] = "."
    args.workspace.mkdir(parents=True, exist_ok=True)
    (args.workspace / "Pulumi.yaml").write_text(yaml.safe_dump(project, sort_keys=False))

    stack_file = yaml.safe_load(source.read_text()) or {}
    config = stack_file.get("config") or {}
    dropped = []
    if args.drop_secrets:
        for key in [k for k, v in config.items() if isinstance(v, dict) and set(v) == {"secure"}]:
            del config[key]
            dropped.append(key)
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep:
            sys.exit(f"--set expects KEY=VALUE, got {item!r}")
        namespace, _, name = key.partition(":")
        top, dot, field = name.partition(".")
        if not dot:
            config[key] = value
            continue
        target = config.setdefault(f"{namespace}:{top}", {})
        if not isinstance(target, dict):
            sys.exit(f"--set {key}: {namespace}:{top} is not an object in the stack file")
        *parents, leaf = field.split(".")
        for part in parents:
            target = target.setdefault(part, {})
        target[leaf] = value
    target = args.workspace / f"Pulumi.{args.stack}.yaml"
    previous = yaml.safe_load(target.read_text()) if target.is_file() else {}
    kept = {k: v for k, v in (previous or {}).items() if k in ("encryptionsalt", "secretsprovider")}
    kept_secrets = {k: v for k, v in ((previous or {}).get("config") or {}).items()
                    if isinstance(v, dict) and set(v) == {"secure"} and k not in config}
    target.write_text(yaml.safe_dump({**kept, "config": {**config, **kept_secrets}}, sort_keys=False))
    print("\n".join(dropped))
    return 0


if __name__ == "__main__":
    sys.exit(main())
