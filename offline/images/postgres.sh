#!/usr/bin/env bash
# Builds mlops.local/library/postgres:15.14-bookworm (the reference infra/images.py resolves for
# "postgres" with registry mlops.local) without any container registry: the Debian base image
# of kind-node.sh plus Debian's postgresql-15 and the entrypoint in offline/images/postgres/.
# Cached: does nothing when the tag exists with the label of the current inputs' hash (FORCE=1
# rebuilds). Progress goes to stderr; the last line of stdout is the image reference.
#   offline/images/postgres.sh
# The tag keeps upstream's version so the charts need no change; the PostgreSQL inside is
# whatever 15.x bookworm(-security) ships, recorded in the label org.mlops-platform.postgres-version.
set -euo pipefail

REGISTRY=${REGISTRY:-mlops.local}
IMAGE="$REGISTRY/library/postgres:15.14-bookworm"
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
log() { echo "postgres-image: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }
export DOCKER_BUILDKIT=0   # the classic builder uses the local base image without any registry

bash "$here/../docker.sh" >&2
base=$(bash "$here/base-image.sh") || exit 1
sources=/etc/apt/sources.list.d/debian.sources
[[ -f $sources ]] || die "$sources not found: the image's apt sources are copied from it"

hash=$( (cat "$0" "$here/postgres/Dockerfile" "$here/postgres/docker-entrypoint.sh" "$sources"
         echo "$base $(docker image inspect --format '{{.Id}}' "$base")") | sha256sum | cut -c1-16)
current=$(docker image inspect --format '{{index .Config.Labels "org.mlops-platform.inputs-hash"}}' "$IMAGE" 2>/dev/null || true)
if [[ $current == "$hash" && ${FORCE:-0} != 1 ]]; then
  log "$IMAGE is up to date (inputs hash $hash; FORCE=1 rebuilds it)"
  echo "$IMAGE"
  exit 0
fi

ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
cp "$here/postgres/Dockerfile" "$here/postgres/docker-entrypoint.sh" "$ctx/"
cp "$sources" "$ctx/debian.sources"
started=$SECONDS
log "building $IMAGE from $base (inputs hash $hash) ..."
docker build --build-arg BASE="$base" --build-arg INPUTS_HASH="$hash" -t "$IMAGE.tmp-$hash" "$ctx" >"$ctx/build.log" 2>&1 \
  || { tail -n 30 "$ctx/build.log" >&2; die "docker build of $IMAGE failed"; }
version=$(docker run --rm --entrypoint postgres "$IMAGE.tmp-$hash" --version | sed -E 's/.*\(Debian ([^)]*)\).*/\1/; s/^postgres \(PostgreSQL\) //')
# The version label is added after the build, when it is known.
printf 'FROM %s\nLABEL org.mlops-platform.postgres-version=%s\n' "$IMAGE.tmp-$hash" "$version" \
  | docker build -q -t "$IMAGE" - >/dev/null 2>"$ctx/label.log" || { cat "$ctx/label.log" >&2; die "labelling $IMAGE failed"; }
docker rmi "$IMAGE.tmp-$hash" >/dev/null
log "built $IMAGE (PostgreSQL $version) in $((SECONDS - started)) s, $(docker image inspect --format '{{.Size}}' "$IMAGE" | awk '{printf "%.0f MB", $1/1e6}')"
echo "$IMAGE"
