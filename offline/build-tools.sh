#!/usr/bin/env bash
# Builds (or finds) the pinned offline toolchain from the Go wrapper modules under offline/go/:
#   pulumi               the CLI and this project's Python language host (one `go build`)
#   kubernetes-provider  pulumi-resource-kubernetes, installed into the Pulumi plugin cache
#   kind, helm
# usage: offline/build-tools.sh [TOOL...]     (default: all four, in that order)
#
# Results are cached outside the repository, keyed by tool version and by a hash of the wrapper
# module that builds it, in $MLOPS_CACHE_DIR/tools/<tool>-<version>-<hash>/. A tool already on
# PATH at the pinned version (a sysadmin's laptop with upstream releases) is used as it is, and so
# is the provider when the Pulumi plugin cache has its pinned version.
# $MLOPS_CACHE_DIR/bin ends up holding pulumi, kind and helm; put it first on PATH. The engine
# finds its language host beside its own binary and the provider in its plugin cache (a plugin
# on PATH would take precedence with a warning, so none is linked there).
set -euo pipefail
# shellcheck source=offline/lib/build.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/build.sh"
builder_init tools
# shellcheck source=offline/versions.env
source "$offline/versions.env"
bin=$cache/bin
mkdir -p "$bin" "$cache/tools"
export PATH="$bin:$PATH" PULUMI_SKIP_UPDATE_CHECK=true

# on_path NAME VERSION-COMMAND EXPECTED: true when NAME on PATH (outside our bin) reports EXPECTED.
on_path() {
  local name=$1 expected=$3 found
  found=$(PATH=$(printf '%s' "$PATH" | tr ':' '\n' | grep -vxF "$bin" | paste -sd:) command -v "$name" 2>/dev/null) || return 1
  # shellcheck disable=SC2086
  "$found" $2 2>/dev/null | grep -qF -- "$expected" || return 1
  printf '%s' "$found"
}

# build TOOL VERSION MODULE-DIR LDFLAGS PACKAGE...: the packages' binaries in the tool's cache
# folder (built unless complete there); prints the folder.
build() {
  local tool=$1 version=$2 moddir=$3 ldflags=$4 dest
  shift 4
  # shellcheck disable=SC2046 # one file per word
  dest=$cache/tools/$tool-$version-$(cd "$moddir" && inputs_hash -r go go.mod go.sum $(find . -name '*.go' -o -name schema.json | LC_ALL=C sort))
  if ! cache_dir_ready "$dest"; then
    log "building $tool $version (cold: minutes; cached in $dest)"
    go_build_into --ldflags "$ldflags" "$dest.tmp" "$moddir" "$@"
    cache_dir_commit "$dest"
  fi
  printf '%s' "$dest"
}

link() { ln -sfn "$2" "$bin/$1"; }

# Pulumi CLI and language host: both stamped with the engine version. The engine looks for
# language plugins beside its own binary, so the host, the exec script it runs programs with and
# the provider for Python dynamic resources all go into pulumi's folder.
tool_pulumi() {
  local found dir sdk
  if found=$(on_path pulumi version "v$PULUMI_VERSION") && [[ -x $(dirname "$found")/pulumi-language-python ]]; then
    log "using pulumi v$PULUMI_VERSION from $found"
    link pulumi "$found"
    return
  fi
  dir=$(build pulumi "$PULUMI_VERSION" "$offline/go/pulumi" \
    "-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$PULUMI_VERSION" \
    github.com/pulumi/pulumi/pkg/v3/cmd/pulumi ./cmd/pulumi-language-python)
  sdk=$(go_module Dir "$offline/go/pulumi" github.com/pulumi/pulumi/sdk/v3)
  install -m 0755 "$sdk/python/cmd/pulumi-language-python-exec" "$dir/pulumi-language-python-exec"
  install -m 0755 "$sdk/python/dist/pulumi-resource-pulumi-python" "$dir/pulumi-resource-pulumi-python"
  link pulumi "$dir/pulumi"
}

# Kubernetes provider: built with its schema (version set) embedded, and installed into the
# plugin cache from the file, never downloaded.
tool_kubernetes_provider() {
  local provider_dir=$offline/go/kubernetes-provider src dir
  command -v pulumi >/dev/null || tool_pulumi
  if pulumi plugin ls --json 2>/dev/null \
      | python3 "$offline/lib/json_tools.py" plugin-installed kubernetes resource "$PULUMI_KUBERNETES_VERSION"; then
    log "using the kubernetes provider v$PULUMI_KUBERNETES_VERSION from the Pulumi plugin cache"
    return
  fi
  # Written from the pinned module every time (a stale one from an earlier pin would be embedded).
  src=$(go_module Dir "$provider_dir" github.com/pulumi/pulumi-kubernetes/provider/v4)
  python3 "$offline/lib/json_tools.py" schema-version "$src/cmd/pulumi-resource-kubernetes/schema.json" \
    "$provider_dir/schema.json.tmp" "$PULUMI_KUBERNETES_VERSION" \
    || die "cannot write $provider_dir/schema.json from $src"
  mv "$provider_dir/schema.json.tmp" "$provider_dir/schema.json"
  dir=$(build pulumi-resource-kubernetes "$PULUMI_KUBERNETES_VERSION" "$provider_dir" \
    "-X github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version.Version=$PULUMI_KUBERNETES_VERSION" .)
  log "installing the kubernetes provider plugin v$PULUMI_KUBERNETES_VERSION into the Pulumi plugin cache"
  # `go build .` names the binary after the wrapper module's last path element.
  pulumi plugin install resource kubernetes "v$PULUMI_KUBERNETES_VERSION" --file "$dir/kubernetes-provider" >&2 \
    || die "pulumi plugin install of $dir/kubernetes-provider failed"
}

tool_kind() {
  local found
  if found=$(on_path kind version "kind v$KIND_VERSION"); then
    log "using kind v$KIND_VERSION from $found"; link kind "$found"
  else
    link kind "$(build kind "$KIND_VERSION" "$offline/go/cluster-tools" "" sigs.k8s.io/kind)/kind"
  fi
}

tool_helm() {
  local found
  if found=$(on_path helm "version --short" "v$HELM_VERSION"); then
    log "using helm v$HELM_VERSION from $found"; link helm "$found"
  else
    link helm "$(build helm "$HELM_VERSION" "$offline/go/cluster-tools" \
      "-X helm.sh/helm/v3/internal/version.version=v$HELM_VERSION" helm.sh/helm/v3/cmd/helm)/helm"
  fi
}

tools=("$@")
[[ ${#tools[@]} -gt 0 ]] || tools=(pulumi kubernetes-provider kind helm)
for tool in "${tools[@]}"; do
  case $tool in
    pulumi | kubernetes-provider | kind | helm) "tool_${tool//-/_}" ;;
    *) die "unknown tool $tool (known: pulumi kubernetes-provider kind helm)" ;;
  esac
done
log "ready in $bin: ${tools[*]} (pulumi v$PULUMI_VERSION, kubernetes provider v$PULUMI_KUBERNETES_VERSION, kind v$KIND_VERSION, helm v$HELM_VERSION)"
