#!/usr/bin/env bash
# The cluster and platform tests on a throwaway cluster (part of `make test`): two nodes, the
# worker advertising fake GPUs, so that every cluster test runs; then the platform deployed on it
# by `dev_cluster/up.py` (its own throwaway Pulumi state), the image checks (tests/images), the
# platform tests, the smoke tests (the training pipeline end to end), `pulumi destroy`; the
# cluster is deleted afterwards, pass or fail.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
cache=${MLOPS_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/mlops-platform}
export MLOPS_CLUSTER_NAME=${MLOPS_CHECK_CLUSTER_NAME:-mlops-check} MLOPS_WORKERS=1 MLOPS_FAKE_GPUS=2
# The worker has (fake) GPUs, so the PyTorch variant of the smoke pipeline must run, not skip.
export MLOPS_SMOKE_REQUIRE_GPU=1
export KUBECONFIG=$cache/$MLOPS_CLUSTER_NAME.kubeconfig
MLOPS_STATE_DIR=$(mktemp -d)
export MLOPS_STATE_DIR

trap 'bash "$here/cluster.sh" delete; rm -rf "$MLOPS_STATE_DIR"' EXIT
bash "$here/cluster.sh" delete
bash "$here/cluster.sh" create || exit 1
"$root/.venv/bin/pytest" -m e2e "$root/tests/cluster" "$@" || exit 1
python3 "$here/up.py" || exit 1
bash "$root/offline/browser.sh" || exit 1
# The database and ML Metadata images checked for real with docker (offline/images/*/check.sh), as
# built by up.py (make image-checks runs the same tests alone).
"$root/.venv/bin/pytest" -m e2e "$root/tests/images" "$@" || exit 1
"$root/.venv/bin/pytest" -m e2e "$root/tests/platform" "$@" || exit 1
"$root/.venv/bin/pytest" -m e2e "$root/smoke_tests/test_smoke.py" "$@" || exit 1
# The tests' stand-ins for an identity provider (PEOPLE_NAMESPACE in tests/support/platform.py:
# alice's and bob's ServiceAccounts; the LDAP directory of tests/platform/test_ui_login.py) are not
# the platform's: make down leaves them, the check removes them.
kubectl delete namespace mlops-people mlops-directory --ignore-not-found --wait=false || exit 1
bash "$here/up.sh" down || exit 1
for _ in $(seq 1 60); do
  left=$(kubectl get namespaces -o name | grep -E 'namespace/(mlops-|research-)' || true)
  [[ -n $left ]] || break
  sleep 2
done
[[ -z $left ]] || { echo "[check] ERROR: 120 s after make down, platform namespaces remain: $left" >&2; exit 1; }
echo "[check] make down removed every platform namespace"
