#!/usr/bin/env bash
# Builds (or finds) promtool, Prometheus's rule checker, from the pinned Prometheus module
# (offline/go/prometheus, PROMETHEUS_VERSION in offline/versions.env), for the alert rules' tests
# (tests/monitoring/, make test). Cold: about ten minutes on 2 cores; cached by version and by the
# module's hash in $MLOPS_CACHE_DIR/promtool/. A promtool on PATH at the pinned version is used as it is.
# Links it as $MLOPS_CACHE_DIR/bin/promtool and prints that path.
#   offline/promtool.sh
set -euo pipefail
# shellcheck source=offline/lib/build.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/build.sh"
builder_init promtool
# shellcheck source=offline/versions.env
source "$offline/versions.env"
mkdir -p "$cache/bin"
link=$cache/bin/promtool

found=$(PATH=$(printf '%s' "$PATH" | tr ':' '\n' | grep -vxF "$cache/bin" | paste -sd:) command -v promtool 2>/dev/null || true)
if [[ -n $found ]] && "$found" --version 2>/dev/null | grep -qF "promtool, version $PROMETHEUS_VERSION "; then
  log "using promtool $PROMETHEUS_VERSION from $found"
  ln -sfn "$found" "$link"
else
  go_binaries_cached promtool "$PROMETHEUS_VERSION" "$offline/go/prometheus" 10 \
    --ldflags "-X github.com/prometheus/common/version.Version=$PROMETHEUS_VERSION" \
    github.com/prometheus/prometheus/cmd/promtool
  ln -sfn "$out/promtool" "$link"
fi
"$link" --version | grep -qF "promtool, version $PROMETHEUS_VERSION " || die "$link does not report version $PROMETHEUS_VERSION"
echo "$link"
