#!/usr/bin/env bash
# Extracts the upstream Helm charts the platform deploys from the Go modules that pin them, for
# the air-gapped path: Kueue's chart is charts/kueue in the sigs.k8s.io/kueue module zip, so the
# one go.sum line in offline/go/kueue pins the controller (offline/images/kueue.sh) and its chart.
# Production pulls the same chart version from its OCI repository (infra/charts.py); the local
# stack and the render read it from OUT/<name> (config `queueing.chart`).
#
# usage: offline/charts.sh [OUT]        (default: build/charts); prints OUT/<name> per chart
set -euo pipefail
# shellcheck source=offline/lib/build.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/build.sh"
builder_init charts

out=${1:-$root/build/charts}
mkdir -p "$out"

# extract NAME WRAPPER MODULE PATH_IN_MODULE: OUT/NAME, replaced when its version changed.
extract() {
  local name=$1 wrapper=$2 module=$3 path=$4 dir version
  version=$(go_module Version "$wrapper" "$module")
  dir=$(go_module Dir "$wrapper" "$module")
  [[ -f $dir/$path/Chart.yaml ]] || die "$module@$version has no chart at $path"
  if [[ $(cat "$out/$name/.module-version" 2>/dev/null) != "$version" ]]; then
    rm -rf "$out/$name.tmp" "$out/$name"
    cp -r "$dir/$path" "$out/$name.tmp"
    chmod -R u+w "$out/$name.tmp"
    printf '%s' "$version" >"$out/$name.tmp/.module-version"
    mv "$out/$name.tmp" "$out/$name"
    log "$name chart of $module@$version -> $out/$name"
  fi
  echo "$out/$name"
}

extract kueue "$offline/go/kueue" sigs.k8s.io/kueue charts/kueue
