#!/usr/bin/env bash
# Builds mlops.local/library/mariadb:10.11 without any container registry: the Debian base image
# plus Debian's mariadb-server (10.11.x), the entrypoint in offline/images/mariadb/ and the user and
# init-script helpers of offline/images/common/ it shares with postgres.sh (debian_image), a drop-in
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
debian_image "$image" "$images_dir/mariadb" entrypoint.sh ../common/run-initdb.sh ../common/system-user.sh
if ((built)); then
  version=$(docker run --rm --entrypoint dpkg-query "$image" -W -f '${Version}' mariadb-server)
  version=${version#*:}   # without the Debian epoch, e.g. 10.11.14-0+deb12u2
  [[ $version =~ ^10\.11\. ]] || die "unexpected mariadb-server version '$version' (10.11.x expected)"
  label_image "$image" "org.mlops-platform.mariadb-version=$version"
  log "MariaDB $version"
fi
echo "$image"
