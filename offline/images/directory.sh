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
debian_image "$image" "$images_dir/directory" slapd.conf entrypoint.sh
echo "$image"
