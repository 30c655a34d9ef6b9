#!/usr/bin/env bash
# Runs a real `pulumi up` for each named stack with the Kubernetes provider's
# renderYamlToDirectory option: no cluster is contacted, every object is written as YAML to
# OUT/<stack>/manifests. Each run starts from empty state (a throwaway file backend and a random
# passphrase, under OUT/<stack>), so the manifests always reflect the current code and config.
#
# Encrypted stack values cannot be decrypted here; they are replaced by render-only
# placeholders (listed below) so that the program's validation still sees them as secrets.
#
# usage: dev_cluster/render.sh OUT STACK...
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=${1:?usage: dev_cluster/render.sh OUT STACK...}
shift
[[ $# -gt 0 ]] || { echo "usage: dev_cluster/render.sh OUT STACK..." >&2; exit 2; }
python=$root/.venv/bin/python
[[ -x $python ]] || { echo "[render] ERROR: $root/.venv is missing; run make venv" >&2; exit 1; }
command -v pulumi >/dev/null || { echo "[render] ERROR: pulumi is not on PATH; run make tools" >&2; exit 1; }

declare -A placeholder=(
  [mlops-platform:mlflowExternalDsn]="postgresql://mlflow:render-placeholder@db.invalid:5432/mlflow"
  [mlops-platform:loginLdapBindPassword]="render-placeholder"
  [mlops-platform:monitoringSmtpPassword]="render-placeholder"
)

# Upstream charts come from their Go modules (offline/charts.sh), for every stack: no chart
# repository is reachable here (the university stack pulls them from their OCI repositories).
kueue_chart=$(bash "$root/offline/charts.sh")

for stack in "$@"; do
  dir=$out/$stack
  rm -rf "$dir"
  mkdir -p "$dir/manifests"
  # No cluster: make sure nothing falls back to a developer's kubeconfig.
  export KUBECONFIG=/dev/null
  # The stack's workspace, state and render-only passphrase (its secrets are placeholders) under
  # $dir, in dev_cluster/workspace.py's layout, kept so that tests can run further pulumi commands
  # against the rendered state (tests/render: pulumi destroy refuses protected data).
  lines=$("$python" "$root/dev_cluster/workspace.py" "$stack" "$dir" --drop-secrets \
    --set "kubernetes:renderYamlToDirectory=$dir/manifests" --set "mlops-platform:queueing.chart=$kueue_chart")
  unset PULUMI_CONFIG_PASSPHRASE
  while IFS= read -r line; do export "${line?}"; done <<<"$lines"
  cd "$MLOPS_PULUMI_WORKSPACE"
  pulumi stack init "$stack" --secrets-provider passphrase --non-interactive >/dev/null
  for key in $MLOPS_DROPPED_SECRETS; do
    [[ -n ${placeholder[$key]:-} ]] || { echo "[render] ERROR: no render placeholder for secret $key" >&2; exit 1; }
    echo "[render] $stack: secret $key replaced by a render-only placeholder"
    pulumi config set --secret "$key" "${placeholder[$key]}" --non-interactive
  done
  echo "[render] $stack: pulumi up (render mode) -> $dir/manifests"
  start=$SECONDS
  if ! pulumi up --yes --skip-preview --non-interactive --stack "$stack" >"$dir/pulumi-up.log" 2>&1; then
    tail -n 40 "$dir/pulumi-up.log" >&2
    echo "[render] ERROR: pulumi up for stack $stack failed; full log: $dir/pulumi-up.log" >&2
    exit 1
  fi
  count=$(find "$dir/manifests" -name '*.yaml' | wc -l)
  echo "[render] $stack: $count manifests in $((SECONDS - start)) s"
  cd "$root"
done
