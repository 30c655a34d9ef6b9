#!/usr/bin/env bash
# Builds (or finds) the pinned offline toolchain: pulumi, this project's Python language host,
# pulumi-resource-kubernetes, kind and helm, from the Go wrapper modules under offline/go/.
#
# Results are cached outside the repository, keyed by tool version and by a hash of the wrapper
# module that builds it, in $MLOPS_CACHE_DIR/tools/<tool>-<version>-<hash>/. A tool already on
# PATH at the pinned version (a sysadmin's laptop with upstream releases) is used as it is.
# $MLOPS_CACHE_DIR/bin ends up holding pulumi, kind and helm; put it first on PATH. The engine
# finds its language host beside its own binary and the provider in its plugin cache (a plugin
# on PATH would take precedence with a warning, so none is linked there).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=offline/versions.env
source "$here/versions.env"
cache=${MLOPS_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/mlops-platform}
bin="$cache/bin"
mkdir -p "$bin" "$cache/tools"

log() { printf '[tools] %s\n' "$*" >&2; }
die() { printf '[tools] ERROR: %s\n' "$*" >&2; exit 1; }

command -v go >/dev/null || die "Go is needed to build the toolchain (Go >= 1.26); install it or put pinned pulumi/kind/helm on PATH"

# module_hash DIR: hash of everything in a wrapper module that decides what gets built.
module_hash() {
  (cd "$1" && cat go.mod go.sum $(find . -name '*.go' | sort) | sha256sum | cut -c1-12)
}

# on_path NAME VERSION-COMMAND EXPECTED: true when NAME on PATH (outside our bin) reports EXPECTED.
on_path() {
  local name=$1 expected=$3 found
  found=$(PATH=$(printf '%s' "$PATH" | tr ':' '\n' | grep -vxF "$bin" | paste -sd:) command -v "$name" 2>/dev/null) || return 1
  # shellcheck disable=SC2086
  "$found" $2 2>/dev/null | grep -qF -- "$expected" || return 1
  printf '%s' "$found"
}

# build TOOL VERSION MODULE-DIR PACKAGE LDFLAGS: go build into the cache unless already there.
build() {
  local tool=$1 version=$2 moddir=$3 pkg=$4 ldflags=$5 dest
  dest="$cache/tools/$tool-$version-$(module_hash "$moddir")"
  if [[ ! -x "$dest/$tool" ]]; then
    log "building $tool $version (cold builds take minutes; cached in $dest)"
    local start=$SECONDS
    mkdir -p "$dest.tmp"
    go build -C "$moddir" -trimpath -ldflags "-s -w $ldflags" -o "$dest.tmp/$tool" "$pkg"
    rm -rf "$dest" && mv "$dest.tmp" "$dest"
    log "built $tool in $((SECONDS - start)) s"
  fi
  printf '%s' "$dest"
}

link() { ln -sfn "$2" "$bin/$1"; }

# Pulumi CLI and language host: both stamped with the engine version.
pulumi_stamp="-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$PULUMI_VERSION"
if found=$(on_path pulumi version "v$PULUMI_VERSION") && lh=$(dirname "$found")/pulumi-language-python && [[ -x $lh ]]; then
  log "using pulumi v$PULUMI_VERSION from $found"
  link pulumi "$found"
else
  dir=$(build pulumi "$PULUMI_VERSION" "$here/go/pulumi" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi "$pulumi_stamp")
  link pulumi "$dir/pulumi"
  # The engine looks for language plugins beside its own binary, so the host, the exec script it
  # runs programs with and the provider for Python dynamic resources all go into pulumi's folder.
  cli_dir=$(dirname "$(readlink -f "$bin/pulumi")")
  host_dir=$(build pulumi-language-python "$PULUMI_VERSION" "$here/go/pulumi" ./cmd/pulumi-language-python "$pulumi_stamp")
  sdk=$(go list -C "$here/go/pulumi" -m -f '{{.Dir}}' github.com/pulumi/pulumi/sdk/v3)
  install -m 0755 "$host_dir/pulumi-language-python" "$cli_dir/pulumi-language-python"
  install -m 0755 "$sdk/python/cmd/pulumi-language-python-exec" "$cli_dir/pulumi-language-python-exec"
  install -m 0755 "$sdk/python/dist/pulumi-resource-pulumi-python" "$cli_dir/pulumi-resource-pulumi-python"
fi

# Kubernetes provider: used as it is when the Pulumi plugin cache already has the pinned version
# (a sysadmin's machine with upstream's plugin, or an earlier run); otherwise built, with its
# schema (version set) embedded, and installed into the plugin cache from the file, never downloaded.
export PATH="$bin:$PATH" PULUMI_SKIP_UPDATE_CHECK=true
if pulumi plugin ls --json 2>/dev/null | python3 -c '
import json, sys
want = sys.argv[1]
sys.exit(0 if any(p["name"] == "kubernetes" and p["kind"] == "resource" and p["version"] == want
                  for p in json.load(sys.stdin) or []) else 1)' "$PULUMI_KUBERNETES_VERSION"; then
  log "using the kubernetes provider v$PULUMI_KUBERNETES_VERSION from the Pulumi plugin cache"
else
  provider_dir="$here/go/kubernetes-provider"
  if [[ ! -s "$provider_dir/schema.json" ]] || ! grep -q "\"version\":\"$PULUMI_KUBERNETES_VERSION\"" "$provider_dir/schema.json"; then
    src=$(go list -C "$provider_dir" -m -f '{{.Dir}}' github.com/pulumi/pulumi-kubernetes/provider/v4)
    python3 - "$src/cmd/pulumi-resource-kubernetes/schema.json" "$provider_dir/schema.json" "$PULUMI_KUBERNETES_VERSION" <<'EOF'
import json, sys
schema = json.load(open(sys.argv[1]))
schema["version"] = sys.argv[3]
with open(sys.argv[2], "w") as out:
    json.dump(schema, out, separators=(",", ":"))
EOF
  fi
  provider=$(build pulumi-resource-kubernetes "$PULUMI_KUBERNETES_VERSION" "$provider_dir" . \
    "-X github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version.Version=$PULUMI_KUBERNETES_VERSION")
  log "installing the kubernetes provider plugin v$PULUMI_KUBERNETES_VERSION into the Pulumi plugin cache"
  pulumi plugin install resource kubernetes "v$PULUMI_KUBERNETES_VERSION" --file "$provider/pulumi-resource-kubernetes"
fi

# kind and helm.
tools_dir="$here/go/cluster-tools"
if found=$(on_path kind version "kind v$KIND_VERSION"); then
  log "using kind v$KIND_VERSION from $found"; link kind "$found"
else
  link kind "$(build kind "$KIND_VERSION" "$tools_dir" sigs.k8s.io/kind "")/kind"
fi
if found=$(on_path helm "version --short" "v$HELM_VERSION"); then
  log "using helm v$HELM_VERSION from $found"; link helm "$found"
else
  link helm "$(build helm "$HELM_VERSION" "$tools_dir" helm.sh/helm/v3/cmd/helm \
    "-X helm.sh/helm/v3/internal/version.version=v$HELM_VERSION")/helm"
fi

log "toolchain ready in $bin: pulumi v$PULUMI_VERSION, kubernetes provider v$PULUMI_KUBERNETES_VERSION, kind v$KIND_VERSION, helm v$HELM_VERSION"
