"""Which of TARGETS (name -> [host, port]) accept a TCP connection from the backup's namespace: the
backup must reach the databases and the object store it copies, and nothing else.

Run by tests/platform/test_backup.py."""

import json
import os
import socket


def connect(host, port):
    try:
        with socket.create_connection((host, port), timeout=4):
            return "open"
    except OSError as error:
        return type(error).__name__
print("RESULT " + json.dumps({name: connect(host, port) for name, (host, port) in json.loads(os.environ["TARGETS"]).items()}))
