#!/usr/bin/env bash
# Builds mlops.local/library/postgres:15.14-bookworm (the reference infra/images.toml lists for
# "postgres" with registry mlops.local) without any container registry: the Debian base image
# plus Debian's postgresql-15 and the entrypoint in offline/images/postgres/.
# The tag keeps upstream's version so the charts need no change; the PostgreSQL inside is
# whatever 15.x bookworm(-security) ships, recorded in the label org.mlops-platform.postgres-version.
# Cached by the label of its inputs' hash (FORCE=1 rebuilds). Prints the image reference.
#   offline/images/postgres.sh
set -euo pipefail
# shellcheck source=offline/lib/build.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/build.sh"
builder_init postgres

image=$(image_ref postgres)
src=$images_dir/postgres
need_docker
need_base_image
hash=$(inputs_hash -r image "$src/Dockerfile" "$src/docker-entrypoint.sh" "$(apt_sources)" -s "$base_ref $base_id")
if ! image_current "$image" "$hash"; then
  build_context
  cp "$src/Dockerfile" "$src/docker-entrypoint.sh" "$ctx/"
  context_add_apt "$ctx"
  docker_build "$image" "$ctx" "$hash"
  version=$(docker run --rm --entrypoint postgres "$image" --version | sed -E 's/.*\(Debian ([^)]*)\).*/\1/; s/^postgres \(PostgreSQL\) //')
  label_image "$image" "org.mlops-platform.postgres-version=$version"
  log "PostgreSQL $version"
fi
echo "$image"
