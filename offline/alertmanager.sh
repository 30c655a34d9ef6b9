#!/usr/bin/env bash
# Builds (or finds in the cache) Alertmanager and amtool from the pinned module (offline/go/alertmanager):
# the Monitoring component's Alertmanager image (offline/images/monitoring.sh) and the checks of its
# rendered configuration in make test (tests/monitoring/, amtool check-config and config routes test).
# Cold: about 4 minutes on 2 cores; cached in $MLOPS_CACHE_DIR/alertmanager/<version>-<inputs hash>/.
#
# Upstream's ui/web.go embeds ui/app/dist, the web UI that its release builds compile with Elm and
# npm; the module's zip carries only the UI's sources, so `go build` fails on the embed pattern. The
# build vendors the wrapper module's packages into a throw-away copy of the wrapper (`go mod vendor`:
# the same module graph and go.sum checks as a plain build) and adds a one-page placeholder (it names
# the API and amtool) as the vendored module's ui/app/dist. (A go.work replacing the module with a
# copy, as offline/images/argo.sh does, loads the copy's whole go.mod unpruned: an old monolithic
# google.golang.org/genproto then clashes with its split-out packages, "ambiguous import".)
# The API (/api/v2), /metrics and the health endpoints are upstream's own.
#
# usage: offline/alertmanager.sh      prints the folder holding `alertmanager` and `amtool`
set -euo pipefail
# shellcheck source=offline/lib/build.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/build.sh"
builder_init alertmanager

module=$offline/go/alertmanager
upstream=github.com/prometheus/alertmanager
version=$(go_module Version "$module" "$upstream")
src=$(go_module Dir "$module" "$upstream")
commit=$(go_module Commit "$module" "$upstream")
out=$cache/alertmanager/$version-$(inputs_hash -r go "$module/go.mod" "$module/go.sum" -s "$(go env GOVERSION)")
if ! cache_dir_ready "$out"; then
  log "building alertmanager and amtool $version (cold: about 4 minutes on 2 cores)"
  [[ -f $src/ui/web.go && ! -e $src/ui/app/dist ]] \
    || die "$upstream@$version: ui/app/dist is in the module now (or ui/web.go is gone); recheck this script"
  work=$out.tmp/work
  mkdir -p "$work" && cp "$module/go.mod" "$module/go.sum" "$work/"
  # -e: the embed pattern ui/app/dist matches nothing yet (the placeholder below fills it).
  go mod vendor -C "$work" -e || die "go mod vendor of $module failed"
  vendored=$work/vendor/$upstream
  [[ -f $vendored/ui/web.go ]] || die "go mod vendor did not copy $upstream/ui; recheck this script"
  # ui/web.go serves index.html from its .gz (the release build's compression) under dist/elm (/) and dist/mantine (/ui/).
  for app in elm mantine; do
    mkdir -p "$vendored/ui/app/dist/$app"
    printf '%s\n' '<!doctype html><title>Alertmanager</title><p>This Alertmanager was built offline without its web UI.' \
      '<p>Its API serves: <a href="/api/v2/alerts">/api/v2/alerts</a>, <a href="/api/v2/silences">/api/v2/silences</a>;' \
      'amtool (amtool --alertmanager.url=http://localhost:9093 alert query) reads and silences alerts.' \
      | gzip -n9 >"$vendored/ui/app/dist/$app/index.html.gz"
  done
  flags="-X github.com/prometheus/common/version.Version=${version#v} -X github.com/prometheus/common/version.Revision=$commit"
  flags+=" -X github.com/prometheus/common/version.Branch=HEAD"
  go_build_into --ldflags "$flags" --flag -mod=vendor "$out.tmp" "$work" "$upstream/cmd/alertmanager" "$upstream/cmd/amtool"
  rm -rf "$work"
  cache_dir_commit "$out"
fi
"$out/amtool" --version 2>&1 | grep -qF "version ${version#v} " || die "$out/amtool does not report version ${version#v}"
echo "$out"
