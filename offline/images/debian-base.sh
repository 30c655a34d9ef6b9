#!/usr/bin/env bash
# Builds the Debian 12 base image that the kind node and every platform image build FROM,
# mlops.local/debian-base:bookworm-<hash>, without any container registry: debootstrap (minbase)
# from the mirror of this machine's apt sources, with what a kind node needs (systemd, iptables,
# conntrack, ...), minus the units that make sense only on a real machine (as kind's base image).
# The hash covers the packages, the mirror and this script; the root file system is cached as a
# tarball in $MLOPS_CACHE_DIR/rootfs/, the image by its tag. Prints the image reference.
#   offline/images/debian-base.sh
set -euo pipefail
# shellcheck source=offline/lib/build.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/build.sh"
builder_init debian-base

packages=systemd,systemd-sysv,dbus,conntrack,iptables,nftables,iproute2,ethtool,util-linux,mount,kmod,libseccomp2,pigz,e2fsprogs,bash,ca-certificates,curl,jq,procps,netcat-openbsd

# As kind's base image does: no units that make sense only on a real machine; journald does not
# read the kernel log.
strip_units() {
  local rootfs=$1
  find "$rootfs/lib/systemd/system/sysinit.target.wants/" -name systemd-tmpfiles-setup.service -delete
  rm -f "$rootfs"/lib/systemd/system/multi-user.target.wants/* "$rootfs"/etc/systemd/system/*.wants/* \
    "$rootfs"/lib/systemd/system/local-fs.target.wants/* "$rootfs"/lib/systemd/system/sockets.target.wants/*udev* \
    "$rootfs"/lib/systemd/system/sockets.target.wants/*initctl* "$rootfs"/lib/systemd/system/basic.target.wants/*
  echo "ReadKMsg=no" >>"$rootfs/etc/systemd/journald.conf"
}

need_docker
hash=$(inputs_hash -r rootfs -s "$packages $(debian_mirror)")
image=mlops.local/debian-base:bookworm-$hash
if docker image inspect "$image" >/dev/null 2>&1; then
  echo "$image"
  exit 0
fi
tar=$cache/rootfs/debian-base-$hash.tar
debootstrap_tar "$tar" "$packages" strip_units
exec 9>"$tar.import.lock"
flock 9
if ! docker image inspect "$image" >/dev/null 2>&1; then
  docker import "$tar" "$image" >/dev/null || die "docker import of $tar failed"
  log "imported $image ($(docker image inspect -f '{{.Size}}' "$image" | awk '{printf "%.0f MB", $1/1e6}'))"
  # Superseded base images lose their tag (their layers stay while images built FROM them exist).
  for stale in $(docker images --format '{{.Repository}}:{{.Tag}}' mlops.local/debian-base | grep -vxF "$image"); do
    docker rmi "$stale" >/dev/null 2>&1 && log "untagged superseded $stale"
  done
  rm -f "$cache"/rootfs/debian-base-*.tar
fi
echo "$image"
