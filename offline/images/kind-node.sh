#!/usr/bin/env bash
# Builds the kind node image offline, from Debian packages and binaries built from Go modules:
#   1. the Debian base image (offline/images/debian-base.sh),
#   2. the images every node needs, tagged exactly as kubeadm and kind expect (control plane,
#      kube-proxy, etcd, CoreDNS, pause, the CNI agent, the NetworkPolicy engine kube-router,
#      local-path-provisioner and its helper),
#      each rebuilt when its inputs changed (offline/ansible-artifacts.sh exports them too),
#   3. the node itself: the base's root file system + containerd, runc, crictl, CNI plugins,
#      kubeadm/kubelet/kubectl, kind's node files (from the kind module), the images of step 2
#      (imported by containerd when it starts) and the manifests kind applies.
# Everything is cached by a hash of its inputs: a second run only checks that the images exist.
#
# usage: offline/images/kind-node.sh        prints the node image reference
set -euo pipefail
# shellcheck source=offline/lib/build.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/build.sh"
builder_init node-image

need_docker
need_base_image
k8s_bin=$(bash "$offline/build-kubernetes.sh") || die "offline/build-kubernetes.sh failed"
components=$(bash "$images_dir/build-node-components.sh" | tail -n 1) || die "build-node-components.sh failed"
[[ -d $components ]] || die "build-node-components.sh did not print its bin directory (got: $components)"
kind_dir=$(go_module Dir "$offline/go/cluster-tools" sigs.k8s.io/kind)
version=$("$k8s_bin/kubeadm" version -o short)
images_list=$("$k8s_bin/kubeadm" config images list --kubernetes-version "$version" 2>/dev/null)
image_for() { grep -E "/$1:" <<<"$images_list" | head -n 1; }
# The binaries' folders are named by the hashes of what built them.
binaries="$k8s_bin $components $base_ref $base_id"

