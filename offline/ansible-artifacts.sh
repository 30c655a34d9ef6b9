#!/usr/bin/env bash
# Assembles the air-gapped artifact directory of the Ansible roles (kubernetes_node_install_method: artifacts)
# from this project's offline builds, so a cluster can be built by ansible-playbook with no registry and no
# download at all:
#   <dir>/kubeadm kubelet kubectl        Kubernetes binaries (offline/build-kubernetes.sh)
#   <dir>/crictl                         the CRI client kubeadm needs (offline/images/build-node-components.sh)
#   <dir>/cni/                           CNI plugins (offline/images/build-node-components.sh)
#   <dir>/images/*.tar                   control-plane, kube-proxy, CoreDNS, pause, CNI agent and NetworkPolicy
#                                        engine (kube-router) images, tagged as kubeadm and the manifests expect;
#                                        kubernetes_node imports them into containerd
#   <dir>/cni-agent.yaml                 the pod network manifest (control_plane_cni_manifest)
#   <dir>/network-policy-image           the engine's image name (control_plane_network_policy_image); the engine's
#                                        manifest is the control_plane role's own (files/kube-router.yaml)
#   <dir>/nvidia/                        nvidia-container-runtime, nvidia-cdi-hook and nvidia-ctk (the pinned toolkit
#                                        module, offline/go/nvidia-container-toolkit) for GPU nodes
#                                        (nvidia_container_toolkit_install_method: artifacts, _artifact_dir: <dir>/nvidia)
# Copy the directory to the Ansible controller and point kubernetes_node_artifact_dir at it.
# Cached by the inputs' hash: a second run only prints the directory.
#   offline/ansible-artifacts.sh          prints the directory
set -euo pipefail

# shellcheck source=offline/lib/build.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/build.sh"
builder_init ansible-artifacts
here=$offline
# shellcheck source=offline/lib/nvidia.sh
source "$here/lib/nvidia.sh"

# The node image build makes (or finds up to date) every image below.
bash "$here/images/kind-node.sh" >/dev/null || die "offline/images/kind-node.sh failed"
k8s_bin=$(bash "$here/build-kubernetes.sh")
components=$(bash "$here/images/build-node-components.sh" | tail -n 1)
[[ -d $components ]] || die "build-node-components.sh did not print its bin directory (got: $components)"
version=$("$k8s_bin/kubeadm" version -o short)
mapfile -t kubeadm_images < <("$k8s_bin/kubeadm" config images list --kubernetes-version "$version" 2>/dev/null)
cni_agent_image=mlops.local/cni-agent:$version
kube_router_image=$(bash "$here/images/kube-router.sh") || die "offline/images/kube-router.sh failed"
images=("${kubeadm_images[@]}" "$cni_agent_image" "$kube_router_image")
for image in "${images[@]}"; do
  docker image inspect "$image" >/dev/null 2>&1 || die "image $image is missing after offline/images/kind-node.sh ran"
done

nvidia_toolkit_binaries
toolkit_out=$out

ids=$(docker image inspect --format '{{.Id}}' "${images[@]}")
# The binaries' folders are named by the hashes of what built them.
dir=$cache/ansible-artifacts/$version-$(inputs_hash "$here/images/manifests/cni-agent.yaml" -s "$k8s_bin $components $toolkit_out $ids")
if cache_dir_ready "$dir"; then
  echo "$dir"
  exit 0
fi

started=$SECONDS
mkdir -p "$dir.tmp/cni" "$dir.tmp/images" "$dir.tmp/nvidia"
for binary in kubeadm kubelet kubectl; do install -m 0755 "$k8s_bin/$binary" "$dir.tmp/"; done
install -m 0755 "$components/crictl" "$dir.tmp/"
for binary in nvidia-container-runtime nvidia-cdi-hook nvidia-ctk; do install -m 0755 "$toolkit_out/$binary" "$dir.tmp/nvidia/"; done
for plugin in bridge host-local loopback portmap ptp; do install -m 0755 "$components/cni/$plugin" "$dir.tmp/cni/"; done
log "saving ${#images[@]} images (about a minute)"
docker save -o "$dir.tmp/images/kubernetes-$version.tar" "${images[@]}"
chmod 0644 "$dir.tmp/images/kubernetes-$version.tar"
# The agent reads the pod network from POD_SUBNET; kind templates it, here the role's default pod CIDR is used.
sed -e "s|@CNI_AGENT_IMAGE@|$cni_agent_image|g" -e 's|{{ .PodSubnet }}|10.244.0.0/16|g' \
  -e 's|^# kind renders this file as a template.*$|# Pod network: POD_SUBNET below must equal control_plane_pod_cidr.|' \
  "$here/images/manifests/cni-agent.yaml" >"$dir.tmp/cni-agent.yaml"
echo "$kube_router_image" >"$dir.tmp/network-policy-image"
cache_dir_commit "$dir"
log "assembled $dir in $((SECONDS - started)) s"
echo "$dir"
