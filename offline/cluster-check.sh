#!/usr/bin/env bash
# The cluster tests on a throwaway cluster (part of `make test`): two nodes, the worker
# advertising fake GPUs, so that every cluster test runs; deleted afterwards, pass or fail.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
cache=${MLOPS_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/mlops-platform}
export MLOPS_CLUSTER_NAME=${MLOPS_CHECK_CLUSTER_NAME:-mlops-check} MLOPS_WORKERS=1 MLOPS_FAKE_GPUS=2
export KUBECONFIG=$cache/$MLOPS_CLUSTER_NAME.kubeconfig

trap 'bash "$here/cluster.sh" delete' EXIT
bash "$here/cluster.sh" delete
bash "$here/cluster.sh" create || exit 1
"$root/.venv/bin/pytest" -m e2e "$root/tests/cluster" "$@"
