# Shared by every builder under offline/: the toolchain, Kubernetes, the node components, the node
# image and the platform images. A builder sources it and calls builder_init first:
#
#   source "$(dirname "${BASH_SOURCE[0]}")/../lib/build.sh"
#   builder_init seaweedfs
#
# What it gives (each function is described where it is defined):
#   cache, offline, images_dir, root     the cache root and the repository's folders
#   log, die                             messages on stderr, prefixed with the builder's name
#   go_module, go_build_into             a wrapper module's pinned source; one `go build` per module
#   cache_dir_ready, cache_dir_commit    a cache folder filled atomically (nothing half-built is reused)
#   inputs_hash                          a hash of what an output is built from
#   need_docker, need_base_image         the engine, and the Debian base image platform images build FROM
#   image_current, build_context, context_add_apt, context_add_ca, context_add_lock, docker_build, label_image,
#   lock_write_back                      the platform image build, up-to-date check and lock write-back
#   debian_image, venv_image             a whole image build: Debian packages; a pinned Python venv
#
# Nothing here trusts what an earlier run left behind: a module is downloaded before its folder is
# read, a cache folder counts only once complete, an image only with the label of its inputs.

# builder_init NAME: the builder's name (log prefix, log files), the cache and repository folders.
builder_init() {
  builder_name=$1
  builder_script=$(readlink -f "${BASH_SOURCE[1]}")
  offline=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
  root=$(dirname "$offline")
  images_dir=$offline/images
  cache=${MLOPS_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/mlops-platform}
  registry=${REGISTRY:-mlops.local}
  mkdir -p "$cache/logs"
}

log() { printf '[%s] %s\n' "$builder_name" "$*" >&2; }
die() { printf '[%s] ERROR: %s\n' "$builder_name" "$*" >&2; exit 1; }

# --- Go ----------------------------------------------------------------------------------------

# Go on PATH, and the compiler's garbage collector relaxed: GOGC=400 built CoreDNS from an empty build
# cache in a median of 121.8 s against 145.1 s at Go's default 100 (3 runs each, 2-core VM), with
# byte-identical binaries, so it is no input of any hash. GOMEMLIMIT (a soft limit per compiler
# process: memory / (2 x cores), two lanes of one compile per core) keeps a small machine's memory in
# bounds. Both yield to values set in the environment.
#
# Go's build cache: the builders' own, $cache/go-build, unless GOCACHE is set in the environment (then it
# is the user's: used, never trimmed). Go evicts nothing for days, and from a fresh machine make test's
# builds left 23 GB of it, which filled an 80 GB disk (session 21). So each builder holds a shared lock
# on $cache/go-build.lock while it may compile, and after each cache folder is committed
# (cache_dir_commit) go_cache_trim keeps the cache under MLOPS_GO_BUILD_CACHE_MB (default 5120; 0: no
# limit): when no other builder holds the lock, the least recently used files go until half the budget
# is left. Go tolerates missing entries (it recompiles them); none is removed while a build runs.
_go_lock_fd=""
need_go() {
  command -v go >/dev/null || die "Go (>= 1.26) is needed to build $builder_name: install it (https://go.dev/doc/install or Debian backports)"
  export GOGC=${GOGC:-400}
  if [[ -z ${GOMEMLIMIT:-} ]]; then
    GOMEMLIMIT=$(awk -v cores="$(nproc)" '/^MemTotal:/ {print int($2 / 1024 / (2 * cores)) "MiB"}' /proc/meminfo)
    export GOMEMLIMIT
  fi
  [[ -n ${GOCACHE:-} ]] || export GOCACHE=$cache/go-build
  if [[ $GOCACHE == "$cache/go-build" && -z $_go_lock_fd ]]; then
    _go_budget_kb >/dev/null
    exec {_go_lock_fd}>"$cache/go-build.lock"
    flock -s "$_go_lock_fd"
  fi
}

