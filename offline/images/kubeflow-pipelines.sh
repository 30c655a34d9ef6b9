#!/usr/bin/env bash
# Builds the Kubeflow Pipelines 2.14.3 backend images offline, the references infra/images.toml
# lists (with registry mlops.local):
#   mlops.local/kubeflow/kfp-api-server:2.14.3                      /bin/apiserver, /config
#   mlops.local/kubeflow/kfp-persistence-agent:2.14.3               /bin/persistence_agent
#   mlops.local/kubeflow/kfp-scheduled-workflow-controller:2.14.3   /bin/controller
#   mlops.local/kubeflow/kfp-driver:2.14.3                          /bin/driver
#   mlops.local/kubeflow/kfp-launcher:2.14.3                        /bin/launcher-v2
# Steps:
#   1. the Go code of KFP's proto modules (api, kubernetes_platform), which the proxy does not
#      serve at the 2.14.3 commit, regenerated into offline/go/kubeflow-pipelines/generated/ by
#      generate_protos.py from the PyPI descriptors (pinned below) with protoc-gen-go; see there,
#   2. the five programs from the wrapper module offline/go/kubeflow-pipelines, static but for the
#      API server: its storage package uses go-sqlite3's types, which need cgo (dynamically linked
#      against the base image's glibc, as upstream's is), cached under
#      $MLOPS_CACHE_DIR/kubeflow-pipelines/2.14.3-<inputs hash>/,
#   3. one image each FROM the Debian base image, uid 1000 as upstream's, with upstream's paths
#      and default commands; the API server image carries the module's
#      backend/src/apiserver/config/config.json at /config.
# Prints the five references, one per line.
#   offline/images/kubeflow-pipelines.sh
set -euo pipefail
# shellcheck source=offline/lib/build.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/build.sh"
builder_init kubeflow-pipelines

VERSION=2.14.3
# PyPI packages whose compiled descriptors are the protos of KFP 2.14.3 (kfp 2.14.3 pins
# kfp-pipeline-spec 2.14.0 and protobuf 6.31.1).
PROTO_WHEELS="protobuf==6.31.1 kfp-pipeline-spec==2.14.0 kfp-kubernetes==2.14.3 googleapis-common-protos==1.70.0"
module=$offline/go/kubeflow-pipelines
backend=github.com/kubeflow/pipelines/backend/src
# github.com/kubeflow/pipelines is not in sum.golang.org; the module's go.sum pins its hashes.
export GONOSUMDB=github.com/kubeflow/pipelines

# name  main package (under $backend)  binary in the image  image repository
PROGRAMS=(
  "apiserver apiserver apiserver kfp-api-server"
  "persistence agent/persistence persistence_agent kfp-persistence-agent"
  "scheduledworkflow crd/controller/scheduledworkflow controller kfp-scheduled-workflow-controller"
  "driver v2/cmd/driver driver kfp-driver"
  "launcher v2/cmd/launcher-v2 launcher-v2 kfp-launcher"
)
# Each program's image, by its name in infra/images.toml.
declare -A IMAGE_NAMES=([apiserver]=kfp-api-server [persistence]=kfp-persistence-agent
  [scheduledworkflow]=kfp-scheduled-workflow [driver]=kfp-driver [launcher]=kfp-launcher)

need_go
hash=$(cd "$module" && inputs_hash -r go go.mod go.sum generate_protos.py protodump/go.mod protodump/go.sum protodump/main.go \
  generated/api/go.mod generated/api/go.sum generated/kubernetes_platform/go.mod generated/kubernetes_platform/go.sum \
  -s "$PROTO_WHEELS $(go env GOVERSION)")
out=$cache/kubeflow-pipelines/$VERSION-$hash

# --- 1. generated proto modules ----------------------------------------------------------------
generated=$module/generated
stamp=$generated/.inputs-hash
if [[ $(cat "$stamp" 2>/dev/null) != "$hash" || ! -f $generated/api/v2alpha1/go/pipelinespec/pipeline_spec.pb.go ]]; then
  venv=$cache/kubeflow-pipelines/proto-venv-$(echo "$PROTO_WHEELS" | sha256sum | cut -c1-12)
  if ! cache_dir_ready "$venv"; then
    log "creating $venv ($PROTO_WHEELS)"
    python3 -m venv "$venv.tmp"
    # shellcheck disable=SC2086 # one requirement per word
    "$venv.tmp/bin/pip" install -q --no-deps $PROTO_WHEELS || die "pip install of $PROTO_WHEELS failed"
    cache_dir_commit "$venv"
  fi
  log "generating KFP's api and kubernetes_platform Go code into $generated"
  build_context; tmp=$ctx
  go_build_into "$tmp" "$module" google.golang.org/protobuf/cmd/protoc-gen-go
  (cd "$module/protodump" && go run .) >"$tmp/cache_key.desc" || die "protodump failed"
  rm -f "$stamp"
  find "$generated" -name '*.pb.go' -delete
  "$venv/bin/python" "$module/generate_protos.py" "$tmp/cache_key.desc" "$generated" "$tmp/protoc-gen-go" \
    || die "generate_protos.py failed"
  echo "$hash" >"$stamp"
fi

# --- 2. programs ---------------------------------------------------------------------------------
if ! cache_dir_ready "$out"; then
  log "building the API server (cgo) and the other four programs (cold: about 15 minutes on 2 cores)"
  go_build_into --cgo "$out.tmp" "$module" "$backend/apiserver"
  packages=()
  for program in "${PROGRAMS[@]:1}"; do
    read -r _ package _ _ <<<"$program"
    packages+=("$backend/$package")
  done
  go_build_into "$out.tmp" "$module" "${packages[@]}"
  cache_dir_commit "$out"
fi

# --- 3. images -----------------------------------------------------------------------------------
need_docker
need_base_image
srcdir=$(go_module Dir "$module" github.com/kubeflow/pipelines)
for program in "${PROGRAMS[@]}"; do
  read -r name package binary repository <<<"$program"
  image=$(image_ref "${IMAGE_NAMES[$name]}" "$VERSION")
  [[ $image == */kubeflow/$repository:$VERSION ]] || die "infra/images.toml names $image for $name, not upstream's kubeflow/$repository"
  image_hash=$(inputs_hash -r image -s "$out $base_ref $base_id $program")
  if ! image_current "$image" "$image_hash"; then
    build_context
    cp "$out/$(basename "$package")" "$ctx/$binary"
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
    cat >"$ctx/Dockerfile" <<DOCKERFILE
ARG BASE
FROM \${BASE}
COPY $binary /bin/$binary
$extra
ARG INPUTS_HASH
LABEL org.mlops-platform.inputs-hash=\${INPUTS_HASH} org.opencontainers.image.version=$VERSION
WORKDIR /bin
USER 1000
DOCKERFILE
    docker_build "$image" "$ctx" "$image_hash"
  fi
  echo "$image"
done
