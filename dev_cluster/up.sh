#!/usr/bin/env bash
# The parts of `make up` and `make down` that talk to the cluster (dev_cluster/up.py runs the build
# stages and calls this for the last ones):
#   load IMAGE...     load the platform images into every kind node (one archive: the layers the
#                     images share are copied once; kind skips images a node already has), refused
#                     first when the disk cannot hold it (load_space.py; MLOPS_LOAD_RESERVE_GB),
#   load-gpu IMAGE    load the PyTorch pipeline image onto the nodes that advertise nvidia.com/gpu,
#   deploy            `pulumi up --stack local`, state in $MLOPS_STATE_DIR/pulumi-state, secrets
#                     encrypted with a passphrase generated once into $MLOPS_STATE_DIR/local.passphrase
#                     (0600), then `pulumi preview --expect-no-changes` (a second run must change
#                     nothing), then how to reach the services,
#   down              `pulumi destroy --stack local` (the cluster stays).
# MLOPS_STATE_DIR defaults to the cache folder; dev_cluster/cluster-check.sh points it at a throwaway.
set -euo pipefail
# shellcheck source=offline/lib/build.sh
source "$(dirname "${BASH_SOURCE[0]}")/../offline/lib/build.sh"
builder_init up
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

name=${MLOPS_CLUSTER_NAME:-mlops}
stack=local
state=${MLOPS_STATE_DIR:-$cache}
export KUBECONFIG=${KUBECONFIG:-$cache/$name.kubeconfig}

# pulumi_workspace: the stack's workspace, backend and passphrase (dev_cluster/workspace.py: one layout
# under $state for this script and the tests), its environment exported, the stack selected.
pulumi_workspace() {
  local lines line
  lines=$("$root/.venv/bin/python" "$here/workspace.py" "$stack" "$state")
  while IFS= read -r line; do export "${line?}"; done <<<"$lines"
  workspace=$MLOPS_PULUMI_WORKSPACE
  [[ $MLOPS_PASSPHRASE_GENERATED == 0 ]] \
    || log "generated the $stack stack's passphrase in $PULUMI_CONFIG_PASSPHRASE_FILE (keep it: it decrypts the stack's secrets)"
  cd "$workspace"
  pulumi stack select "$stack" 2>/dev/null || pulumi stack init "$stack" --secrets-provider passphrase >/dev/null
}

case ${1:-} in
load)
  shift
  [[ $# -gt 0 ]] || die "usage: up.sh load IMAGE..."
  # Refused before anything is written when the disk cannot hold it (dev_cluster/load_space.py).
  "$root/.venv/bin/python" "$here/load_space.py" "$name" - "$@" || die "image load refused (above); nothing was loaded"
  log "loading $# images into the nodes of $name: $*"
  kind load docker-image "$@" --name "$name" >/dev/null || die "kind load docker-image failed"
  ;;
load-gpu)
  shift
  [[ $# -eq 1 ]] || die "usage: up.sh load-gpu IMAGE"
  gpu_nodes=$(kubectl get nodes -o go-template='{{range .items}}{{if index .status.allocatable "nvidia.com/gpu"}}{{.metadata.name}},{{end}}{{end}}')
  [[ -n $gpu_nodes ]] || die "no node advertises nvidia.com/gpu"
  "$root/.venv/bin/python" "$here/load_space.py" "$name" "${gpu_nodes%,}" "$1" || die "image load refused (above); nothing was loaded"
  log "loading $1 onto the GPU node(s) ${gpu_nodes%,}"
  kind load docker-image "$1" --name "$name" --nodes "${gpu_nodes%,}" >/dev/null || die "kind load docker-image failed"
  ;;
deploy)
  # The upstream charts the local stack reads from build/charts (queueing.chart), from their Go modules.
  bash "$root/offline/charts.sh" >/dev/null
  pulumi_workspace
  log "pulumi up --stack $stack (waits for every workload to be ready)"
  # --refresh: a cluster deleted and re-created since the last run starts from what really exists.
  pulumi up --refresh --yes --skip-preview --non-interactive --stack "$stack" >&2
  log "checking that a second run changes nothing"
  pulumi preview --expect-no-changes --non-interactive --stack "$stack" >/dev/null
  # How to reach each service, from the stack's outputs (dev_cluster/reach.py).
  pulumi stack output --json --stack "$stack" | "$root/.venv/bin/python" "$here/reach.py" summary "$KUBECONFIG" "$workspace"
  ;;
down)
  pulumi_workspace
  # Say what goes, before it goes: the stack's namespaces and the volume claims (data) in them.
  # The StorageClass deletes a claim's data with it; StatefulSet claims outlive the StatefulSet,
  # so they go with the namespaces (nothing is kept by `make down`).
  mapfile -t doomed < <(pulumi stack export --stack "$stack" 2>/dev/null | "$root/.venv/bin/python" "$here/reach.py" namespaces)
  if [[ ${#doomed[@]} -eq 0 ]]; then
    log "the stack $stack has no namespace deployed: nothing of the platform to delete"
  else
    log "deleting the namespaces ${doomed[*]} with everything in them, these volumes and their data included:"
    kubectl get pvc --all-namespaces --no-headers \
      -o custom-columns='NAMESPACE:.metadata.namespace,CLAIM:.metadata.name,SIZE:.spec.resources.requests.storage' 2>/dev/null \
      | awk -v keep=" ${doomed[*]} " 'index(keep, " " $1 " ") {print "  " $1 "/" $2 " (" $3 ")"; n++} END {if (!n) print "  (no volume claims)"}' \
      || log "WARNING: could not list the volume claims (kubectl get pvc failed); deleting anyway"
    backup_ns=$(pulumi stack output --json --stack "$stack" | "$root/.venv/bin/python" "$here/reach.py" output BACKUP_NAMESPACE)
    if [[ -n $backup_ns && " ${doomed[*]} " == *" $backup_ns "* ]]; then
      log "the platform's backups on the volume $backup_ns/platform-backups go too; copies that make backup wrote (backups/) stay"
    fi
  fi
  log "destroying the platform (pulumi destroy --stack $stack)"
  pulumi destroy --yes --skip-preview --non-interactive --stack "$stack"
  ;;
*) die "usage: dev_cluster/up.sh load IMAGE...|load-gpu IMAGE|deploy|down" ;;
esac
