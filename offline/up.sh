#!/usr/bin/env bash
# `make up`: the local cluster with the platform deployed by a real `pulumi up --stack local`.
#   1. the kind cluster (offline/cluster.sh),
#   2. the platform images built offline and loaded into the nodes (offline/images/*.sh),
#   3. `pulumi up` of the `local` stack, state in $MLOPS_STATE_DIR/pulumi-state, secrets
#      encrypted with a passphrase generated once into $MLOPS_STATE_DIR/local.passphrase (0600),
#      then `pulumi preview --expect-no-changes` (a second run must change nothing),
#   4. how to reach the services.
# MLOPS_STATE_DIR defaults to the cache folder; offline/cluster-check.sh points it at a throwaway.
# usage: offline/up.sh [up|down]
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
cache=${MLOPS_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/mlops-platform}
name=${MLOPS_CLUSTER_NAME:-mlops}
stack=local
state=${MLOPS_STATE_DIR:-$cache}
workspace=$state/workspaces/$stack
log() { printf '[up] %s\n' "$*" >&2; }
die() { printf '[up] ERROR: %s\n' "$*" >&2; exit 1; }

export KUBECONFIG=$cache/$name.kubeconfig
export PULUMI_BACKEND_URL=file://$state/pulumi-state
export PULUMI_SKIP_UPDATE_CHECK=true PULUMI_DIY_BACKEND_NO_LEGACY_WARNING=true
mkdir -p "$state/pulumi-state"
passphrase=$state/$stack.passphrase
if [[ ! -s $passphrase ]]; then
  (umask 077 && "$root/.venv/bin/python" -c 'import secrets; print(secrets.token_hex(32))' >"$passphrase")
  log "generated the $stack stack's passphrase in $passphrase (keep it: it decrypts the stack's secrets)"
fi
export PULUMI_CONFIG_PASSPHRASE_FILE=$passphrase

"$root/.venv/bin/python" "$root/offline/workspace.py" "$stack" "$workspace" >/dev/null
cd "$workspace"
pulumi stack select "$stack" 2>/dev/null || pulumi stack init "$stack" --secrets-provider passphrase >/dev/null

if [[ ${1:-up} == down ]]; then
  log "destroying the platform (pulumi destroy --stack $stack)"
  pulumi destroy --yes --skip-preview --non-interactive --stack "$stack"
  # Volumes: the StorageClass deletes a claim's data with it; StatefulSet claims outlive the
  # StatefulSet, so they go with the namespaces Pulumi removed (nothing is kept by `make down`).
  exit 0
fi

bash "$here/cluster.sh" create >/dev/null
# Each builder prints the references it built, one per line (the pipeline base image is what
# the pipelines' components run in; Pulumi does not deploy it).
images=()
for builder in seaweedfs postgres mlflow mariadb metadata argo kubeflow-pipelines kfp-frontend pipeline-base; do
  built=$(bash "$here/images/$builder.sh") || die "offline/images/$builder.sh failed"
  images+=($built)
done
# One `kind load` for all: one archive, so the layers the images share (the Debian base) are
# copied once; kind skips the images a node already has.
log "loading ${#images[@]} images into the nodes: ${images[*]}"
start=$SECONDS
kind load docker-image "${images[@]}" --name "$name" >/dev/null
log "images loaded in $((SECONDS - start)) s"
# The PyTorch pipeline image (about 6.4 GB, for the GPU-requesting training step) only where a
# node advertises nvidia.com/gpu (kind: MLOPS_FAKE_GPUS=N), and only onto those nodes.
gpu_nodes=$(kubectl get nodes -o go-template='{{range .items}}{{if index .status.allocatable "nvidia.com/gpu"}}{{.metadata.name}},{{end}}{{end}}')
if [[ -n $gpu_nodes ]]; then
  torch_image=$(bash "$here/images/pipeline-torch.sh" | tail -n 1) || die "offline/images/pipeline-torch.sh failed"
  log "loading $torch_image onto the GPU node(s) ${gpu_nodes%,}"
  start=$SECONDS
  kind load docker-image "$torch_image" --name "$name" --nodes "${gpu_nodes%,}" >/dev/null
  log "PyTorch image loaded in $((SECONDS - start)) s"
else
  log "no node advertises nvidia.com/gpu: the PyTorch pipeline image is not loaded (MLOPS_FAKE_GPUS=N makes fake GPUs)"
fi

log "pulumi up --stack $stack (waits for every workload to be ready)"
start=$SECONDS
# --refresh: a cluster deleted and re-created since the last run starts from what really exists.
pulumi up --refresh --yes --skip-preview --non-interactive --stack "$stack"
log "platform deployed in $((SECONDS - start)) s; checking that a second run changes nothing"
pulumi preview --expect-no-changes --non-interactive --stack "$stack" >/dev/null

kfp_ns=$(pulumi stack output kubeflowPipelinesNamespace 2>/dev/null || true)
kfp_ui=$(pulumi stack output kubeflowPipelinesUiEndpoint 2>/dev/null || true)
store_ns=$(pulumi stack output objectStoreNamespace)
mlflow_ns=$(pulumi stack output mlflowNamespace)
cat <<EOF

The platform is up (kubeconfig: $KUBECONFIG).
  MLflow:        kubectl -n $mlflow_ns port-forward svc/mlflow 5000:5000   -> http://localhost:5000
                 user: admin, password: (cd $workspace && pulumi stack output --show-secrets mlflowAdminPassword)
  Object store:  kubectl -n $store_ns port-forward svc/object-store 8333:8333 -> http://localhost:8333
                 keys: kubectl -n $store_ns get secret object-store-credentials -o jsonpath='{.data.AWS_SECRET_ACCESS_KEY}' | base64 -d
EOF
if [[ -n $kfp_ns ]]; then
  cat <<EOF
  Pipelines:     kubectl -n $kfp_ns port-forward svc/ml-pipeline 8888:8888 -> kfp.Client(host="http://localhost:8888")
                 no login (single-user mode): reachable only by port-forward, from its namespace or
                 from allowedIngressCidrs; components run in the pipeline-base image and load MLflow
                 and S3 settings from the Secret mlops-pipeline-env (kfp.kubernetes.use_secret_as_env)
EOF
  [[ -z $kfp_ui ]] || cat <<EOF
  Pipelines UI:  kubectl -n $kfp_ns port-forward svc/ml-pipeline-ui 8080:80 -> http://localhost:8080
                 runs, their graphs, step logs, artifacts and ML Metadata lineage; no login (as the API)
EOF
fi
