#!/usr/bin/env bash
# Builds the Kubeflow Pipelines 2.14.3 backend images offline, the references infra/images.py
# resolves with registry mlops.local:
#   mlops.local/kubeflow/kfp-api-server:2.14.3                      /bin/apiserver, /config
#   mlops.local/kubeflow/kfp-persistence-agent:2.14.3               /bin/persistence_agent
#   mlops.local/kubeflow/kfp-scheduled-workflow-controller:2.14.3   /bin/controller
#   mlops.local/kubeflow/kfp-driver:2.14.3                          /bin/driver
#   mlops.local/kubeflow/kfp-launcher:2.14.3                        /bin/launcher-v2
# Steps:
#   1. the Go code of KFP's proto modules (api, kubernetes_platform), which the proxy does not
#      serve at the 2.14.3 commit, regenerated into offline/go/kubeflow-pipelines/generated/ by
#      generate_protos.py from the PyPI descriptors (pinned below) with protoc-gen-go; see there,
#   2. the five programs from the wrapper module offline/go/kubeflow-pipelines, static
#      (CGO_ENABLED=0) but for the API server: its storage package uses go-sqlite3's types,
#      which need cgo (dynamically linked against the base image's glibc, as upstream's is),
#      cached under $cache/kubeflow-pipelines/2.14.3-<hash>/,
#   3. one image each FROM the Debian base image (offline/images/base-image.sh), uid 1000 as
#      upstream's, with upstream's paths and default commands; the API server image carries the
#      module's backend/src/apiserver/config/config.json at /config. Skipped when the tag has the
#      label of the current inputs.
# Progress goes to stderr; stdout lists the five references, one per line.
#   offline/images/kubeflow-pipelines.sh
set -euo pipefail

