#!/usr/bin/env bash
# Builds the Debian 12 image with systemd as PID 1 that the Molecule scenarios under
# ansible/roles/*/molecule run in, without any container registry: debootstrap from the apt mirror
# this machine is configured with (offline/lib/build.sh), then `docker import`. Cached by the label
# of its inputs' hash (FORCE=1 rebuilds). Prints the image name.
#   offline/images/debian-systemd.sh
set -euo pipefail
# shellcheck source=offline/lib/build.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/build.sh"
builder_init debian-systemd

image=${IMAGE:-mlops/debian12-systemd:latest}
packages=systemd,systemd-sysv,dbus,python3,python3-apt,iproute2,ca-certificates,gnupg,procps,kmod,sudo

# The same mirror inside the image, so apt in the containers reaches it too; no units that wait
# for hardware or consoles a container does not have.
prepare() {
  local rootfs=$1 mirror unit
  mirror=$(debian_mirror)
  printf 'deb %s bookworm main\ndeb %s bookworm-updates main\n' "$mirror" "$mirror" >"$rootfs/etc/apt/sources.list"
  for unit in getty.target systemd-udevd.service systemd-udev-trigger.service systemd-modules-load.service \
    sys-kernel-config.mount sys-kernel-debug.mount sys-fs-fuse-connections.mount; do
    ln -sf /dev/null "$rootfs/etc/systemd/system/$unit"
  done
  : >"$rootfs/etc/machine-id"
}

need_docker
hash=$(inputs_hash -r rootfs -s "$packages $(debian_mirror) $(declare -f prepare)")
if ! image_current "$image" "$hash"; then
  tar=$cache/rootfs/debian-systemd-$hash.tar
  debootstrap_tar "$tar" "$packages" prepare
  docker import --change 'ENV container=docker' --change 'CMD ["/lib/systemd/systemd"]' \
    --change "LABEL org.mlops-platform.inputs-hash=$hash" "$tar" "$image" >/dev/null || die "docker import of $tar failed"
  rm -f "$tar"
  log "built $image"
fi
echo "$image"
