"""Tries a TCP connection to each of ALLOWED and BLOCKED (name -> [host, port]) once, from the
pod's namespace, and prints open, timeout or refused for each. run_script_pod starts the script only
once the engine has programmed the new pod (WAIT_FOR_NETWORK), so a refusal here is the policy's,
not the engine's lag.

Run by tests/platform/test_network_policies.py."""

import json
import os
import socket


def connect(host, port):
    try:
        with socket.create_connection((host, port), timeout=4):
            return "open"
    except TimeoutError:
        return "timeout"
    except OSError as error:
        return f"refused ({error.__class__.__name__})"


targets = {**json.loads(os.environ["ALLOWED"]), **json.loads(os.environ["BLOCKED"])}
results = {name: connect(host, port) for name, (host, port) in targets.items()}
print("RESULT " + json.dumps(results))
