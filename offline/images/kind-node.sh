#!/usr/bin/env bash
# Builds the kind node image offline, from Debian packages and binaries built from Go modules:
#   1. a Debian 12 root filesystem (debootstrap, the machine's configured mirror),
#   2. the images every node needs, tagged exactly as kubeadm and kind expect
#      (control plane, kube-proxy, etcd, CoreDNS, pause, the CNI agent, local-path-provisioner),
#      saved into the node at /kind/images and imported by containerd when it starts,
#   3. the node itself: rootfs + containerd, runc, crictl, CNI plugins, kubeadm/kubelet/kubectl,
#      kind's node files (from the kind module) and the manifests kind applies.
# Everything is cached by a hash of its inputs: a second run only checks that the image exists.
#
# usage: offline/images/kind-node.sh        prints the node image reference
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
offline=$(dirname "$here")
cache=${MLOPS_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/mlops-platform}
log() { printf '[node-image] %s\n' "$*" >&2; }
die() { printf '[node-image] ERROR: %s\n' "$*" >&2; exit 1; }

bash "$offline/docker.sh"
export DOCKER_BUILDKIT=0

# --- 1. Debian root filesystem ------------------------------------------------------------
packages=systemd,systemd-sysv,dbus,conntrack,iptables,nftables,iproute2,ethtool,util-linux,mount,kmod,libseccomp2,pigz,e2fsprogs,bash,ca-certificates,curl,jq,procps,netcat-openbsd
mirror=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
mirror=${mirror:-$(awk '/^deb / {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)}
[[ -n $mirror ]] || die "no Debian mirror found in /etc/apt/sources.list(.d); set one there"
base_tar=$cache/rootfs/bookworm-$(echo "$packages $mirror" | sha256sum | cut -c1-12).tar
if [[ ! -f $base_tar ]]; then
  command -v debootstrap >/dev/null || { apt-get update -qq && apt-get install -y -qq debootstrap >/dev/null; }
  log "debootstrap bookworm from $mirror (about a minute) ..."
  rootfs=$(mktemp -d)
  debootstrap --variant=minbase --include="$packages" bookworm "$rootfs" "$mirror" >"$rootfs.log" 2>&1 \
    || { tail -n 20 "$rootfs.log" >&2; die "debootstrap failed (log: $rootfs.log)"; }
  # As kind's base image does: no units that make sense only on a real machine.
  find "$rootfs/lib/systemd/system/sysinit.target.wants/" -name systemd-tmpfiles-setup.service -delete
  rm -f "$rootfs"/lib/systemd/system/multi-user.target.wants/* "$rootfs"/etc/systemd/system/*.wants/* \
    "$rootfs"/lib/systemd/system/local-fs.target.wants/* "$rootfs"/lib/systemd/system/sockets.target.wants/*udev* \
    "$rootfs"/lib/systemd/system/sockets.target.wants/*initctl* "$rootfs"/lib/systemd/system/basic.target.wants/*
  echo "ReadKMsg=no" >>"$rootfs/etc/systemd/journald.conf"
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  mkdir -p "$(dirname "$base_tar")"
  tar -C "$rootfs" -cf "$base_tar.tmp" . && mv "$base_tar.tmp" "$base_tar"
  rm -rf "$rootfs" "$rootfs.log"
fi
base_image=mlops.local/debian-base:bookworm-$(basename "$base_tar" .tar | cut -d- -f2)
if ! docker image inspect "$base_image" >/dev/null 2>&1; then
  log "importing $base_image"
  docker import "$base_tar" "$base_image" >/dev/null
fi

# --- 2. Images the cluster runs -------------------------------------------------------------
k8s_bin=$(bash "$offline/build-kubernetes.sh")
components=$(bash "$here/build-node-components.sh" | tail -n 1)
[[ -d $components ]] || die "build-node-components.sh did not print its bin directory (got: $components)"
kind_dir=$(go list -C "$offline/go/cluster-tools" -m -f '{{.Dir}}' sigs.k8s.io/kind)
version=$("$k8s_bin/kubeadm" version -o short)
images_list=$("$k8s_bin/kubeadm" config images list --kubernetes-version "$version" 2>/dev/null)
image_for() { grep -E "/$1:" <<<"$images_list" | head -n 1; }
inputs_hash=$( (cat "$0"; ls -l --time-style=+%s "$k8s_bin" "$components"; echo "$base_image") | sha256sum | cut -c1-12)
node_image=mlops.local/kind-node:$version-$inputs_hash
if docker image inspect "$node_image" >/dev/null 2>&1; then
  echo "$node_image"
  exit 0
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# build_image TAG FROM [BINARY...]: an image holding the given binaries in /usr/local/bin, the first
# one as its entrypoint.
build_image() {
  local tag=$1 from=$2
  shift 2
  local ctx=$work/ctx-${tag//[\/:]/_}
  mkdir -p "$ctx"
  printf 'FROM %s\n' "$from" >"$ctx/Dockerfile"
  for binary in "$@"; do
    cp "$binary" "$ctx/"
    printf 'COPY %s /usr/local/bin/%s\n' "$(basename "$binary")" "$(basename "$binary")" >>"$ctx/Dockerfile"
  done
  printf 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n' >>"$ctx/Dockerfile"
  # Like upstream's images (CoreDNS's Deployment passes only args), the first binary is the entrypoint.
  [[ $# -eq 0 ]] || printf 'ENTRYPOINT ["/usr/local/bin/%s"]\n' "$(basename "$1")" >>"$ctx/Dockerfile"
  docker build -q -t "$tag" "$ctx" >/dev/null 2>"$ctx.log" || { cat "$ctx.log" >&2; die "docker build of $tag failed"; }
  log "built image $tag"
}

preload=()
for component in kube-apiserver kube-controller-manager kube-scheduler; do
  tag=$(image_for "$component"); build_image "$tag" scratch "$k8s_bin/$component"; preload+=("$tag")
done
tag=$(image_for kube-proxy); build_image "$tag" "$base_image" "$k8s_bin/kube-proxy"; preload+=("$tag")
tag=$(image_for etcd); build_image "$tag" scratch "$components/etcd"; preload+=("$tag")
tag=$(image_for coredns); build_image "$tag" scratch "$components/coredns"; preload+=("$tag")
pause_image=$(image_for pause)
mkdir -p "$work/pause" && cp "$components/pause" "$work/pause/pause"
printf 'FROM scratch\nCOPY pause /pause\nENTRYPOINT ["/pause"]\n' >"$work/pause/Dockerfile"
docker build -q -t "$pause_image" "$work/pause" >/dev/null 2>"$work/pause.log" || { cat "$work/pause.log" >&2; die "pause image build failed"; }
preload+=("$pause_image")
cni_agent_image=mlops.local/cni-agent:$version
build_image "$cni_agent_image" "$base_image" "$k8s_bin/kubectl"; preload+=("$cni_agent_image")
local_path_image=mlops.local/local-path-provisioner:$("$components/local-path-provisioner" --version 2>/dev/null | grep -Eo 'v[0-9][0-9.]*' | head -n 1 || echo latest)
build_image "$local_path_image" "$base_image" "$components/local-path-provisioner"; preload+=("$local_path_image")
# The provisioner's helper pods only need a shell and coreutils.
helper_image=mlops.local/local-path-helper:bookworm
docker tag "$base_image" "$helper_image"; preload+=("$helper_image")

# --- 3. The node --------------------------------------------------------------------------
root=$work/node
mkdir -p "$root/usr/local/bin" "$root/usr/local/sbin" "$root/opt/cni/bin" "$root/kind/images" "$root/kind/manifests" \
  "$root/etc/systemd/system/multi-user.target.wants" "$root/etc/systemd/system/containerd.service.d" "$root/etc/kubernetes/manifests"
cp -r "$kind_dir/images/base/files/." "$root/"
chmod -R u+w "$root"
chmod 0755 "$root"/usr/local/bin/* "$root"/kind/bin/*
# kind's kubelet unit and its node actions expect the Kubernetes binaries in /usr/bin.
mkdir -p "$root/usr/bin"
for binary in kubeadm kubelet kubectl; do install -m 0755 "$k8s_bin/$binary" "$root/usr/bin/"; done
for binary in containerd containerd-shim-runc-v2 ctr crictl; do install -m 0755 "$components/$binary" "$root/usr/local/bin/"; done
install -m 0755 "$components/runc" "$root/usr/local/sbin/runc"
for plugin in bridge host-local loopback ptp portmap; do install -m 0755 "$components/cni/$plugin" "$root/opt/cni/bin/"; done
sed -i "s|sandbox_image = .*|sandbox_image = \"$pause_image\"|" "$root/etc/containerd/config.toml"
# Lowering a process's oom_score_adj needs CAP_SYS_RESOURCE, which privileged containers lack on
# hosts like this project's CI VMs (see offline/docker.sh): let containerd clamp pods' values to
# its own instead of failing every sandbox. On other hosts this only keeps pods from going below it.
sed -i "s|restrict_oom_score_adj = .*|restrict_oom_score_adj = true|" "$root/etc/containerd/config.toml"
# containerd's default OCI spec plus kind's product-files hook, without rlimits (kind does the same).
"$components/ctr" oci spec | python3 -c '
import json, sys
spec = json.load(sys.stdin)
spec.setdefault("hooks", {}).setdefault("createContainer", []).append({"path": "/kind/bin/mount-product-files.sh"})
spec["process"].pop("rlimits", None)
json.dump(spec, sys.stdout, indent=2)' >"$root/etc/containerd/cri-base.json"
for unit in kubelet containerd undo-mount-hacks; do
  ln -sf "/etc/systemd/system/$unit.service" "$root/etc/systemd/system/multi-user.target.wants/$unit.service"
done
ln -sf /dev/null "$root/etc/systemd/system/systemd-binfmt.service"
echo "$version" >"$root/kind/version"

log "saving ${#preload[@]} images into the node (imported by containerd at start)"
docker save -o "$root/kind/images/images.tar" "${preload[@]}"
cat >"$root/etc/systemd/system/containerd.service.d/10-import-images.conf" <<'EOF'
# Images are preloaded offline: import them before anything asks for them.
[Service]
ExecStartPost=/bin/sh -c 'for f in /kind/images/*.tar; do /usr/local/bin/ctr -n k8s.io images import --local "$f" >/dev/null; done'
EOF

sed -e "s|@CNI_AGENT_IMAGE@|$cni_agent_image|g" "$here/manifests/cni-agent.yaml" >"$root/kind/manifests/default-cni.yaml"
sed -e "s|@PROVISIONER_IMAGE@|$local_path_image|g" -e "s|@HELPER_IMAGE@|$helper_image|g" \
  "$here/manifests/local-path-storage.yaml" >"$root/kind/manifests/default-storage.yaml"

log "assembling $node_image"
mkdir -p "$work/rootfs"
tar -C "$work/rootfs" -xf "$base_tar"
cp -a "$root/." "$work/rootfs/"
ln -sf /usr/lib/systemd/systemd "$work/rootfs/sbin/init"
tar -C "$work/rootfs" -c . | docker import - "$node_image-rootfs" >/dev/null
# `docker import --change` cannot set STOPSIGNAL on every engine version; a one-line build can.
mkdir -p "$work/final"
printf 'FROM %s\nENV container=docker\nSTOPSIGNAL SIGRTMIN+3\nENTRYPOINT ["/usr/local/bin/entrypoint", "/sbin/init"]\n' \
  "$node_image-rootfs" >"$work/final/Dockerfile"
docker build -q -t "$node_image" "$work/final" >/dev/null 2>"$work/final.log" || { cat "$work/final.log" >&2; die "node image build failed"; }
docker rmi "$node_image-rootfs" >/dev/null
log "node image $node_image ($(docker image inspect -f '{{.Size}}' "$node_image" | awk '{printf "%.0f MB", $1/1e6}'))"
# Older node images are superseded (a cluster still running from one keeps it: removal then fails).
for stale in $(docker images --format '{{.Repository}}:{{.Tag}}' mlops.local/kind-node | grep -vxF "$node_image"); do
  docker rmi "$stale" >/dev/null 2>&1 && log "removed superseded $stale"
done
echo "$node_image"
