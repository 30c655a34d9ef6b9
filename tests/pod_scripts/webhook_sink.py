"""A webhook receiver for Alertmanager: serves on PORT, answers every POST with 200, and once a
notification carries the alert WANTED (firing), on each of the paths WANTED_PATHS (comma-separated;
unset: any path), goes on receiving for LINGER seconds (default 0: what else arrives then is kept too),
prints what it received on its RESULT line and exits. Every POST is printed as it arrives (the pod's
log shows what Alertmanager sent, and when).

Run by tests/platform/test_monitoring.py behind the Service the local stack's heartbeatUrl and its
research groups' webhooks name."""

import json
import os
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

WANTED = os.environ["WANTED"]
PATHS = [path for path in os.environ.get("WANTED_PATHS", "").split(",") if path]
LINGER = float(os.environ.get("LINGER", "0"))
received = []


class Sink(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.send_response(200)
        self.end_headers()
        try:
            notification = json.loads(body)
        except json.JSONDecodeError:
            notification = {"unparsed": body.decode(errors="replace")}
        received.append({"path": self.path, "at": time.time(), "notification": notification})
        print(f"POST {self.path} {json.dumps(notification)}", flush=True)

    def log_message(self, *args):
        pass


def wanted_on(path):
    return any(alert.get("labels", {}).get("alertname") == WANTED and alert.get("status") == "firing"
               for item in received if path is None or item["path"] == path
               for alert in item["notification"].get("alerts", []))


server = HTTPServer(("", int(os.environ["PORT"])), Sink)
print(f"listening on {server.server_port}", flush=True)
while not all(wanted_on(path) for path in PATHS or [None]):
    server.handle_request()
server.timeout = 1
until = time.monotonic() + LINGER
while time.monotonic() < until:
    server.handle_request()
print("RESULT " + json.dumps(received))