REGISTRY=${REGISTRY:-mlops.local}
VERSION=2.14.3
# PyPI packages whose compiled descriptors are the protos of KFP 2.14.3 (kfp 2.14.3 pins
# kfp-pipeline-spec 2.14.0 and protobuf 6.31.1).
PROTO_WHEELS="protobuf==6.31.1 kfp-pipeline-spec==2.14.0 kfp-kubernetes==2.14.3 googleapis-common-protos==1.70.0"
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
offline=$(dirname "$here")
module=$offline/go/kubeflow-pipelines
cache=${MLOPS_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/mlops-platform}/kubeflow-pipelines
log() { echo "kubeflow-pipelines: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }
export DOCKER_BUILDKIT=0
# github.com/kubeflow/pipelines is not in sum.golang.org; the module's go.sum pins its hashes.
export GONOSUMDB=github.com/kubeflow/pipelines

# name  main package (under github.com/kubeflow/pipelines/backend/src)  binary  image repository  cgo
PROGRAMS=(
  "apiserver apiserver apiserver kfp-api-server 1"
  "persistence agent/persistence persistence_agent kfp-persistence-agent 0"
  "scheduledworkflow crd/controller/scheduledworkflow controller kfp-scheduled-workflow-controller 0"
  "driver v2/cmd/driver driver kfp-driver 0"
  "launcher v2/cmd/launcher-v2 launcher-v2 kfp-launcher 0"
)

hash=$( (cd "$module" && cat go.mod go.sum ./*.go generate_protos.py protodump/* generated/*/go.mod generated/*/go.sum 2>/dev/null
         grep -v '^ *#' "${BASH_SOURCE[0]}"; go version) | sha256sum | cut -c1-12)
out=$cache/$VERSION-$hash
mkdir -p "$cache"

# --- 1. generated proto modules ----------------------------------------------------------------
generated=$module/generated
stamp=$generated/.inputs-hash
if [[ $(cat "$stamp" 2>/dev/null) != "$hash" || ! -f $generated/api/v2alpha1/go/pipelinespec/pipeline_spec.pb.go ]]; then
  venv=$cache/proto-venv-$(echo "$PROTO_WHEELS" | sha256sum | cut -c1-12)
  if [[ ! -x $venv/bin/python ]]; then
    log "creating $venv ($PROTO_WHEELS)"
    python3 -m venv "$venv.tmp"
    "$venv.tmp/bin/pip" install -q --no-deps $PROTO_WHEELS || die "pip install of $PROTO_WHEELS failed"
    mv "$venv.tmp" "$venv"
  fi
  log "generating KFP's api and kubernetes_platform Go code into $generated"
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  (cd "$module" && CGO_ENABLED=0 go build -o "$tmp/protoc-gen-go" google.golang.org/protobuf/cmd/protoc-gen-go)
  (cd "$module/protodump" && go run .) >"$tmp/cache_key.desc"
  find "$generated" -name '*.pb.go' -delete
  "$venv/bin/python" "$module/generate_protos.py" "$tmp/cache_key.desc" "$generated" "$tmp/protoc-gen-go"
  echo "$hash" >"$stamp"
fi

# --- 2. programs ---------------------------------------------------------------------------------
if [[ ! -f $out/done ]]; then
  mkdir -p "$out"
  for program in "${PROGRAMS[@]}"; do
    read -r name package binary _ cgo <<<"$program"
    [[ -x $out/$binary ]] && continue
    log "building $name ($package; cold: several minutes) ..."
    start=$SECONDS
    (cd "$module" && CGO_ENABLED=$cgo nice -n 10 go build -trimpath -ldflags '-s -w' -o "$out/$binary.tmp" \
      "github.com/kubeflow/pipelines/backend/src/$package") || die "go build of $package failed"
    mv "$out/$binary.tmp" "$out/$binary"
    echo "$name $VERSION $(date -u +%FT%TZ) build $((SECONDS - start))s" >>"$cache/timings.txt"
  done
  touch "$out/done"
fi

# --- 3. images -----------------------------------------------------------------------------------
bash "$offline/docker.sh" >&2
base=$(bash "$here/base-image.sh") || exit 1
srcdir=$(cd "$module" && go list -m -f '{{.Dir}}' github.com/kubeflow/pipelines)
for program in "${PROGRAMS[@]}"; do
  read -r name _ binary repository _ <<<"$program"
  image=$REGISTRY/kubeflow/$repository:$VERSION
  image_hash=$( (echo "$hash $base $program"; docker image inspect -f '{{.Id}}' "$base"; sha256sum "$out/$binary") | sha256sum | cut -c1-16)
  if [[ $(docker image inspect -f '{{index .Config.Labels "org.mlops-platform.inputs-hash"}}' "$image" 2>/dev/null) == "$image_hash" ]]; then
    echo "$image"
    continue
  fi
  ctx=$(mktemp -d)
  cp "$out/$binary" "$ctx/$binary"
  extra=""
  case $name in
    apiserver)
      mkdir "$ctx/config"
      cp "$srcdir/backend/src/apiserver/config/config.json" "$ctx/config/"
      extra=$'COPY config /config\nEXPOSE 8888 8887\nCMD ["/bin/sh", "-c", "exec /bin/apiserver --config=/config -logtostderr=true --logLevel=${LOG_LEVEL:-info}"]' ;;
    persistence)
      extra=$'ENV NAMESPACE="" TTL_SECONDS_AFTER_WORKFLOW_FINISH=86400 NUM_WORKERS=2 LOG_LEVEL=info EXECUTIONTYPE=Workflow\nCMD ["/bin/sh", "-c", "exec /bin/persistence_agent --logtostderr=true --namespace=${NAMESPACE} --ttlSecondsAfterWorkflowFinish=${TTL_SECONDS_AFTER_WORKFLOW_FINISH} --numWorker ${NUM_WORKERS} --executionType ${EXECUTIONTYPE} --logLevel=${LOG_LEVEL}"]' ;;
    scheduledworkflow)
      extra=$'ENV NAMESPACE="" LOG_LEVEL=info\nCMD ["/bin/sh", "-c", "exec /bin/controller --logtostderr=true --namespace=${NAMESPACE} --logLevel=${LOG_LEVEL}"]' ;;
    *)
      extra="ENTRYPOINT [\"/bin/$binary\"]" ;;
  esac
  cat >"$ctx/Dockerfile" <<EOF
FROM $base
COPY $binary /bin/$binary
$extra
LABEL org.mlops-platform.inputs-hash=$image_hash org.opencontainers.image.version=$VERSION
WORKDIR /bin
USER 1000
EOF
  log "building $image from $base"
  docker build -q -t "$image" "$ctx" >/dev/null || { rm -rf "$ctx"; die "docker build of $image failed"; }
  rm -rf "$ctx"
  echo "$image"
done