# _go_budget_kb: MLOPS_GO_BUILD_CACHE_MB in KiB (0: no limit); a bad value is an error naming it.
_go_budget_kb() {
  local mb=${MLOPS_GO_BUILD_CACHE_MB:-5120}
  [[ $mb =~ ^[0-9]+$ ]] || die "MLOPS_GO_BUILD_CACHE_MB=$mb: give the Go build cache's budget in whole MiB (5120 for 5 GiB; 0: no limit)"
  echo $((mb * 1024))
}

# go_cache_trim: the builders' Go build cache back under its budget (see need_go), when it is theirs,
# over the budget and no builder compiles; otherwise nothing. Says what it removed.
go_cache_trim() {
  local dir=$cache/go-build budget kb fd freed list
  [[ ${GOCACHE:-$dir} == "$dir" && -d $dir ]] || return 0
  budget=$(_go_budget_kb)
  ((budget > 0)) || return 0
  kb=$(du -sk "$dir" | cut -f1)
  ((kb > budget)) || return 0
  # This builder's own shared lock first; need_go takes it again before the next compile.
  if [[ -n $_go_lock_fd ]]; then
    exec {_go_lock_fd}>&-
    _go_lock_fd=""
  fi
  exec {fd}>"$cache/go-build.lock"
  if ! flock -n -x "$fd"; then
    exec {fd}>&-
    log "Go build cache $dir: $(((kb + 512) / 1024)) MiB, over its budget of $((budget / 1024)) MiB (MLOPS_GO_BUILD_CACHE_MB); another builder compiles: trimmed after it"
    return 0
  fi
  # Oldest first (Go refreshes a used entry's time), until half the budget is left. awk reads the
  # whole list (no early exit: sort would die of SIGPIPE under pipefail).
  list=$(mktemp)
  freed=$(find "$dir" -type f -printf '%T@ %k %p\n' | sort -n | awk -v excess=$((kb - budget / 2)) -v list="$list" '
    freed < excess { freed += $2; path = $0; sub(/^[^ ]+ [^ ]+ /, "", path); print path > list }
    END { print freed + 0 }')
  xargs -r -d '\n' rm -f -- <"$list"
  rm -f "$list"
  exec {fd}>&-
  log "Go build cache $dir: $(((kb + 512) / 1024)) MiB, over its budget of $((budget / 1024)) MiB (MLOPS_GO_BUILD_CACHE_MB): removed the least recently used $(((freed + 512) / 1024)) MiB"
}

# go_module FIELD WRAPPER MODULE: FIELD (Dir, Version, Time or Commit) of MODULE at the version the
# wrapper module WRAPPER pins. The module is downloaded first (and checked against WRAPPER's go.sum):
# `go list -m -f '{{.Dir}}'` prints an empty string for a module not yet in the module cache, which
# every warm machine hides. Commit and Time come from the module proxy's .info (Commit from its
# Origin, which older entries lack: then it is empty).
go_module() {
  local field=$1 wrapper=$2 module=$3 version json value
  need_go
  version=$(go list -C "$wrapper" -m -f '{{.Version}}' "$module" 2>/dev/null) && [[ -n $version ]] \
    || die "$module is not required by $wrapper/go.mod"
  json=$(go mod download -C "$wrapper" -json "$module@$version") \
    || die "go mod download $module@$version (pinned by $wrapper/go.mod) failed: $json"
  value=$(python3 "$offline/lib/json_tools.py" go-download-field "$json" "$field") || die "$module@$version: $value"
  # Commit may be empty: the proxy's .info of older fetches has no Origin.
  [[ -n $value || $field == Commit ]] || die "go mod download $module@$version (from $wrapper) gave no $field"
  [[ $field != Dir || -d $value ]] || die "go mod download $module@$version gave $value, which is not a folder"
  printf '%s' "$value"
}

# go_build_into [--cgo] [--tags TAGS] [--ldflags FLAGS] [--flag FLAG]... DIR WRAPPER PACKAGE...:
# one `go build` for every package (they share one dependency graph and the Go build cache, and
# link in parallel), static unless --cgo, -trimpath, stripped (-s -w); the binaries land in DIR
# under their package names. Runs at nice 10: the builds share 2 cores with whatever else runs.
# -v names each package as it compiles: the progress a stage's log shows during a long build.
go_build_into() {
  local cgo=0 tags="" ldflags="" flags=() dir wrapper
  while [[ $1 == --* ]]; do
    case $1 in
      --cgo) cgo=1; shift ;;
      --tags) tags=$2; shift 2 ;;
      --ldflags) ldflags=$2; shift 2 ;;
      --flag) flags+=("$2"); shift 2 ;;
      *) die "go_build_into: unknown option $1" ;;
    esac
  done
  dir=$1 wrapper=$2
  shift 2
  need_go
  mkdir -p "$dir"
  CGO_ENABLED=$cgo nice -n 10 go build -C "$wrapper" -v -trimpath "${flags[@]}" -tags "$tags" \
    -ldflags "-s -w $ldflags" -o "$dir/" "$@" || die "go build of $* (module $wrapper) failed"
}

