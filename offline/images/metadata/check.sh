#!/usr/bin/env bash
# Checks the MLMD server image against PostgreSQL, with docker only (builds nothing: run
# offline/images/metadata.sh and offline/images/postgres.sh first). On a throw-away network it
# starts PostgreSQL, then the server (which has to wait for the database and create its own
# database, metadb), and from a third container of the server image uses the ml_metadata gRPC
# client to write and read types, an artifact, a context and an execution with events,
# attributions and associations; checks NOT_FOUND, ALREADY_EXISTS and UNIMPLEMENTED answers;
# stops the server (SIGTERM must end it cleanly) and starts it again, and restarts PostgreSQL
# under it: the data must still be there both times. Removes its containers and network on
# exit, failed or not; exits non-zero when a check fails.
# Then the gRPC-Web proxy image (the UI's stand-in for KFP's metadata Envoy) in front of the
# server: reads in both encodings (binary and base64 text) return what gRPC wrote; NOT_FOUND and
# UNIMPLEMENTED come back as trailers-only answers with the server's message; other services,
# other content types and GET are refused with 404, 415 and 405.
#   offline/images/metadata/check.sh
set -euo pipefail

REGISTRY=${REGISTRY:-mlops.local}
IMAGE=${IMAGE:-$REGISTRY/kubeflow/mlmd-server:1.17.1}
ENVOY_IMAGE=${ENVOY_IMAGE:-$REGISTRY/kubeflow/kfp-metadata-envoy:2.14.3}
PG_IMAGE=${PG_IMAGE:-$REGISTRY/library/postgres:15.14-bookworm}
name=mlmd-check-$$
pg=$name-postgres server=$name-server proxy=$name-grpc-web
log() { echo "mlmd-check: $*" >&2; }
die() { log "FAILED: $*"; exit 1; }

for image in "$IMAGE" "$ENVOY_IMAGE" "$PG_IMAGE"; do
  docker image inspect "$image" >/dev/null 2>&1 || die "image $image is missing: build it first"
done

cleanup() {
  local rc=$?
  if [[ $rc != 0 ]]; then
    log "last lines of the server's log:"; docker logs --tail 40 "$server" 2>&1 | sed 's/^/  server: /' >&2 || true
  fi
  docker rm -f -v "$proxy" "$server" "$pg" >/dev/null 2>&1 || true
  docker network rm "$name" >/dev/null 2>&1 || true
  log "removed the containers and network $name"
  exit "$rc"
}
trap cleanup EXIT
trap "exit 130" INT
trap "exit 143" TERM

# Whether container $1's log has a line matching $2 (read whole first: `docker logs | grep -q`
# fails under pipefail when grep stops reading before docker logs has written everything).
log_has() { local text; text=$(docker logs "$1" 2>&1); grep -q -- "$2" <<<"$text"; }

# Waits until the server's log has its "serving" line $1 times (the server exiting is a failure).
wait_serving() {
  local deadline=$((SECONDS + 120))
  until (( $(docker logs "$server" 2>&1 | grep -c 'mlmd-server: serving ') >= $1 )); do
    [[ $(docker inspect -f '{{.State.Running}}' "$server") == true ]] || die "the server exited"
    (( SECONDS < deadline )) || die "the server did not serve within 120 s"
    sleep 1
  done
}

