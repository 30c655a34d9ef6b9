"""Drop npm packages that the registry does not serve from a package.json and its lock file.

KFP's frontend lists `fs@0.0.1-security` in its devDependencies: a placeholder that npm published
in place of a removed package (no code; the frontend's tests import Node's built-in `fs`). The npm
registry reachable here does not serve it, so `npm ci` fails with 404. This removes each named
package from the root's dependency lists and from the lock (lockfileVersion 2 and 3 `packages`,
version 1 `dependencies`), after checking that nothing else in the lock depends on it. It fails
when a named package is not there, so that a version bump that no longer needs it is noticed.

usage: drop_unserved.py PACKAGE_DIR NAME...
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

SECTIONS = ("dependencies", "devDependencies", "optionalDependencies", "peerDependencies")


def dependents(lock: dict, name: str) -> list[str]:
    """Lock entries other than the root that depend on `name`."""
    found = [path for path, entry in lock.get("packages", {}).items()
             if path and any(name in (entry.get(section) or {}) for section in SECTIONS)]
    found += [f"dependencies.{key}" for key, entry in lock.get("dependencies", {}).items()
              if name in (entry.get("requires") or {})]
    return found


def drop(package_dir: Path, names: list[str]) -> None:
    manifest_path, lock_path = package_dir / "package.json", package_dir / "package-lock.json"
    manifest, lock = json.loads(manifest_path.read_text()), json.loads(lock_path.read_text())
    root = lock.get("packages", {}).get("", {})
    for name in names:
        listed = [section for section in SECTIONS if name in (manifest.get(section) or {})]
        if not listed:
            sys.exit(f"{manifest_path}: {name} is not a dependency any more; drop it from the unserved list")
        users = dependents(lock, name)
        if users:
            sys.exit(f"{lock_path}: {name} is needed by {', '.join(users)}; it cannot be dropped")
        for section in listed:
            del manifest[section][name]
            root.get(section, {}).pop(name, None)
        lock.get("packages", {}).pop(f"node_modules/{name}", None)
        lock.get("dependencies", {}).pop(name, None)
        print(f"dropped {name} ({', '.join(listed)}) from {manifest_path} and its lock")
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")
    lock_path.write_text(json.dumps(lock, indent=2) + "\n")


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__.strip().splitlines()[-1])
    drop(Path(sys.argv[1]), sys.argv[2:])