# go_binaries_cached NAME VERSION WRAPPER MINUTES [go_build_into option]... PACKAGE...: builds the
# packages of WRAPPER once into $cache/NAME/VERSION-<hash of WRAPPER's go.mod and go.sum and the Go
# version> and sets `out` to that folder (MINUTES: the cold build time the log announces).
go_binaries_cached() {
  local name=$1 version=$2 wrapper=$3 minutes=$4 options=()
  shift 4
  while [[ $1 == --* ]]; do
    if [[ $1 == --cgo ]]; then options+=("$1"); shift; else options+=("$1" "$2"); shift 2; fi
  done
  out=$cache/$name/$version-$(inputs_hash -r go "$wrapper/go.mod" "$wrapper/go.sum" -s "$(go env GOVERSION)")
  if ! cache_dir_ready "$out"; then
    log "building $name $version (cold: about $minutes minutes on 2 cores)"
    go_build_into "${options[@]}" "$out.tmp" "$wrapper" "$@"
    cache_dir_commit "$out"
  fi
}

# cache_dir_ready DIR: true when DIR was completed by cache_dir_commit. Otherwise it empties
# DIR.tmp, where the caller builds, and returns false, holding DIR.lock until cache_dir_commit
# (or the builder's exit): a second builder of the same folder waits, then finds it complete.
declare -A _cache_locks=()
cache_dir_ready() {
  [[ -f $1/.complete ]] && return 0
  mkdir -p "$(dirname "$1")"
  local fd
  exec {fd}>"$1.lock"
  if ! flock -n "$fd"; then
    log "waiting for another build of $1 to finish"
    flock "$fd"
  fi
  if [[ -f $1/.complete ]]; then
    exec {fd}>&-
    return 0
  fi
  _cache_locks[$1]=$fd
  rm -rf "$1.tmp" && mkdir -p "$1.tmp"
  return 1
}

# cache_dir_commit DIR: DIR.tmp becomes DIR, marked complete; the lock is released.
cache_dir_commit() {
  touch "$1.tmp/.complete"
  rm -rf "$1" && mv "$1.tmp" "$1"
  local fd=${_cache_locks[$1]:-}
  if [[ -n $fd ]]; then
    exec {fd}>&-
    unset "_cache_locks[$1]"
  fi
  go_cache_trim
}

# --- Inputs ------------------------------------------------------------------------------------

# inputs_hash [-r RECIPE] [FILE | -o FILE | -s STRING]...: 16 hex digits over the given files and
# strings, the calling builder and, with -r, the functions of this library that made the output:
# `go` (go_build_into), `image` (the build context and docker_build) or `rootfs` (debootstrap_tar).
# So editing how Go builds run rebuilds Go outputs, not the Debian base image and every image on
# it. Comment lines of shell scripts and Dockerfiles are left out, so that notes do not force a
# rebuild. A missing FILE is an error (a typo must not hash as "nothing"); -o FILE is optional (a
# lock file the build may write back).
inputs_hash() {
  {
    grep -v '^[[:space:]]*#' "$builder_script" || true
    while (($#)); do
      if [[ $1 == -r ]]; then
        case $2 in
          go) declare -f go_build_into ;;
          image) declare -f context_add_apt context_add_ca context_add_lock docker_build label_image
                 grep -hv '^[[:space:]]*#' "$images_dir"/common/*.sh ;;
          rootfs) declare -f debootstrap_tar ;;
          *) die "inputs_hash: unknown recipe $2 (go, image, rootfs)" ;;
        esac
        shift 2; continue
      fi
      if [[ $1 == -s ]]; then
        printf '%s\n' "$2"; shift 2; continue
      fi
      if [[ $1 == -o ]]; then
        if [[ -f $2 ]]; then cat "$2"; else printf 'absent: %s\n' "$2"; fi
        shift 2; continue
      fi
      [[ -f $1 ]] || die "inputs_hash: $1 does not exist"
      case $1 in
        *.sh | */Dockerfile) grep -v '^[[:space:]]*#' "$1" || true ;;
        *) cat "$1" ;;
      esac
      shift
    done
  } | sha256sum | cut -c1-16
}

