// The stand-in kubelet of make gpu-node-check (cmd/standin-kubelet, package standin): our own
// code, speaking the kubelet's device-plugin API (k8s.io/kubelet, gRPC) to NVIDIA's device plugin.
module mlops-platform/gpu-node-check

go 1.26.6

require (
	google.golang.org/grpc v1.85.0
	k8s.io/kubelet v0.31.3
)

require (
	github.com/gogo/protobuf v1.3.2 // indirect
	golang.org/x/net v0.60.0 // indirect
	golang.org/x/sys v0.48.0 // indirect
	golang.org/x/text v0.42.0 // indirect
	google.golang.org/genproto/googleapis/rpc v0.0.0-20260817212433-ac3dfec99bb1 // indirect
	google.golang.org/protobuf v1.36.12 // indirect
)
