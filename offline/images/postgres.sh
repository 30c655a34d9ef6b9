#!/usr/bin/env bash
# Builds mlops.local/library/postgres:15.14-bookworm (the reference infra/images.toml lists for
# "postgres" with registry mlops.local) without any container registry: the Debian base image
# plus Debian's postgresql-15, the entrypoint in offline/images/postgres/ and the user and
# init-script helpers of offline/images/common/ it shares with mariadb.sh (debian_image).
# The tag keeps upstream's version so the charts need no change; the PostgreSQL inside is
# whatever 15.x bookworm(-security) ships, recorded in the label org.mlops-platform.postgres-version.
# Cached by the label of its inputs' hash (FORCE=1 rebuilds). Prints the image reference.
#   offline/images/postgres.sh
set -euo pipefail
# shellcheck source=offline/lib/build.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/build.sh"
builder_init postgres

image=$(image_ref postgres)
debian_image "$image" "$images_dir/postgres" docker-entrypoint.sh ../common/run-initdb.sh ../common/system-user.sh
if ((built)); then
  version=$(docker run --rm --entrypoint postgres "$image" --version | sed -E 's/.*\(Debian ([^)]*)\).*/\1/; s/^postgres \(PostgreSQL\) //')
  label_image "$image" "org.mlops-platform.postgres-version=$version"
  log "PostgreSQL $version"
fi
echo "$image"
