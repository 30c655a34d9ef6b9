"""Where Pulumi keeps a stack of this project outside the source tree, and the environment it runs in.

`pulumi stack init` with the passphrase secrets provider writes a per-machine encryption salt
into the stack's config file, and `--config` flags persist there too. To keep the tracked
stacks/ files untouched, the Makefile's targets run Pulumi in a generated workspace: a copy of
Pulumi.yaml whose `main` and virtualenv point back at this checkout, and a copy of the stack's
config, optionally with extra settings (e.g. render mode) and without its encrypted values.

One layout under a state folder serves every caller (`make up`/`make down` through
dev_cluster/up.sh, `make render` through dev_cluster/render.sh, and the tests through
tests/support/deployed.py):
    STATE/workspaces/STACK   the workspace (Pulumi.yaml, Pulumi.STACK.yaml)
    STATE/pulumi-state       the file backend: the stacks' state
    STATE/STACK.passphrase   the passphrase of the stack's secrets (0600), generated once
The local dev cluster's state folder is $MLOPS_STATE_DIR, else the cache folder (state_dir()).

usage: workspace.py STACK STATE_DIR [--drop-secrets] [--set KEY=VALUE ...]
Writes the workspace, makes the backend folder and, when missing, the passphrase, then prints the
environment to run pulumi in as NAME=VALUE lines, and: the workspace folder as MLOPS_PULUMI_WORKSPACE,
the keys of dropped secret values as MLOPS_DROPPED_SECRETS (space-separated), and whether it generated
the passphrase just now as MLOPS_PASSPHRASE_GENERATED (1 or 0).
A KEY `namespace:key.field` sets one field of an object value (kept from the stack file or added).
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Workspace:
    """Where pulumi finds a stack: its workspace folder (Pulumi.yaml and the stack file), the backend
    holding its state, and the file with the passphrase of its secrets."""

    directory: Path
    backend: Path
    passphrase_file: Path

    @classmethod
    def under(cls, state: Path, stack: str) -> Workspace:
        """The layout of one stack under a state folder (the module's docstring)."""
        return cls(state / "workspaces" / stack, state / "pulumi-state", state / f"{stack}.passphrase")

    def env(self) -> dict[str, str]:
        """What pulumi needs to find this stack (the variables the CLI prints)."""
        return {"PULUMI_BACKEND_URL": f"file://{self.backend}", "PULUMI_CONFIG_PASSPHRASE_FILE": str(self.passphrase_file),
                "PULUMI_SKIP_UPDATE_CHECK": "true", "PULUMI_DIY_BACKEND_NO_LEGACY_WARNING": "true"}

    def process_env(self, base: Mapping[str, str] = os.environ) -> dict[str, str]:
        """BASE (default: this process's environment) with env() over it and without
        PULUMI_CONFIG_PASSPHRASE (pulumi refuses it beside the passphrase file): for subprocess."""
        merged = {**base, **self.env()}
        merged.pop("PULUMI_CONFIG_PASSPHRASE", None)
        return merged

    def prepare_backend(self) -> bool:
        """Makes the backend folder and, when missing or empty, a new passphrase (0600, never
        overwritten: it decrypts the stack's secrets). True when it generated the passphrase."""
        self.backend.mkdir(parents=True, exist_ok=True)
        if self.passphrase_file.is_file() and self.passphrase_file.stat().st_size:
            return False
        descriptor = os.open(self.passphrase_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as out:
            out.write(secrets.token_hex(32) + "\n")
        return True


def state_dir(environ: Mapping[str, str] = os.environ) -> Path:
    """The local dev cluster's state folder: $MLOPS_STATE_DIR, else the cache folder as
    offline/lib/build.sh names it ($MLOPS_CACHE_DIR, else $XDG_CACHE_HOME/mlops-platform, else
    ~/.cache/mlops-platform)."""
    if environ.get("MLOPS_STATE_DIR"):
        return Path(environ["MLOPS_STATE_DIR"])
    if environ.get("MLOPS_CACHE_DIR"):
        return Path(environ["MLOPS_CACHE_DIR"])
    home = Path(environ["HOME"]) if environ.get("HOME") else Path.home()
    return Path(environ.get("XDG_CACHE_HOME") or home / ".cache") / "mlops-platform"


def write_workspace(stack: str, directory: Path, drop_secrets: bool = False, settings: tuple[str, ...] = ()) -> list[str]:
    """Writes the workspace of STACK into DIRECTORY; returns the keys of the secret values it left out.
    Raises SystemExit with a message for an unknown stack or a bad setting."""
    project = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())
    source = ROOT / project["stackConfigDir"] / f"Pulumi.{stack}.yaml"
    if not source.is_file():
        known = sorted(p.name[len("Pulumi."):-len(".yaml")] for p in source.parent.glob("Pulumi.*.yaml"))
        sys.exit(f"no stack config {source}; known stacks: {', '.join(known)}")

    project["main"] = str(ROOT / project["main"])
    project["runtime"]["options"]["virtualenv"] = str(ROOT / project["runtime"]["options"]["virtualenv"])
    project["stackConfigDir"] = "."
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "Pulumi.yaml").write_text(yaml.safe_dump(project, sort_keys=False))

    stack_file = yaml.safe_load(source.read_text()) or {}
    config = stack_file.get("config") or {}
    dropped = []
    if drop_secrets:
        for key in [k for k, v in config.items() if isinstance(v, dict) and set(v) == {"secure"}]:
            del config[key]
            dropped.append(key)
    for item in settings:
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
    target = directory / f"Pulumi.{stack}.yaml"
    previous = yaml.safe_load(target.read_text()) if target.is_file() else {}
    kept = {k: v for k, v in (previous or {}).items() if k in ("encryptionsalt", "secretsprovider")}
    kept_secrets = {k: v for k, v in ((previous or {}).get("config") or {}).items()
                    if isinstance(v, dict) and set(v) == {"secure"} and k not in config}
    target.write_text(yaml.safe_dump({**kept, "config": {**config, **kept_secrets}}, sort_keys=False))
    return dropped


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("stack")
    parser.add_argument("state", type=Path, help="the state folder (workspaces/, pulumi-state/, STACK.passphrase)")
    parser.add_argument("--drop-secrets", action="store_true", help="leave out `secure:` values")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="extra plain config value")
    args = parser.parse_args()

    where = Workspace.under(args.state.resolve(), args.stack)
    dropped = write_workspace(args.stack, where.directory, args.drop_secrets, tuple(args.set))
    generated = where.prepare_backend()
    for name, value in {**where.env(), "MLOPS_PULUMI_WORKSPACE": str(where.directory),
                        "MLOPS_DROPPED_SECRETS": " ".join(dropped),
                        "MLOPS_PASSPHRASE_GENERATED": "1" if generated else "0"}.items():
        print(f"{name}={value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
