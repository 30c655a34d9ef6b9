#!/usr/bin/env python3
"""A runc wrapper for Docker on hosts whose capability bounding set lacks CAP_SYS_RESOURCE.

Installed by offline/docker.sh as the engine's default runtime (with @RUNC@ replaced by the real
runc). Privileged containers ask for every capability; runc fails on the one the host cannot
grant. This removes CAP_SYS_RESOURCE from the OCI config of `create`/`run` (the bundle's
config.json) and of `exec` (the --process file), then runs the real runc with the same arguments.
"""

import json
import os
import sys

REAL_RUNC = "@RUNC@"
args = sys.argv[1:]


def drop_capability(path: str) -> None:
    with open(path) as f:
        spec = json.load(f)
    process = spec.get("process", spec)  # a --process file is the process object itself
    capabilities = process.get("capabilities") or {}
    for kind in capabilities:
        capabilities[kind] = [c for c in capabilities[kind] if c != "CAP_SYS_RESOURCE"]
    with open(path, "w") as f:
        json.dump(spec, f)


def option(*names: str) -> str | None:
    for i, arg in enumerate(args):
        for name in names:
            if arg == name and i + 1 < len(args):
                return args[i + 1]
            if arg.startswith(name + "="):
                return arg.split("=", 1)[1]
    return None


if "create" in args or "run" in args:
    drop_capability(os.path.join(option("--bundle", "-b") or ".", "config.json"))
if "exec" in args:
    process_file = option("--process", "-p")
    if process_file:
        drop_capability(process_file)
os.execv(REAL_RUNC, ["runc", *args])  # noqa: S606 - replacing this process with runc is the point
