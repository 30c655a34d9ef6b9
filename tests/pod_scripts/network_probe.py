"""Tries a TCP connection to each of ALLOWED and BLOCKED (name -> [host, port]) once, all at the
same time, from the pod's namespace, and prints open, timeout or refused for each. run_script_pod starts the script only
once the engine has programmed the new pod (WAIT_FOR_NETWORK), so a refusal here is the policy's,
not the engine's lag.

Run by tests/platform/test_network_policies.py."""

import json
import os
import socket
from concurrent.futures import ThreadPoolExecutor


def connect(host, port):
    try:
        with socket.create_connection((host, port), timeout=4):
            return "open"
    except TimeoutError:
        return "timeout"
    except OSError as error:
        return f"refused ({error.__class__.__name__})"


targets = {**json.loads(os.environ["ALLOWED"]), **json.loads(os.environ["BLOCKED"])}
# At once: a dropped connection costs its timeout, and a probe of many blocked targets would add them up.
with ThreadPoolExecutor(max_workers=len(targets)) as pool:
    answers = {name: pool.submit(connect, host, port) for name, (host, port) in targets.items()}
results = {name: answer.result() for name, answer in answers.items()}
print("RESULT " + json.dumps(results))
