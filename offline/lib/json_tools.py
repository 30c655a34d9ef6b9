"""The JSON the offline builders read and write (python3's standard library only, as the build
machine has it), called from offline/build-tools.sh, offline/lib/build.sh and
offline/images/kind-node.sh instead of Python embedded in their shell.

usage:
  json_tools.py plugin-installed NAME KIND VERSION < `pulumi plugin ls --json`
      exit 0 when the plugin cache has that plugin version, 1 when not
  json_tools.py schema-version SCHEMA OUT VERSION
      SCHEMA (a Pulumi provider schema) with its "version" set, written compact to OUT
  json_tools.py kind-oci-spec HOOK < `ctr oci spec`
      containerd's default OCI spec with HOOK added as a createContainer hook and no rlimits
  json_tools.py go-download-field JSON FIELD
      FIELD of `go mod download -json` output JSON (Dir, Zip, Version, ...); Commit and Time are read
      from the module's .info file (Commit: the origin's hash; empty when the proxy recorded none)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def plugin_installed(plugins: list | None, name: str, kind: str, version: str) -> bool:
    return any(p["name"] == name and p["kind"] == kind and p["version"] == version for p in plugins or [])


def schema_version(schema: dict, version: str) -> str:
    return json.dumps({**schema, "version": version}, separators=(",", ":"))


def kind_oci_spec(spec: dict, hook: str) -> str:
    spec.setdefault("hooks", {}).setdefault("createContainer", []).append({"path": hook})
    spec["process"].pop("rlimits", None)
    return json.dumps(spec, indent=2)


def go_download_field(info: dict, field: str) -> str:
    if info.get("Error"):
        raise ValueError("go mod download: " + info["Error"])
    if field in ("Commit", "Time") and info.get("Info"):
        meta = json.loads(Path(info["Info"]).read_text())
        return (meta.get("Origin") or {}).get("Hash", "") if field == "Commit" else meta.get("Time", "")
    return str(info.get(field, ""))


def main(argv: list[str]) -> int:
    command, args = (argv[0], argv[1:]) if argv else ("", [])
    try:
        if command == "plugin-installed" and len(args) == 3:
            return 0 if plugin_installed(json.load(sys.stdin), *args) else 1
        if command == "schema-version" and len(args) == 3:
            Path(args[1]).write_text(schema_version(json.loads(Path(args[0]).read_text()), args[2]))
            return 0
        if command == "kind-oci-spec" and len(args) == 1:
            print(kind_oci_spec(json.load(sys.stdin), args[0]))
            return 0
        if command == "go-download-field" and len(args) == 2:
            print(go_download_field(json.loads(args[0]), args[1]))
            return 0
    except (ValueError, OSError, KeyError) as error:
        sys.exit(f"json_tools.py {command}: {error}")
    sys.exit("usage:" + __doc__.split("usage:", 1)[1].rstrip())


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
