#!/bin/sh
# system-user.sh NAME HOME SHELL [COMMENT]: runs inside an image build (the database builders copy it
# into the context; a Dockerfile copies it to /tmp/). Makes the system group NAME with gid 999 and the
# system user NAME with uid 999 in it, home HOME (not created) and login shell SHELL, as the official
# mysql and postgres images have them (charts and volumes count on 999). The Debian base image's
# systemd-journal group holds gid 999: it moves to gid 997 first. Any other holder of gid 999 stops the
# build (groupadd fails). Leaves nothing in the layer, nor itself.
set -eu
name=$1 home=$2 shell=$3
if [ "$(getent group 999 | cut -d: -f1)" = systemd-journal ]; then
  groupmod -g 997 systemd-journal
fi
groupadd -r -g 999 "$name"
useradd -r -u 999 -g 999 -d "$home" -s "$shell" ${4:+-c "$4"} "$name"
rm -f "$0"
