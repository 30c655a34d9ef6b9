#!/usr/bin/env bash
# Builds the Debian 12 image with systemd as PID 1 that the Molecule scenarios under ansible/roles/*/molecule
# run in, without any container registry: debootstrap from the apt mirror this machine is configured with,
# then `docker import`. Cached: does nothing when the image exists (FORCE=1 rebuilds it).
#   offline/images/debian-systemd.sh            # prints the image name
# offline/docker.sh installs and starts the Docker engine when needed (root needed for that).
set -euo pipefail

IMAGE="${IMAGE:-mlops/debian12-systemd:latest}"
SUITE=bookworm
PACKAGES=systemd,systemd-sysv,dbus,python3,python3-apt,iproute2,ca-certificates,gnupg,procps,kmod,sudo

log() { echo "debian-systemd: $*" >&2; }


# The Debian mirror of this machine's apt sources (deb822 or one-line format), for the suite itself.
configured_mirror() {
  local sources
  sources=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
  awk -v suite="$SUITE" 'BEGIN { RS = ""; FS = "\n" }
    {
      uris = ""; match_suite = 0
      for (i = 1; i <= NF; i++) {
        if ($i ~ /^URIs:/) { sub(/^URIs:[ \t]*/, "", $i); split($i, u, /[ \t]+/); uris = u[1] }
        if ($i ~ /^Suites:/) { n = split($i, s, /[ \t]+/); for (j = 2; j <= n; j++) if (s[j] == suite) match_suite = 1 }
      }
      if (match_suite && uris != "") { print uris; exit }
    }' <<<"$sources"
  awk -v suite="$SUITE" '$1 == "deb" { for (i = 2; i < NF; i++) if ($(i + 1) == suite && $i !~ /^\[/) { print $i; exit } }' \
    /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null || true
}

bash "$(dirname "${BASH_SOURCE[0]}")/../docker.sh"
if docker image inspect "$IMAGE" >/dev/null 2>&1 && [[ "${FORCE:-0}" != 1 ]]; then
  log "$IMAGE exists (FORCE=1 rebuilds it)"
  echo "$IMAGE"
  exit 0
fi

mirror=$(configured_mirror | head -n 1)
mirror=${mirror:-http://deb.debian.org/debian}
command -v debootstrap >/dev/null 2>&1 || DEBIAN_FRONTEND=noninteractive apt-get install -y -q debootstrap >/dev/null

rootfs=$(mktemp -d /var/tmp/debian-systemd.XXXXXX)
trap 'rm -rf "$rootfs"' EXIT
started=$SECONDS
log "debootstrap $SUITE from $mirror"
debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$rootfs" "$mirror" >/dev/null

# The same mirror inside the image, so apt in the containers reaches it too.
cat >"$rootfs/etc/apt/sources.list" <<SOURCES
deb $mirror $SUITE main
deb $mirror $SUITE-updates main
SOURCES
# Units that wait for hardware or consoles a container does not have.
for unit in getty.target systemd-udevd.service systemd-udev-trigger.service systemd-modules-load.service \
  sys-kernel-config.mount sys-kernel-debug.mount sys-fs-fuse-connections.mount; do
  ln -sf /dev/null "$rootfs/etc/systemd/system/$unit"
done
: >"$rootfs/etc/machine-id"
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*

tar -C "$rootfs" -c . | docker import \
  --change 'ENV container=docker' \
  --change 'CMD ["/lib/systemd/systemd"]' \
  - "$IMAGE" >/dev/null
log "built $IMAGE in $((SECONDS - started)) s"
echo "$IMAGE"
