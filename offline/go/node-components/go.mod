// The project's own node programs (today: pause, the sandbox container's process).
// Each upstream component of the kind node image is built from its own wrapper module in a
// sub-folder (containerd/, runc/, crictl/, cni-plugins/, etcd/, coredns/,
// local-path-provisioner/), so that each keeps exactly the dependency versions its upstream
// go.mod selects; offline/images/build-node-components.sh builds them.
module mlops-platform/offline/go/node-components

go 1.26
