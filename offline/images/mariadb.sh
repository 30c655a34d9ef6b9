#!/usr/bin/env bash
# Builds mlops.local/library/mariadb:10.11 without any container registry: the Debian base image
# plus Debian's mariadb-server (10.11.x) and the entrypoint in offline/images/mariadb/, a drop-in
# for docker.io/library/mysql's interface (MYSQL_ROOT_PASSWORD, MYSQL_DATABASE,
# MYSQL_USER/MYSQL_PASSWORD, /docker-entrypoint-initdb.d, /var/lib/mysql, uid/gid 999, port 3306)
# for Kubeflow Pipelines and ML Metadata. The MariaDB inside is whatever 10.11.x
# bookworm(-security) ships, recorded in the label org.mlops-platform.mariadb-version.
# Cached by the label of its inputs' hash (FORCE=1 rebuilds). Prints the image reference.
#   offline/images/mariadb.sh
set -euo pipefail
# shellcheck source=offline/lib/build.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/build.sh"
builder_init mariadb

image=$(image_ref mysql)
src=$images_dir/mariadb
need_docker
need_base_image
hash=$(inputs_hash -r image "$src/Dockerfile" "$src/entrypoint.sh" "$(apt_sources)" -s "$base_ref $base_id")
if ! image_current "$image" "$hash"; then
  build_context
  cp "$src/Dockerfile" "$src/entrypoint.sh" "$ctx/"
  context_add_apt "$ctx"
  docker_build "$image" "$ctx" "$hash"
  version=$(docker run --rm --entrypoint dpkg-query "$image" -W -f '${Version}' mariadb-server)
  version=${version#*:}   # without the Debian epoch, e.g. 10.11.14-0+deb12u2
  [[ $version =~ ^10\.11\. ]] || die "unexpected mariadb-server version '$version' (10.11.x expected)"
  label_image "$image" "org.mlops-platform.mariadb-version=$version"
  log "MariaDB $version"
fi
echo "$image"
