"""Prints the pins a `pip install --dry-run --report REPORT` adds to the base image's lock: every
package the resolver would install, as name==version, except those the base lock already pins
(their versions there held the resolution). Used by the pipeline-torch build when its
requirements.lock is missing.
    python3 added_pins.py REPORT.json BASE.lock > requirements.lock
"""

import json
import re
import sys


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def added_pins(report: dict, base_lock: str) -> list[str]:
    base = {normalized(line.split("==")[0]) for line in base_lock.splitlines() if "==" in line}
    pins = {(item["metadata"]["name"], item["metadata"]["version"]) for item in report["install"]}
    return [f"{name}=={version}" for name, version in sorted(pins, key=lambda pin: normalized(pin[0]))
            if normalized(name) not in base]


if __name__ == "__main__":
    with open(sys.argv[1]) as report, open(sys.argv[2]) as base_lock:
        print("\n".join(added_pins(json.load(report), base_lock.read())))
