#!/bin/sh
# apt-install.sh PACKAGE...: runs inside an image build (the builders copy it into the context
# with the build machine's apt sources, context_add_apt). Installs the Debian packages, without
# recommends, from those sources (the Debian base image knows bookworm main only; the machine's
# sources add -updates and -security and may name a local mirror), and leaves no package lists or
# downloaded .deb files in the layer, nor itself (a later stage that installs more copies it again).
set -eu
here=$(dirname "$0")
cp "$here/debian.sources" /etc/apt/sources.list.d/debian.sources
rm -f /etc/apt/sources.list
apt-get update
DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@"
apt-get clean
rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/cache/apt/archives/*.deb "$here"
