"""A new pod's connections are refused for about a second after it starts: the NetworkPolicy engine
(kube-router on the local cluster) learns the pod's address from the API server, and until then the
destinations' ingress rules do not count it among their peers (Kubernetes' NetworkPolicy docs, "Pod
lifecycle": pods must tolerate this, for example by waiting for what they need). The engine programs
every policy in one sync, so once one destination answers, all that the pod may reach do. Every
script pod first waits (up to 60 s) for the object store's S3 port, which every namespace the tests
run in may reach; its TCP connections only, no request.

Run by tests/support/platform.py."""

import json
import os
import socket
import sys
import time

deadline = time.monotonic() + 60
for host, port in json.loads(os.environ["WAIT_FOR"]):
    while True:
        try:
            socket.create_connection((host, port), timeout=2).close()
            break
        except OSError as error:
            if time.monotonic() > deadline:
                sys.exit(f"{host}:{port} did not answer within 60 s of the pod's start: {error}")
            time.sleep(0.2)
