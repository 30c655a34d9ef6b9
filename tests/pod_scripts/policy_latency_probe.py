"""How long a new pod waits until HOST PORT (its arguments) accepts a TCP connection: the
NetworkPolicy engine's lag for a new pod.

Run by smoke_tests/measure_network_policy.py."""

import json
import socket
import sys
import time

started, tries = time.time(), 0
host, port = sys.argv[1], int(sys.argv[2])
while True:
    tries += 1
    try:
        socket.create_connection((host, port), timeout=1).close()
        break
    except OSError:
        time.sleep(0.02)
print("RESULT " + json.dumps({"started": started, "connected": time.time(), "tries": tries}))