# The client: the ml_metadata package of the server image, talking gRPC to the server.
client() {
  docker run --rm -i --network "$name" --entrypoint /opt/mlmd/bin/python "$IMAGE" - "$server" "$@" <<'PYTHON'
import json
import sys

import grpc
from ml_metadata import errors
from ml_metadata.metadata_store import metadata_store
from ml_metadata.proto import metadata_store_pb2 as mlmd

host, phase = sys.argv[1], sys.argv[2]
store = metadata_store.MetadataStore(mlmd.MetadataStoreClientConfig(host=host, port=8080))


def check(condition: bool, what: str) -> None:
    if not condition:
        sys.exit(f"mlmd-check: FAILED: {what}")
    print(f"  ok: {what}", file=sys.stderr)


def read_back(ids: dict) -> None:
    [model] = store.get_artifacts_by_id([ids["model"]])
    check(model.uri == "s3://mlpipeline/check/model" and model.properties["framework"].string_value == "sklearn"
          and model.custom_properties["accuracy"].double_value == 0.93 and model.state == mlmd.Artifact.LIVE,
          f"get_artifacts_by_id: artifact {model.id} {model.name!r} uri={model.uri} "
          f"framework={model.properties['framework'].string_value} "
          f"accuracy={model.custom_properties['accuracy'].double_value}")
    run = store.get_context_by_type_and_name("system.PipelineRun", "run-check-1")
    check(run is not None and run.id == ids["run"] and run.custom_properties["namespace"].string_value == "kubeflow",
          f"get_context_by_type_and_name: context {run and run.id} {run and run.name!r}")
    runs = store.get_contexts_by_type("system.PipelineRun")
    check([c.id for c in runs] == [ids["run"]], f"get_contexts_by_type: {[c.name for c in runs]}")
    executions = store.get_executions_by_context(ids["run"])
    check([(e.id, e.name, e.last_known_state) for e in executions]
          == [(ids["execution"], "train", mlmd.Execution.COMPLETE)],
          f"get_executions_by_context: {[(e.id, e.name, mlmd.Execution.State.Name(e.last_known_state)) for e in executions]}")
    events = sorted((e.artifact_id, mlmd.Event.Type.Name(e.type), e.path.steps[0].key)
                    for e in store.get_events_by_execution_ids([ids["execution"]]))
    check(events == sorted([(ids["dataset"], "INPUT", "dataset"), (ids["model"], "OUTPUT", "model")]),
          f"get_events_by_execution_ids: {events}")
    attributed = sorted(a.id for a in store.get_artifacts_by_context(ids["run"]))
    check(attributed == sorted([ids["model"], ids["dataset"]]), f"get_artifacts_by_context (attributions): {attributed}")


if phase == "write":
    model_type = mlmd.ArtifactType(name="system.Model")
    model_type.properties["framework"] = mlmd.STRING
    ids = {"model_type": store.put_artifact_type(model_type),
           "dataset_type": store.put_artifact_type(mlmd.ArtifactType(name="system.Dataset")),
           "run_type": store.put_context_type(mlmd.ContextType(name="system.PipelineRun")),
           "execution_type": store.put_execution_type(mlmd.ExecutionType(name="system.ContainerExecution"))}
    check(store.get_artifact_type("system.Model").id == ids["model_type"], f"put/get artifact type: {ids}")
    model = mlmd.Artifact(type_id=ids["model_type"], name="model", uri="s3://mlpipeline/check/model",
                          state=mlmd.Artifact.LIVE)
    model.properties["framework"].string_value = "sklearn"
    model.custom_properties["accuracy"].double_value = 0.93
    dataset = mlmd.Artifact(type_id=ids["dataset_type"], uri="s3://mlpipeline/check/dataset")
    ids["model"], ids["dataset"] = store.put_artifacts([model, dataset])
    model.id = ids["model"]
    run = mlmd.Context(type_id=ids["run_type"], name="run-check-1")
    run.custom_properties["namespace"].string_value = "kubeflow"
    [ids["run"]] = store.put_contexts([run])
    run.id = ids["run"]
    # The execution, its OUTPUT event, the model's attribution and its association, in one call ...
    output = mlmd.Event(type=mlmd.Event.OUTPUT)
    output.path.steps.add().key = "model"
    execution = mlmd.Execution(type_id=ids["execution_type"], name="train",
                               last_known_state=mlmd.Execution.COMPLETE)
    ids["execution"], _, _ = store.put_execution(execution, [(model, output)], [run])
    # ... and an INPUT event and attribution with their own RPCs.
    used = mlmd.Event(type=mlmd.Event.INPUT, artifact_id=ids["dataset"], execution_id=ids["execution"])
    used.path.steps.add().key = "dataset"
    store.put_events([used])
    store.put_attributions_and_associations([mlmd.Attribution(artifact_id=ids["dataset"], context_id=ids["run"])], [])
    read_back(ids)
    try:
        store.get_artifact_type("no.such.Type")
        check(False, "get_artifact_type of an unknown name must fail")
    except errors.NotFoundError as error:
        check("no.such.Type" in str(error), f"get_artifact_type('no.such.Type') -> NotFoundError: {error}")
    try:
        store.put_artifacts([mlmd.Artifact(type_id=ids["model_type"], name="model")])
        check(False, "a second artifact named 'model' must fail")
    except errors.AlreadyExistsError as error:
        check(True, f"a second artifact named 'model' -> AlreadyExistsError: {str(error).splitlines()[0]}")
    check(store.get_artifacts_by_id([ids["model"]])[0].name == "model", "the store still answers after the failed put")
    # An RPC the C++ store lacks: called raw, as the Python client has no wrapper for it.
    lineage_graph = grpc.insecure_channel(f"{host}:8080").unary_unary(
        "/ml_metadata.MetadataStoreService/GetLineageGraph")
    try:
        lineage_graph(b"", timeout=10)
        check(False, "GetLineageGraph must fail")
    except grpc.RpcError as error:
        check(error.code() == grpc.StatusCode.UNIMPLEMENTED, f"GetLineageGraph -> {error.code().name}: {error.details()}")
    print(json.dumps(ids))
else:
    read_back(json.loads(phase))
PYTHON
}

