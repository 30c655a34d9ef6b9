"""Runs in the UI's namespace with the pipeline base image, against the web UI's Service, as a browser
with a person's token would (no login yet: the token goes in the Authorization header, which the UI
forwards to the API server): the app's page and bundle, the UI server's health (which asks the API
server), the group's runs through its API proxy, ML Metadata through its gRPC-Web path (the proxy in
front of the metadata server), and a run's v2 artifact through its artifact handler, with the
launcher's provider info, whose Secret (the group's bucket keys) the UI reads from the group's
namespace.

Run by tests/platform/test_platform.py."""

import json
import os
import re
import struct
import urllib.parse
import urllib.request

import boto3

ui, bucket = os.environ["UI"], os.environ["BUCKET"]

def get(path, data=None, headers=None):
    headers = {"Authorization": "Bearer " + os.environ["KFP_TOKEN"], **(headers or {})}
    request = urllib.request.Request(ui + path, data=data, headers=headers, method="POST" if data is not None else "GET")
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return answer.status, dict(answer.headers), answer.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()

def grpc_web(method, message=b""):
    status, headers, body = get("/ml_metadata.MetadataStoreService/" + method, struct.pack(">BI", 0, len(message)) + message,
                                {"Content-Type": "application/grpc-web+proto", "X-Grpc-Web": "1"})
    frames = []
    while len(body) >= 5:
        flags, length = struct.unpack(">BI", body[:5])
        frames.append((flags, body[5:5 + length]))
        body = body[5 + length:]
    trailer = next((payload.decode() for flags, payload in frames if flags == 0x80), "")
    data = b"".join(payload for flags, payload in frames if flags == 0)
    found = re.search(r"grpc-status:(\d+)", trailer)
    return status, headers.get("grpc-status") or (found.group(1) if found else "no grpc-status"), data

result = {}
status, _, page = get("/")
result["page"] = [status, "<title>Kubeflow Pipelines</title>" in page.decode()]
bundle = re.search(r'src="\./(static/js/main\.[0-9a-f]+\.js)"', page.decode())
result["bundle"] = get("/" + bundle.group(1))[0] if bundle else "no main bundle in the page"
result["healthz"] = json.loads(get("/apis/v1beta1/healthz")[2])
status, _, body = get("/apis/v2beta1/runs?page_size=50&sort_by=created_at%20desc&namespace=" + os.environ["NAMESPACE"])
runs = json.loads(body).get("runs", []) if status == 200 else []
done = [r for r in runs if r.get("state") == "SUCCEEDED"]
result["runs"] = [status, len(runs), len(done)]
run_id = done[0]["run_id"] if done else ""
status, code, types = grpc_web("GetArtifactTypes")
result["artifact_types"] = [status, code, sorted({t.decode() for t in re.findall(rb"system\.[A-Za-z]+", types)})]
name = b"system.PipelineRun"
status, code, contexts = grpc_web("GetContextsByType", b"\x0a" + bytes([len(name)]) + name)
result["run_context"] = [status, code, bool(run_id) and run_id.encode() in contexts]
status, code, _ = grpc_web("GetLineageGraph")
result["unimplemented"] = code
s3 = boto3.client("s3", endpoint_url=os.environ["MLFLOW_S3_ENDPOINT_URL"])
keys = [o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="v2/artifacts/")
        for o in page.get("Contents", []) if run_id and run_id in o["Key"]]
result["keys"] = keys
if keys:
    expected = s3.get_object(Bucket=bucket, Key=keys[0])["Body"].read()
    query = urllib.parse.urlencode({"source": "s3", "bucket": bucket, "key": keys[0], "providerInfo": os.environ["PROVIDER_INFO"],
                                    "namespace": os.environ["NAMESPACE"]})
    status, _, body = get("/artifacts/get?" + query)
    result["artifact_v2"] = [status, body == expected, body[:200].decode(errors="replace")]
query = urllib.parse.urlencode({"podname": os.environ["STEP_POD"], "podnamespace": os.environ["NAMESPACE"]})
status, _, body = get("/k8s/pod/logs?" + query)
result["step_logs"] = [status, len(body), body[-300:].decode(errors="replace")]
print("RESULT " + json.dumps(result))