# --- Images ------------------------------------------------------------------------------------

# need_docker: a running engine (offline/docker.sh installs and starts one when it can) and the
# classic builder, which builds FROM local images without asking a registry.
need_docker() {
  bash "$offline/docker.sh" >&2 || die "no Docker engine (offline/docker.sh failed)"
  export DOCKER_BUILDKIT=0
}

# debian_mirror: the Debian mirror this machine's apt sources use for bookworm (deb822 or
# one-line format); debootstrap and apt inside images use the same.
debian_mirror() {
  local mirror
  mirror=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null | awk 'BEGIN { RS = ""; FS = "\n" }
    { uris = ""; ok = 0
      for (i = 1; i <= NF; i++) {
        if ($i ~ /^URIs:/) { sub(/^URIs:[ \t]*/, "", $i); split($i, u, /[ \t]+/); uris = u[1] }
        if ($i ~ /^Suites:/ && $i ~ /[ \t]bookworm([ \t]|$)/) ok = 1
      }
      if (ok && uris != "") { print uris; exit } }')
  [[ -n $mirror ]] || mirror=$(awk '$1 == "deb" { for (i = 2; i < NF; i++) if ($(i + 1) == "bookworm" && $i !~ /^\[/) { print $i; exit } }' \
    /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null || true)
  [[ -n $mirror ]] || die "no Debian bookworm mirror in /etc/apt/sources.list(.d): configure one there"
  printf '%s' "$mirror"
}

# debootstrap_tar TAR PACKAGES [FUNCTION]: a Debian 12 minbase root file system with PACKAGES
# (comma-separated) from debian_mirror, FUNCTION ROOTFS run on it, packed into TAR. Cached: TAR is
# written atomically and reused; concurrent builders wait for each other (flock).
debootstrap_tar() {
  local tar=$1 packages=$2 customize=${3:-} rootfs mirror
  mkdir -p "$(dirname "$tar")"
  exec 8>"$tar.lock"
  flock 8
  if [[ -f $tar ]]; then exec 8>&-; return 0; fi
  if ! command -v debootstrap >/dev/null; then
    [[ $(id -u) == 0 ]] || die "debootstrap is needed: apt-get install debootstrap"
    log "installing debootstrap"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap; } >/dev/null \
      || die "apt-get install debootstrap failed"
  fi
  mirror=$(debian_mirror)
  rootfs=$(mktemp -d "${TMPDIR:-/tmp}/mlops-rootfs.XXXXXX")
  log "debootstrap bookworm from $mirror (about a minute; log: $cache/logs/$builder_name-debootstrap.log)"
  debootstrap --variant=minbase --include="$packages" bookworm "$rootfs" "$mirror" >"$cache/logs/$builder_name-debootstrap.log" 2>&1 \
    || { tail -n 40 "$cache/logs/$builder_name-debootstrap.log" >&2; rm -rf "$rootfs"; die "debootstrap failed (log: $cache/logs/$builder_name-debootstrap.log)"; }
  [[ -z $customize ]] || "$customize" "$rootfs"
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  tar -C "$rootfs" -cf "$tar.tmp" . && mv "$tar.tmp" "$tar"
  rm -rf "$rootfs"
  exec 8>&-
}