# The gRPC-Web client: what the UI's browser code sends, from a container of the server image.
web_client() {
  docker run --rm -i --network "$name" --entrypoint /opt/mlmd/bin/python "$IMAGE" - "$proxy" "$1" <<'PYTHON'
import base64
import json
import struct
import sys
import urllib.error
import urllib.request

from ml_metadata.proto import metadata_store_service_pb2 as svc

host, ids = sys.argv[1], json.loads(sys.argv[2])
base = f"http://{host}:9090/ml_metadata.MetadataStoreService"


def check(condition: bool, what: str) -> None:
    if not condition:
        sys.exit(f"mlmd-check: FAILED: {what}")
    print(f"  ok: {what}", file=sys.stderr)


def call(method: str, request, text: bool = False, content_type: str | None = None, path: str | None = None):
    body = struct.pack(">BI", 0, len(request.SerializeToString())) + request.SerializeToString()
    media = content_type or ("application/grpc-web-text" if text else "application/grpc-web+proto")
    req = urllib.request.Request(path or f"{base}/{method}", data=base64.b64encode(body) if text else body,
                                 headers={"Content-Type": media, "X-Grpc-Web": "1"}, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=30) as answer:
            return answer.status, dict(answer.headers), answer.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def frames(payload: bytes) -> list[tuple[int, bytes]]:
    found = []
    while payload:
        flags, length = struct.unpack(">BI", payload[:5])
        found.append((flags, payload[5:5 + length]))
        payload = payload[5 + length:]
    return found


status, headers, body = call("GetArtifactsByID", svc.GetArtifactsByIDRequest(artifact_ids=[ids["model"]]))
[(data_flag, data), (trailer_flag, trailer)] = frames(body)
answer = svc.GetArtifactsByIDResponse.FromString(data)
check(status == 200 and headers["Content-Type"] == "application/grpc-web+proto" and data_flag == 0 and trailer_flag == 0x80
      and b"grpc-status:0" in trailer and answer.artifacts[0].uri == "s3://mlpipeline/check/model",
      f"binary GetArtifactsByID -> {answer.artifacts[0].uri}, trailer {trailer!r}")
status, headers, body = call("GetContextByTypeAndName", svc.GetContextByTypeAndNameRequest(
    type_name="system.PipelineRun", context_name="run-check-1"), text=True)
[(_, data), (_, trailer)] = frames(base64.b64decode(body))
context = svc.GetContextByTypeAndNameResponse.FromString(data).context
check(status == 200 and headers["Content-Type"].startswith("application/grpc-web-text") and context.id == ids["run"],
      f"base64-text GetContextByTypeAndName -> context {context.id} {context.name!r}")
status, headers, body = call("GetArtifactType", svc.GetArtifactTypeRequest(type_name="no.such.Type"))
check(status == 200 and headers.get("grpc-status") == "5" and "no.such.Type" in headers.get("grpc-message", "")
      and body == b"", f"unknown type -> trailers-only grpc-status {headers.get('grpc-status')}: {headers.get('grpc-message')}")
status, headers, _ = call("GetLineageGraph", svc.GetLineageGraphRequest())
check(headers.get("grpc-status") == "12", f"GetLineageGraph -> grpc-status {headers.get('grpc-status')} (UNIMPLEMENTED)")
status, _, body = call("", svc.GetArtifactTypesRequest(), path=f"http://{host}:9090/other.Service/Get")
check(status == 404 and b"not a method of ml_metadata.MetadataStoreService" in body, f"another service -> {status}")
status, _, body = call("GetArtifactTypes", svc.GetArtifactTypesRequest(), content_type="application/json")
check(status == 415 and b"is not gRPC-Web" in body, f"Content-Type application/json -> {status}")
try:
    urllib.request.urlopen(f"{base}/GetArtifactTypes", timeout=10)
    check(False, "GET must be refused")
except urllib.error.HTTPError as error:
    check(error.code == 405, f"GET -> {error.code}")
PYTHON
}