# --- 2. Images the cluster runs -------------------------------------------------------------
# component_image TAG FROM [BINARY...]: an image holding the binaries in /usr/local/bin, the first
# one its entrypoint (CoreDNS's Deployment, like upstream's images, passes only args).
component_image() {
  local tag=$1 from=$2 hash ctx binary
  shift 2
  [[ -n $tag ]] || die "kubeadm $version names no image for one of the node's components: $images_list"
  hash=$(inputs_hash -r image -s "$binaries $tag $from $*")
  preload+=("$tag")
  image_current "$tag" "$hash" && return 0
  build_context
  printf 'FROM %s\n' "$from" >"$ctx/Dockerfile"
  for binary in "$@"; do
    cp "$binary" "$ctx/"
    printf 'COPY %s /usr/local/bin/%s\n' "$(basename "$binary")" "$(basename "$binary")" >>"$ctx/Dockerfile"
  done
  printf 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n' >>"$ctx/Dockerfile"
  [[ $# -eq 0 ]] || printf 'ENTRYPOINT ["/usr/local/bin/%s"]\n' "$(basename "$1")" >>"$ctx/Dockerfile"
  printf 'ARG INPUTS_HASH\nLABEL org.mlops-platform.inputs-hash=${INPUTS_HASH}\n' >>"$ctx/Dockerfile"
  docker_build "$tag" "$ctx" "$hash"
}

preload=()
for component in kube-apiserver kube-controller-manager kube-scheduler; do
  component_image "$(image_for "$component")" scratch "$k8s_bin/$component"
done
component_image "$(image_for kube-proxy)" "$base_ref" "$k8s_bin/kube-proxy"
component_image "$(image_for etcd)" scratch "$components/etcd"
component_image "$(image_for coredns)" scratch "$components/coredns"
# The pause program at /pause, as upstream's image has it.
pause_image=$(image_for pause)
pause_hash=$(inputs_hash -r image -s "$binaries $pause_image")
preload+=("$pause_image")
if ! image_current "$pause_image" "$pause_hash"; then
  build_context
  cp "$components/pause" "$ctx/pause"
  printf 'FROM scratch\nCOPY pause /pause\nENTRYPOINT ["/pause"]\nARG INPUTS_HASH\nLABEL org.mlops-platform.inputs-hash=${INPUTS_HASH}\n' >"$ctx/Dockerfile"
  docker_build "$pause_image" "$ctx" "$pause_hash"
fi
cni_agent_image=mlops.local/cni-agent:$version
component_image "$cni_agent_image" "$base_ref" "$k8s_bin/kubectl"
local_path_image=mlops.local/local-path-provisioner:$("$components/local-path-provisioner" --version 2>/dev/null | grep -Eo 'v[0-9][0-9.]*' | head -n 1 || echo latest)
component_image "$local_path_image" "$base_ref" "$components/local-path-provisioner"
# The NetworkPolicy engine (kube-router, firewall only), built from its Go module.
kube_router_image=$(bash "$images_dir/kube-router.sh") || die "offline/images/kube-router.sh failed"
preload+=("$kube_router_image")
# The provisioner's helper pods only need a shell and coreutils.
helper_image=mlops.local/local-path-helper:bookworm
docker tag "$base_ref" "$helper_image"
preload+=("$helper_image")

# --- 3. The node --------------------------------------------------------------------------
manifests=$images_dir/manifests
# The NetworkPolicy engine's manifest is the Ansible control_plane role's: one manifest for both clusters.
engine_manifest=$root/ansible/roles/control_plane/files/kube-router.yaml
# The cgroup driver of the node's containerd and kubelet. On a cgroup v1 host, runc's systemd driver
# freezes a container's cgroup before it changes the systemd unit's device rules, and a v1 freezer
# cannot freeze while processes keep appearing: under load containers then fail to start
# ("error setting cgroup config for procHooks process: unable to freeze", Argo's StartError;
# opencontainers/cgroups systemd/v1.go Set -> fs/freezer.go). The cgroupfs driver writes the cgroup
# files directly and never freezes. On cgroup v2 hosts systemd stays, as kubeadm recommends.
# MLOPS_CGROUP_DRIVER=systemd|cgroupfs overrides the choice (to measure one against the other).
if [[ -n ${MLOPS_CGROUP_DRIVER:-} ]]; then
  cgroup_driver=$MLOPS_CGROUP_DRIVER
elif [[ $(stat -fc %T /sys/fs/cgroup) == cgroup2fs ]]; then
  cgroup_driver=systemd
else
  cgroup_driver=cgroupfs
fi
[[ $cgroup_driver == systemd || $cgroup_driver == cgroupfs ]] \
  || die "MLOPS_CGROUP_DRIVER must be systemd or cgroupfs, got '$cgroup_driver'"
# The cluster's Service range: the NetworkPolicy engine's manifest needs it; recorded as an image
# label, which dev_cluster/cluster.sh gives kubeadm (serviceSubnet), so the two cannot disagree.
service_cidr=10.96.0.0/16
node_hash=$(inputs_hash -r image "$manifests/cni-agent.yaml" "$engine_manifest" "$manifests/local-path-storage.yaml" \
  -s "$binaries $kind_dir $cgroup_driver $service_cidr $(docker image inspect -f '{{.Id}}' "${preload[@]}")")
node_image=mlops.local/kind-node:$version-$node_hash
if docker image inspect "$node_image" >/dev/null 2>&1; then
  echo "$node_image"
  exit 0
fi

build_context; work=$ctx
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
systemd_cgroup=$([[ $cgroup_driver == systemd ]] && echo true || echo false)
sed -i "s|SystemdCgroup = .*|SystemdCgroup = $systemd_cgroup|" "$root/etc/containerd/config.toml"
grep -q "SystemdCgroup = $systemd_cgroup" "$root/etc/containerd/config.toml" \
  || die "kind's containerd config has no SystemdCgroup setting to set to $systemd_cgroup"
# containerd's default OCI spec plus kind's product-files hook, without rlimits (kind does the same).
"$components/ctr" oci spec | python3 "$offline/lib/json_tools.py" kind-oci-spec /kind/bin/mount-product-files.sh \
  >"$root/etc/containerd/cri-base.json"
for unit in kubelet containerd undo-mount-hacks; do
  ln -sf "/etc/systemd/system/$unit.service" "$root/etc/systemd/system/multi-user.target.wants/$unit.service"
done
ln -sf /dev/null "$root/etc/systemd/system/systemd-binfmt.service"
echo "$version" >"$root/kind/version"

log "saving ${#preload[@]} images into the node (imported by containerd at start)"
docker save -o "$root/kind/images/images.tar" "${preload[@]}"
cat >"$root/etc/systemd/system/containerd.service.d/10-import-images.conf" <<'UNIT'
# Images are preloaded offline: import them before anything asks for them.
[Service]
ExecStartPost=/bin/sh -c 'for f in /kind/images/*.tar; do /usr/local/bin/ctr -n k8s.io images import --local "$f" >/dev/null; done'
UNIT

# kind applies one network manifest: the CNI agent and the NetworkPolicy engine.
{
  sed -e "s|@CNI_AGENT_IMAGE@|$cni_agent_image|g" "$manifests/cni-agent.yaml"
  echo "---"
  sed -e "s|@KUBE_ROUTER_IMAGE@|$kube_router_image|g" -e "s|@SERVICE_CIDR@|$service_cidr|g" "$engine_manifest"
} >"$root/kind/manifests/default-cni.yaml"
sed -e "s|@PROVISIONER_IMAGE@|$local_path_image|g" -e "s|@HELPER_IMAGE@|$helper_image|g" \
  "$manifests/local-path-storage.yaml" >"$root/kind/manifests/default-storage.yaml"

log "assembling $node_image"
mkdir -p "$work/final"
# The node's own files on top of the base image (no second copy of the root file system).
tar -C "$root" -cf "$work/final/node-files.tar" .
printf '%s\n' "FROM $base_ref" "ADD node-files.tar /" "RUN ln -sf /usr/lib/systemd/systemd /sbin/init" \
  "ENV container=docker" "LABEL org.mlops-platform.cgroup-driver=$cgroup_driver org.mlops-platform.service-cidr=$service_cidr" "STOPSIGNAL SIGRTMIN+3" 'ENTRYPOINT ["/usr/local/bin/entrypoint", "/sbin/init"]' >"$work/final/Dockerfile"
docker build -q -t "$node_image" "$work/final" >/dev/null 2>"$cache/logs/node-image-final.log" \
  || { cat "$cache/logs/node-image-final.log" >&2; die "node image build failed"; }
log "node image $node_image ($(docker image inspect -f '{{.Size}}' "$node_image" | awk '{printf "%.0f MB", $1/1e6}'), cgroup driver $cgroup_driver)"
# Older node images are superseded (a cluster still running from one keeps it: removal then fails).
for stale in $(docker images --format '{{.Repository}}:{{.Tag}}' mlops.local/kind-node | grep -vxF "$node_image"); do
  docker rmi "$stale" >/dev/null 2>&1 && log "removed superseded $stale"
done
echo "$node_image"