# need_base_image: sets base_ref and base_id, the Debian base image platform images build FROM
# (offline/images/debian-base.sh builds it when its inputs changed) and its image ID.
need_base_image() {
  base_ref=$(bash "$images_dir/debian-base.sh") || die "offline/images/debian-base.sh failed"
  base_id=$(docker image inspect -f '{{.Id}}' "$base_ref") || die "the Debian base image $base_ref is missing"
}

# image_ref NAME [VERSION]: the reference this build tags for image NAME, from the platform's image
# list (infra/images.toml, its `offline` repository:tag under $registry). With VERSION (what the
# builder builds, e.g. its pinned Go module's version), the list's tag must be it: a list and a pin
# that disagree stop the build, naming both.
image_ref() {
  local ref
  ref=$(REGISTRY=$registry python3 "$root/infra/images.py" offline "$1") || die "infra/images.toml has no image $1 built offline"
  if [[ $# -ge 2 && ${ref##*:} != "$2" ]]; then
    die "infra/images.toml tags $1 as $ref, but this build makes version $2: change the list's tag (or the pin) so they agree"
  fi
  printf '%s\n' "$ref"
}

# image_current IMAGE HASH: IMAGE exists with the inputs-hash label HASH (FORCE=1: never).
image_current() {
  [[ ${FORCE:-0} != 1 ]] || return 1
  [[ $(docker image inspect -f '{{index .Config.Labels "org.mlops-platform.inputs-hash"}}' "$1" 2>/dev/null) == "$2" ]]
}

# image_outdated IMAGE INPUT...: with docker and the Debian base image ready, sets `hash` (the
# inputs: INPUT... and the base image) and, when IMAGE is not built from them yet, a fresh build
# context `ctx`; false when IMAGE is current.
image_outdated() {
  local image=$1
  shift
  need_docker
  need_base_image
  hash=$(inputs_hash -r image -s "$* $base_ref $base_id")
  image_current "$image" "$hash" && return 1
  build_context
}

# build_context: sets ctx to a new empty build context folder, removed when the builder exits
# (call it directly, not in $(...): a subshell would remove the folder as it returns).
build_context() {
  ctx=$(mktemp -d "${TMPDIR:-/tmp}/mlops-$builder_name.XXXXXX")
  _build_contexts+=("$ctx")
  trap '_remove_build_contexts' EXIT
}
_build_contexts=()
_remove_build_contexts() {
  local ctx
  for ctx in "${_build_contexts[@]}"; do chmod -R u+w "$ctx" 2>/dev/null; rm -rf "$ctx"; done
}

# apt_sources: the machine's deb822 apt sources, which images copy so that apt inside reaches the
# same mirror (bookworm, -updates, -security).
apt_sources() {
  local sources=/etc/apt/sources.list.d/debian.sources
  [[ -f $sources ]] || die "$sources not found: platform images copy the machine's apt sources from it"
  printf '%s' "$sources"
}

# context_add_apt CTX: the machine's apt sources as CTX/debian.sources, with the script that installs
# packages from them (offline/images/common/apt-install.sh; a Dockerfile copies both to /tmp/apt/).
context_add_apt() { cp "$(apt_sources)" "$1/debian.sources" && cp "$images_dir/common/apt-install.sh" "$1/"; }

# context_add_ca CTX: the build machine's CA bundle as CTX/build-ca.crt, for pip and npm inside the
# build stage only (the registries may sit behind an intercepting proxy).
context_add_ca() {
  local ca=${PIP_CERT:-/etc/ssl/certs/ca-certificates.crt}
  [[ -f $ca ]] || die "CA bundle $ca not found (set PIP_CERT to the bundle that verifies the package registries)"
  cp "$ca" "$1/build-ca.crt"
}

# context_add_lock CTX LOCK REQUIREMENTS: LOCK as CTX/requirements.lock (the Dockerfile installs it
# with --no-deps); without LOCK an empty CTX/requirements.none (keeps the Dockerfile's COPY glob
# non-empty) and the Dockerfile resolves REQUIREMENTS, for lock_write_back; and the script that makes
# the venv from them (offline/images/common/venv-install.sh).
context_add_lock() {
  cp "$images_dir/common/venv-install.sh" "$1/"
  if [[ -f $2 ]]; then
    cp "$2" "$1/requirements.lock"
  else
    : >"$1/requirements.none"
    log "no $2: resolving $3"
  fi
}

# docker_build IMAGE CTX HASH [NAME=VALUE]...: the classic builder on CTX, with the build args BASE
# (the Debian base image), INPUTS_HASH (the label image_current checks) and the given ones. The
# log stays in $cache/logs/<builder>-docker.log; on failure its last 40 lines are printed.
docker_build() {
  local image=$1 ctx=$2 hash=$3 args=() logfile start
  shift 3
  local arg
  for arg in "$@"; do args+=(--build-arg "$arg"); done
  logfile=$cache/logs/$builder_name-docker.log
  local previous
  previous=$(docker image inspect -f '{{.Id}}' "$image" 2>/dev/null || true)
  start=$SECONDS
  log "building $image (inputs hash $hash; log: $logfile)"
  if ! nice -n 10 docker build --build-arg "BASE=${base_ref:?call need_base_image first}" --build-arg "INPUTS_HASH=$hash" \
      "${args[@]}" -t "$image" "$ctx" >"$logfile" 2>&1; then
    tail -n 40 "$logfile" >&2
    die "docker build of $image failed (last 40 lines above; full log: $logfile)"
  fi
  log "built $image in $((SECONDS - start)) s, $(docker image inspect -f '{{.Size}}' "$image" | awk '{printf "%.0f MB", $1/1e6}')"
  # The image this one replaces, unless something still uses it (another tag, a container).
  [[ -z $previous || $previous == "$(docker image inspect -f '{{.Id}}' "$image")" ]] \
    || docker rmi "$previous" >/dev/null 2>&1 || true
}

# label_image IMAGE KEY=VALUE...: adds labels to IMAGE in place (a one-line build; no new layer).
label_image() {
  local image=$1 labels=""
  shift
  local kv
  for kv in "$@"; do labels+=" ${kv%%=*}=\"${kv#*=}\""; done
  printf 'FROM %s\nLABEL%s\n' "$image" "$labels" | docker build -q -t "$image" - >/dev/null 2>"$cache/logs/$builder_name-label.log" \
    || { cat "$cache/logs/$builder_name-label.log" >&2; die "labelling $image failed"; }
}

# lock_write_back IMAGE PATH LOCK: when the build resolved its requirements (no LOCK yet), the
# image's frozen requirements at PATH become LOCK (commit it). Returns 0 when it wrote the lock:
# the caller then relabels the image with the hash that covers the lock.
lock_write_back() {
  local image=$1 path=$2 lock=$3
  [[ -f $lock ]] && return 1
  docker run --rm --entrypoint cat "$image" "$path" >"$lock.tmp" || die "reading $path from $image failed"
  mv "$lock.tmp" "$lock"
  log "wrote $lock ($(wc -l <"$lock") packages): commit it"
  return 0
}

# _image_build IMAGE EXTEND FUNCTION...: the core of debian_image and venv_image, on arrays their caller
# declares (bash's dynamic scope): `dockerfiles` (joined into the context's Dockerfile), `files` (copied
# into the context under their base names; two of one name are refused), `hash_args` (more inputs_hash
# arguments: files, -o FILE, -s STRING) and `build_args` (NAME=VALUE for docker build). Unless IMAGE is
# current, builds it from a context holding those and the machine's apt sources with apt-install.sh
# (context_add_apt), after `EXTEND CTX` unless EXTEND is `-` (a function adding to the context). The inputs hash
# (_image_hash) covers all of these, the base image and the FUNCTIONs (the builder's functions: a
# change to how an image is made rebuilds it). Sets `hash`, and `built` to 1 when it built IMAGE, 0
# when IMAGE was current, so that a builder labels what the packages installed (label_image) after a
# build only. (Not a status: in a condition a function runs without set -e, and a failed cp would pass.)
_image_hash() {
  inputs_hash -r image "${dockerfiles[@]}" "${files[@]}" "$(apt_sources)" "${hash_args[@]}" \
    -s "$base_ref $base_id" -s "$(declare -f "$@" _image_hash _image_build)"
}
# shellcheck disable=SC2034 # built is for the caller
_image_build() {
  local image=$1 extend=$2 file name
  shift 2
  built=0
  need_docker
  need_base_image
  hash=$(_image_hash "$@")
  image_current "$image" "$hash" && return 0
  build_context
  cat "${dockerfiles[@]}" >"$ctx/Dockerfile"
  for file in "${files[@]}"; do
    name=$(basename "$file")
    [[ ! -e $ctx/$name ]] || die "$1: two files named $name for one build context"
    cp "$file" "$ctx/"
  done
  context_add_apt "$ctx"
  [[ $extend == - ]] || "$extend" "$ctx"
  docker_build "$image" "$ctx" "$hash" "${build_args[@]}"
  built=1
}

# debian_image IMAGE SRC_DIR FILE...: the build of an image whose Dockerfile installs Debian packages
# on the Debian base image (need_docker and need_base_image are called here). IMAGE is built from
# SRC_DIR/Dockerfile in a context holding that Dockerfile, the FILEs (relative to SRC_DIR, or absolute,
# e.g. "$images_dir/common/run-initdb.sh"; each under its base name) and the machine's apt sources with
# apt-install.sh, unless IMAGE is current (_image_build). Sets `hash` and `built`.
debian_image() {
  local image=$1 src=$2 file dockerfiles=("$2/Dockerfile") files=() hash_args=() build_args=()
  shift 2
  for file in "$@"; do
    [[ $file == /* ]] || file=$src/$file
    files+=("$file")
  done
  _image_build "$image" - debian_image
}

# venv_image IMAGE VENV_LOCK [NAME=VALUE]...: the build of an image whose program runs from a Python
# venv pinned by $src/requirements.lock (mlflow, pipeline-base, metadata, pipeline-torch), unless
# IMAGE is current. The context holds the Dockerfile, the apt sources, the CA bundle, the lock (or,
# without it, $REQUIREMENTS to resolve: the venv's frozen requirements at VENV_LOCK in the image are
# then written back as the lock and IMAGE relabelled) and the files of the array `context_files`.
# The Dockerfile is common/venv-stages.Dockerfile (the stages `runtime` and `build`: see there)
# followed by $src/Dockerfile, the image's last stage, unless `own_stages=1` (pipeline-torch: its
# Dockerfile is whole). The NAME=VALUE build args go to docker build (APP_USER, VENV, ...).
# Optional, set by the builder: `hashed_files` (more inputs, not copied), `hashed_strings`, and a
# function `add_to_context CTX` for a context that files alone cannot make. Reads REQUIREMENTS, and
# src and lock when set (default: offline/images/<builder name>/ and its requirements.lock); sets
# `hash` and `built` (1 when it built IMAGE), as debian_image does (the core is _image_build's).
venv_image() {
  local image=$1 venv_lock=$2
  shift 2
  src=${src:-$images_dir/$builder_name}
  lock=${lock:-$src/requirements.lock}
  local dockerfiles=("$images_dir/common/venv-stages.Dockerfile" "$src/Dockerfile")
  ((${own_stages:-0})) && dockerfiles=("$src/Dockerfile")
  local files=("${context_files[@]}") build_args=("$@" "REQUIREMENTS=$REQUIREMENTS")
  local hash_args=("${hashed_files[@]}" -o "$lock" -s "${build_args[*]} ${hashed_strings[*]}")
  _image_build "$image" _venv_context venv_image _venv_context
  if ((built)) && lock_write_back "$image" "$venv_lock" "$lock"; then
    hash=$(_image_hash venv_image _venv_context)
    label_image "$image" "org.mlops-platform.inputs-hash=$hash"
  fi
}
# _venv_context CTX: what a venv image's context holds besides its files: the CA bundle, the lock (or
# the requirements to resolve) and the builder's own add_to_context CTX, when it has one.
_venv_context() {
  context_add_ca "$1"
  context_add_lock "$1" "$lock" "$REQUIREMENTS"
  if declare -F add_to_context >/dev/null; then add_to_context "$1"; fi
}