log "network $name; PostgreSQL $PG_IMAGE; server $IMAGE"
docker network create "$name" >/dev/null
docker run -d --name "$pg" --network "$name" -e POSTGRES_PASSWORD=check-password "$PG_IMAGE" >/dev/null
# Started at once: the server has to retry until PostgreSQL accepts connections. Configured
# with upstream's flags (as the KubeflowPipelines component passes them), the password through
# the environment as a Deployment's $(VAR) expansion would.
docker run -d --name "$server" --network "$name" -e MLMD_DB_PASSWORD=check-password "$IMAGE" \
  --grpc_port=8080 --metadata_source_config_type=postgresql --postgres_config_host="$pg" \
  --postgres_config_port=5432 --postgres_config_dbname=metadb --postgres_config_user=postgres \
  --enable_database_upgrade=true --grpc_channel_arguments=grpc.max_metadata_size=16384 >/dev/null
wait_serving 1
attempts=$(docker logs "$server" 2>&1 | grep -c 'mlmd-server: connecting to ')
log "the server serves after $attempts connection attempt(s): $(docker logs "$server" 2>&1 | grep -o 'unimplemented: .*')"
[[ $(docker exec "$server" id -u) == 1000 ]] || die "the server does not run as uid 1000"
log "  ok: the server runs as uid 1000"

log "writing and reading back through gRPC"
ids=$(client write) || die "the write phase failed"
log "ids: $ids"
log_has "$server" "GetArtifactType failed: NOT_FOUND: .*no.such.Type" \
  || die "the server did not log the failed GetArtifactType"
log "  ok: the server logged: $(docker logs "$server" 2>&1 | grep -o 'GetArtifactType failed: NOT_FOUND: .*' | head -n 1)"

log "reading through the gRPC-Web proxy ($ENVOY_IMAGE)"
docker run -d --name "$proxy" --network "$name" -e GRPC_WEB_UPSTREAM="$server:8080" "$ENVOY_IMAGE" >/dev/null
deadline=$((SECONDS + 60))
until log_has "$proxy" 'grpc-web-proxy: serving'; do
  [[ $(docker inspect -f '{{.State.Running}}' "$proxy") == true ]] || { docker logs "$proxy" >&2; die "the proxy exited"; }
  (( SECONDS < deadline )) || die "the proxy did not serve within 60 s"; sleep 1
done
web_client "$ids" || { docker logs --tail 20 "$proxy" 2>&1 | sed 's/^/  proxy: /' >&2; die "the gRPC-Web checks failed"; }
[[ $(docker exec "$proxy" id -u) == 1000 ]] || die "the proxy does not run as uid 1000"
docker stop -t 10 "$proxy" >/dev/null
[[ $(docker inspect -f '{{.State.ExitCode}}' "$proxy") == 0 ]] || die "the proxy did not stop cleanly on SIGTERM"
log "  ok: the proxy runs as uid 1000 and stops cleanly on SIGTERM"

log "stopping the server (SIGTERM) and starting it again"
docker stop -t 30 "$server" >/dev/null
code=$(docker inspect -f '{{.State.ExitCode}}' "$server")
[[ $code == 0 ]] && log_has "$server" 'mlmd-server: stopped' \
  || die "the server did not stop cleanly on SIGTERM (exit code $code)"
log "  ok: exit code 0 after SIGTERM, log says 'stopped'"
docker start "$server" >/dev/null
wait_serving 2
client "$ids" || die "the data did not survive the server's restart"

log "restarting PostgreSQL under the running server"
docker restart "$pg" >/dev/null
deadline=$((SECONDS + 60))
until docker exec "$pg" pg_isready -q -h 127.0.0.1; do
  (( SECONDS < deadline )) || die "PostgreSQL did not come back in 60 s"; sleep 1
done
client "$ids" || die "the server did not recover from PostgreSQL's restart"
log_has "$server" 'mlmd-server: reconnected to ' || die "the server log shows no reconnection"
log "  ok: the server reconnected to PostgreSQL"
log "PASSED"
