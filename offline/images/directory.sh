#!/usr/bin/env bash
# Builds mlops.local/tests/directory:slapd-bookworm: the local stack's stand-in for a university's
# LDAP directory (Debian's OpenLDAP slapd, offline/images/directory/), which the UI login test
# deploys with its own people and passwords and signs in through (Dex's LDAP connector). Not a
# platform image: production sites point login.ldap at their own directory.
# Cached by the label of its inputs' hash. Prints the image reference.
#   offline/images/directory.sh
set -euo pipefail
# shellcheck source=offline/lib/build.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/build.sh"
builder_init directory

image=$registry/tests/directory:slapd-bookworm
src=$images_dir/directory
need_docker
need_base_image
hash=$(inputs_hash -r image "$src/Dockerfile" "$src/slapd.conf" "$src/entrypoint.sh" "$(apt_sources)" -s "$base_ref $base_id")
if ! image_current "$image" "$hash"; then
  build_context
  cp "$src/Dockerfile" "$src/slapd.conf" "$src/entrypoint.sh" "$ctx/"
  context_add_apt "$ctx"
  docker_build "$image" "$ctx" "$hash"
fi
echo "$image"
