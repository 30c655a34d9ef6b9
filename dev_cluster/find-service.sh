#!/usr/bin/env bash
# Prints the namespace of the platform's monitoring Service NAME (labels app.kubernetes.io/name=NAME,
# app.kubernetes.io/component=monitoring) in the cluster of $KUBECONFIG, or nothing when there is none;
# `make dashboard` and `make alerts` port-forward to it. A cluster kubectl cannot reach is an error that
# names the kubeconfig and kubectl's own message (make's recipes run with -e: a silent failure of the
# lookup ended `make alerts` with no word in make test's cluster lane).
#
# usage: dev_cluster/find-service.sh NAME
set -euo pipefail
name=${1:?usage: dev_cluster/find-service.sh NAME}
if ! found=$(kubectl get services -A -l "app.kubernetes.io/name=$name,app.kubernetes.io/component=monitoring" \
    -o jsonpath='{.items[*].metadata.namespace}' 2>&1); then
  printf 'kubectl cannot list the Services of the cluster of KUBECONFIG=%s (is it up? make up; another cluster: MLOPS_CLUSTER_NAME=...):\n%s\n' \
    "${KUBECONFIG:-}" "$found" >&2
  exit 1
fi
read -r namespace _ <<<"$found" || true
printf '%s\n' "${namespace:-}"
