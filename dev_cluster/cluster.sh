#!/usr/bin/env bash
# The local kind cluster, created offline from the node image built by offline/images/kind-node.sh.
#
# usage: dev_cluster/cluster.sh create|delete
# environment:
#   MLOPS_CLUSTER_NAME   cluster name (default mlops)
#   MLOPS_WORKERS        number of worker nodes besides the control plane (default 0)
#   MLOPS_FAKE_GPUS      advertise this many `nvidia.com/gpu` on the last node (default 0), so GPU
#                        requests, quotas and tolerations can be tested without GPUs
#   MLOPS_CACHE_DIR      cache root; the kubeconfig is written to $MLOPS_CACHE_DIR/<name>.kubeconfig
set -euo pipefail

offline=$(cd "$(dirname "${BASH_SOURCE[0]}")/../offline" && pwd)
cache=${MLOPS_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/mlops-platform}
name=${MLOPS_CLUSTER_NAME:-mlops}
workers=${MLOPS_WORKERS:-0}
fake_gpus=${MLOPS_FAKE_GPUS:-0}
kubeconfig=$cache/$name.kubeconfig
log() { printf '[cluster] %s\n' "$*" >&2; }
die() { printf '[cluster] ERROR: %s\n' "$*" >&2; exit 1; }
[[ $workers =~ ^[0-9]+$ ]] || die "MLOPS_WORKERS must be a number of worker nodes, got '$workers'"
[[ $fake_gpus =~ ^[0-9]+$ ]] || die "MLOPS_FAKE_GPUS must be a number of GPUs, got '$fake_gpus'"
command -v kind >/dev/null || die "kind is not on PATH: run make tools"

case ${1:-} in
delete)
  if kind get clusters 2>/dev/null | grep -qx "$name"; then
    kind delete cluster --name "$name"
  else
    log "no cluster named $name"
  fi
  rm -f "$kubeconfig"
  exit 0
  ;;
create) ;;
*) die "usage: dev_cluster/cluster.sh create|delete" ;;
esac

bash "$offline/docker.sh"
image=$(bash "$offline/images/kind-node.sh") || die "offline/images/kind-node.sh failed"
if kind get clusters 2>/dev/null | grep -qx "$name"; then
  running=$(docker inspect -f '{{.Config.Image}}' "$name-control-plane" 2>/dev/null || echo unknown)
  if [[ $running != "$image" ]]; then
    log "WARNING: cluster $name runs node image $running, not the current $image (Kubernetes or a node"
    log "WARNING: component changed since it was created): make cluster-delete && make up recreates it"
  fi
  log "cluster $name exists; refreshing its kubeconfig (make cluster-delete to start over)"
else
  cgroup_driver=$(docker image inspect -f '{{index .Config.Labels "org.mlops-platform.cgroup-driver"}}' "$image")
  [[ $cgroup_driver == systemd || $cgroup_driver == cgroupfs ]] \
    || die "node image $image has no cgroup driver label (got '$cgroup_driver'): rebuild it with make node-image"
  service_cidr=$(docker image inspect -f '{{index .Config.Labels "org.mlops-platform.service-cidr"}}' "$image")
  [[ -n $service_cidr ]] || die "node image $image has no Service range label: rebuild it with make node-image"
  config=$(mktemp)
  trap 'rm -f "$config"' EXIT
  {
    echo "kind: Cluster"
    echo "apiVersion: kind.x-k8s.io/v1alpha4"
    echo "networking: {podSubnet: 10.244.0.0/16, serviceSubnet: $service_cidr}"
    echo "nodes:"
    echo "  - role: control-plane"
    for _ in $(seq 1 "$workers"); do echo "  - role: worker"; done
    # Hosts still on cgroup v1 (like this project's CI VMs): kubelet >= 1.35 refuses them unless told.
    echo "kubeadmConfigPatches:"
    echo "  - |"
    echo "    kind: KubeletConfiguration"
    echo "    failCgroupV1: false"
    # The driver the node image's containerd uses (offline/images/kind-node.sh chose it).
    echo "    cgroupDriver: $cgroup_driver"
    # The API server reaches aggregated APIs (Kueue's visibility API) at their endpoints' pod IPs,
    # not their Service IP: a connection it opens to a new Service IP before kube-proxy has
    # programmed it leaves the node by the default route and is kept alive; on this project's CI
    # machines something answers there (a 404 from a host-side proxy), the API group's discovery
    # then fails and every namespace deletion in the cluster waits for it. (kubeadm v1beta3, the
    # format kind uses below Kubernetes 1.36: extraArgs is a map.)
    echo "  - |"
    echo "    kind: ClusterConfiguration"
    echo "    apiServer:"
    echo "      extraArgs:"
    echo "        enable-aggregator-routing: \"true\""
  } >"$config"
  log "creating cluster $name from $image (1 control plane, $workers worker(s), cgroup driver $cgroup_driver)"
  start=$SECONDS
  kind create cluster --name "$name" --image "$image" --config "$config" --wait 5m --kubeconfig "$kubeconfig"
  log "cluster created in $((SECONDS - start)) s"
fi
kind get kubeconfig --name "$name" >"$kubeconfig"
chmod 600 "$kubeconfig"
export KUBECONFIG=$kubeconfig

if (( fake_gpus > 0 )); then
  node=$(kubectl get nodes -o jsonpath='{.items[-1:].metadata.name}')
  log "advertising $fake_gpus nvidia.com/gpu on node $node (extended resource, no real GPU)"
  kubectl patch node "$node" --subresource=status --type=json \
    -p "[{\"op\":\"add\",\"path\":\"/status/capacity/nvidia.com~1gpu\",\"value\":\"$fake_gpus\"}]" >/dev/null
  # mlops-platform/fake-gpu (pipeline_components/mlops_components/contract.py FAKE_GPU_LABEL): no CUDA
  # behind them, so the torch smoke test expects training on the CPU on this node.
  kubectl label node "$node" --overwrite nvidia.com/gpu.present=true mlops-platform/fake-gpu=true >/dev/null
fi
kubectl wait --for=condition=Ready nodes --all --timeout=300s >/dev/null || {
  kubectl get nodes -o wide >&2; die "nodes did not become Ready in 300 s"; }
if (( fake_gpus > 0 )); then
  # The kubelet copies the patched capacity into allocatable at its next status update (seconds
  # later): wait for it, or what comes next (make up's PyTorch image stage) may see no GPU node.
  for _ in $(seq 1 60); do
    gpus=$(kubectl get node "$node" -o jsonpath='{.status.allocatable.nvidia\.com/gpu}')
    [[ $gpus == "$fake_gpus" ]] && break
    sleep 1
  done
  [[ $gpus == "$fake_gpus" ]] || die "node $node shows '$gpus' allocatable nvidia.com/gpu 60 s after the patch, not $fake_gpus"
fi
log "ready: KUBECONFIG=$kubeconfig"
kubectl get nodes -o wide
