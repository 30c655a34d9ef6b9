"""Runs as a pipeline step does (the pipeline runner's ServiceAccount token, the pipeline image) and
makes the Kubernetes API calls CALLS ([method, path, body]): prints each call's HTTP status.

Run by tests/platform/test_platform.py."""

import json
import os
import ssl
import urllib.error
import urllib.request

with open("/var/run/secrets/kubernetes.io/serviceaccount/token") as token_file:
    token = token_file.read()
context = ssl.create_default_context(cafile="/var/run/secrets/kubernetes.io/serviceaccount/ca.crt")
statuses = {}
for method, path, body in json.loads(os.environ["CALLS"]):
    content = "application/merge-patch+json" if method == "PATCH" else "application/json"
    request = urllib.request.Request("https://kubernetes.default.svc" + path, method=method,
                                     data=json.dumps(body).encode() if body is not None else None,
                                     headers={"Authorization": "Bearer " + token, "Content-Type": content})
    try:
        statuses[f"{method} {path}"] = urllib.request.urlopen(request, context=context, timeout=30).status
    except urllib.error.HTTPError as error:
        statuses[f"{method} {path}"] = error.code
print("RESULT " + json.dumps(statuses))
