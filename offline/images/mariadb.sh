#!/usr/bin/env bash
# Builds mlops.local/library/mariadb:10.11 without any container registry: the Debian base image
# of kind-node.sh plus Debian's mariadb-server (10.11.x) and the entrypoint in offline/images/mariadb/,
# a drop-in for docker.io/library/mysql's interface (MYSQL_ROOT_PASSWORD, MYSQL_DATABASE,
# MYSQL_USER/MYSQL_PASSWORD, /docker-entrypoint-initdb.d, /var/lib/mysql, uid/gid 999, port 3306)
# for Kubeflow Pipelines and ML Metadata.
# Cached: does nothing when the tag exists with the label of the current inputs' hash (FORCE=1
# rebuilds). Progress goes to stderr; the last line of stdout is the image reference.
#   offline/images/mariadb.sh
# The MariaDB inside is whatever 10.11.x bookworm(-security) ships, recorded in the label
# org.mlops-platform.mariadb-version.
set -euo pipefail

REGISTRY=${REGISTRY:-mlops.local}
IMAGE="$REGISTRY/library/mariadb:10.11"
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
log() { echo "mariadb-image: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }
export DOCKER_BUILDKIT=0   # the classic builder uses the local base image without any registry

bash "$here/../docker.sh" >&2
base=$(bash "$here/base-image.sh") || exit 1
sources=/etc/apt/sources.list.d/debian.sources
[[ -f $sources ]] || die "$sources not found: the image's apt sources are copied from it"

hash=$( (cat "$0" "$here/mariadb/Dockerfile" "$here/mariadb/entrypoint.sh" "$sources"
         echo "$base $(docker image inspect --format '{{.Id}}' "$base")") | sha256sum | cut -c1-16)
current=$(docker image inspect --format '{{index .Config.Labels "org.mlops-platform.inputs-hash"}}' "$IMAGE" 2>/dev/null || true)
if [[ $current == "$hash" && ${FORCE:-0} != 1 ]]; then
  log "$IMAGE is up to date (inputs hash $hash; FORCE=1 rebuilds it)"
  echo "$IMAGE"
  exit 0
fi

ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
cp "$here/mariadb/Dockerfile" "$here/mariadb/entrypoint.sh" "$ctx/"
cp "$sources" "$ctx/debian.sources"
started=$SECONDS
log "building $IMAGE from $base (inputs hash $hash) ..."
nice -n 10 docker build --build-arg BASE="$base" --build-arg INPUTS_HASH="$hash" -t "$IMAGE.tmp-$hash" "$ctx" >"$ctx/build.log" 2>&1 \
  || { tail -n 30 "$ctx/build.log" >&2; die "docker build of $IMAGE failed"; }
version=$(docker run --rm --entrypoint dpkg-query "$IMAGE.tmp-$hash" -W -f '${Version}' mariadb-server)
version=${version#*:}   # without the Debian epoch, e.g. 10.11.14-0+deb12u2
[[ $version =~ ^10\.11\. ]] || die "unexpected mariadb-server version '$version' (10.11.x expected)"
# The version label is added after the build, when it is known.
printf 'FROM %s\nLABEL org.mlops-platform.mariadb-version=%s\n' "$IMAGE.tmp-$hash" "$version" \
  | docker build -q -t "$IMAGE" - >/dev/null 2>"$ctx/label.log" || { cat "$ctx/label.log" >&2; die "labelling $IMAGE failed"; }
docker rmi "$IMAGE.tmp-$hash" >/dev/null
log "built $IMAGE (MariaDB $version) in $((SECONDS - started)) s, $(docker image inspect --format '{{.Size}}' "$IMAGE" | awk '{printf "%.0f MB", $1/1e6}')"
echo "$IMAGE"
