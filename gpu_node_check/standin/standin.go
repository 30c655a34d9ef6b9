// Package standin is a stand-in for the kubelet's side of the device-plugin API (v1beta1): it
// serves Registration on the kubelet socket, and when a plugin registers it dials the plugin's
// socket, reads the first device list of ListAndWatch and asks Allocate for chosen devices, as the
// kubelet does when a pod requests them. No Kubernetes is needed: `make gpu-node-check` runs the
// NVIDIA device plugin against it on a GPU machine.
package standin

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	pluginapi "k8s.io/kubelet/pkg/apis/deviceplugin/v1beta1"
)

// Device is one device a plugin advertised.
type Device struct {
	ID     string `json:"id"`
	Health string `json:"health"`
}

// Allocation is what a plugin answered to Allocate for the requested device IDs.
type Allocation struct {
	Requested   []string          `json:"requested"`
	Envs        map[string]string `json:"envs"`
	Mounts      []string          `json:"mounts"`
	DeviceNodes []string          `json:"deviceNodes"`
	CDIDevices  []string          `json:"cdiDevices"`
	Annotations map[string]string `json:"annotations"`
}

// Report is what one registration showed.
type Report struct {
	Resource   string      `json:"resource"`
	Endpoint   string      `json:"endpoint"`
	APIVersion string      `json:"apiVersion"`
	Devices    []Device    `json:"devices"`
	Allocation *Allocation `json:"allocation,omitempty"`
}

// Choose picks the device IDs to allocate from the advertised ones (nil: allocate nothing).
type Choose func(devices []Device) []string

type registration struct {
	pluginapi.UnimplementedRegistrationServer
	requests chan *pluginapi.RegisterRequest
}

func (r *registration) Register(_ context.Context, req *pluginapi.RegisterRequest) (*pluginapi.Empty, error) {
	if req.Version != pluginapi.Version {
		return nil, fmt.Errorf("device-plugin API version %q, this stand-in speaks %q", req.Version, pluginapi.Version)
	}
	select {
	case r.requests <- req:
	default: // a later registration (the plugin restarting) is ignored: the first one is examined
	}
	return &pluginapi.Empty{}, nil
}

// Serve listens on kubeletSocket, waits (at most timeout) for one plugin to register, examines
// it (pluginDir holds the plugin's socket, named by its registration's endpoint) and returns
// what it saw. The socket is removed when Serve returns.
func Serve(ctx context.Context, kubeletSocket, pluginDir string, timeout time.Duration, choose Choose) (*Report, error) {
	if err := os.Remove(kubeletSocket); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("removing the old socket %s: %w", kubeletSocket, err)
	}
	listener, err := net.Listen("unix", kubeletSocket)
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", kubeletSocket, err)
	}
	server := grpc.NewServer()
	reg := &registration{requests: make(chan *pluginapi.RegisterRequest, 1)}
	pluginapi.RegisterRegistrationServer(server, reg)
	go func() { _ = server.Serve(listener) }()
	defer func() {
		server.Stop()
		_ = os.Remove(kubeletSocket)
	}()

	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var req *pluginapi.RegisterRequest
	select {
	case req = <-reg.requests:
	case <-ctx.Done():
		return nil, fmt.Errorf("no device plugin registered on %s within %s", kubeletSocket, timeout)
	}
	report := &Report{Resource: req.ResourceName, Endpoint: req.Endpoint, APIVersion: req.Version}
	return report, examine(ctx, filepath.Join(pluginDir, req.Endpoint), report, choose)
}

func examine(ctx context.Context, socket string, report *Report, choose Choose) error {
	conn, err := grpc.NewClient("unix://"+socket, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return fmt.Errorf("dialling the plugin at %s: %w", socket, err)
	}
	defer conn.Close()
	client := pluginapi.NewDevicePluginClient(conn)
	stream, err := client.ListAndWatch(ctx, &pluginapi.Empty{}, grpc.WaitForReady(true))
	if err != nil {
		return fmt.Errorf("ListAndWatch on %s: %w", socket, err)
	}
	first, err := stream.Recv()
	if err != nil {
		return fmt.Errorf("ListAndWatch on %s sent no device list: %w", socket, err)
	}
	for _, d := range first.Devices {
		report.Devices = append(report.Devices, Device{ID: d.ID, Health: d.Health})
	}
	sort.Slice(report.Devices, func(i, j int) bool { return report.Devices[i].ID < report.Devices[j].ID })
	ids := choose(report.Devices)
	if len(ids) == 0 {
		return nil
	}
	answer, err := client.Allocate(ctx, &pluginapi.AllocateRequest{
		ContainerRequests: []*pluginapi.ContainerAllocateRequest{{DevicesIDs: ids}}})
	if err != nil {
		return fmt.Errorf("Allocate %v: %w", ids, err)
	}
	if len(answer.ContainerResponses) != 1 {
		return fmt.Errorf("Allocate %v: %d container responses, expected 1", ids, len(answer.ContainerResponses))
	}
	response := answer.ContainerResponses[0]
	allocation := &Allocation{Requested: ids, Envs: response.Envs, Annotations: response.Annotations}
	for _, m := range response.Mounts {
		allocation.Mounts = append(allocation.Mounts, m.ContainerPath)
	}
	for _, d := range response.Devices {
		allocation.DeviceNodes = append(allocation.DeviceNodes, d.ContainerPath)
	}
	for _, c := range response.CDIDevices {
		allocation.CDIDevices = append(allocation.CDIDevices, c.Name)
	}
	report.Allocation = allocation
	return nil
}

// FirstHealthy chooses the first n healthy devices by ID (all of them when fewer are healthy).
func FirstHealthy(n int) Choose {
	return func(devices []Device) []string {
		var ids []string
		for _, d := range devices {
			if len(ids) < n && d.Health == pluginapi.Healthy {
				ids = append(ids, d.ID)
			}
		}
		return ids
	}
}
