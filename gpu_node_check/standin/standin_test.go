package standin

import (
	"context"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	pluginapi "k8s.io/kubelet/pkg/apis/deviceplugin/v1beta1"
)

// fakePlugin advertises devices and answers Allocate as NVIDIA's plugin does with the envvar
// strategy: NVIDIA_VISIBLE_DEVICES names exactly the requested devices.
type fakePlugin struct {
	pluginapi.UnimplementedDevicePluginServer
	devices []*pluginapi.Device
}

func (f *fakePlugin) ListAndWatch(_ *pluginapi.Empty, stream pluginapi.DevicePlugin_ListAndWatchServer) error {
	if err := stream.Send(&pluginapi.ListAndWatchResponse{Devices: f.devices}); err != nil {
		return err
	}
	<-stream.Context().Done()
	return nil
}

func (f *fakePlugin) Allocate(_ context.Context, req *pluginapi.AllocateRequest) (*pluginapi.AllocateResponse, error) {
	var responses []*pluginapi.ContainerAllocateResponse
	for _, c := range req.ContainerRequests {
		responses = append(responses, &pluginapi.ContainerAllocateResponse{
			Envs: map[string]string{"NVIDIA_VISIBLE_DEVICES": strings.Join(c.DevicesIDs, ",")}})
	}
	return &pluginapi.AllocateResponse{ContainerResponses: responses}, nil
}

// startPlugin serves the fake plugin on dir/endpoint and registers it on the kubelet socket.
func startPlugin(t *testing.T, dir, endpoint, version string, plugin *fakePlugin) {
	t.Helper()
	listener, err := net.Listen("unix", filepath.Join(dir, endpoint))
	if err != nil {
		t.Fatal(err)
	}
	server := grpc.NewServer()
	pluginapi.RegisterDevicePluginServer(server, plugin)
	go func() { _ = server.Serve(listener) }()
	t.Cleanup(server.Stop)
	go func() {
		conn, err := grpc.NewClient("unix://"+filepath.Join(dir, "kubelet.sock"), grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			return
		}
		defer conn.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, _ = pluginapi.NewRegistrationClient(conn).Register(ctx, &pluginapi.RegisterRequest{
			Version: version, Endpoint: endpoint, ResourceName: "nvidia.com/gpu"}, grpc.WaitForReady(true))
	}()
}

func TestReportsDevicesAndTheAllocationOfTheChosenOnes(t *testing.T) {
	dir := t.TempDir()
	startPlugin(t, dir, "nvidia-gpu.sock", pluginapi.Version, &fakePlugin{devices: []*pluginapi.Device{
		{ID: "GPU-b", Health: pluginapi.Healthy}, {ID: "GPU-a", Health: pluginapi.Healthy},
		{ID: "GPU-c", Health: pluginapi.Unhealthy}}})
	report, err := Serve(context.Background(), filepath.Join(dir, "kubelet.sock"), dir, 10*time.Second, FirstHealthy(1))
	if err != nil {
		t.Fatal(err)
	}
	if report.Resource != "nvidia.com/gpu" || report.Endpoint != "nvidia-gpu.sock" {
		t.Errorf("registration: %+v", report)
	}
	if len(report.Devices) != 3 || report.Devices[0].ID != "GPU-a" {
		t.Errorf("devices sorted by ID, all three: %+v", report.Devices)
	}
	if report.Allocation == nil || strings.Join(report.Allocation.Requested, ",") != "GPU-a" {
		t.Fatalf("the first healthy device requested: %+v", report.Allocation)
	}
	if got := report.Allocation.Envs["NVIDIA_VISIBLE_DEVICES"]; got != "GPU-a" {
		t.Errorf("the plugin's answer is reported as given: NVIDIA_VISIBLE_DEVICES=%q", got)
	}
}

func TestFirstHealthySkipsUnhealthyDevices(t *testing.T) {
	got := FirstHealthy(2)([]Device{{"a", pluginapi.Unhealthy}, {"b", pluginapi.Healthy}, {"c", pluginapi.Healthy}, {"d", pluginapi.Healthy}})
	if strings.Join(got, ",") != "b,c" {
		t.Errorf("FirstHealthy(2) = %v, want [b c]", got)
	}
	if FirstHealthy(0)([]Device{{"a", pluginapi.Healthy}}) != nil {
		t.Error("FirstHealthy(0) allocates nothing")
	}
}

func TestNoRegistrationIsAClearTimeout(t *testing.T) {
	dir := t.TempDir()
	_, err := Serve(context.Background(), filepath.Join(dir, "kubelet.sock"), dir, 300*time.Millisecond, FirstHealthy(1))
	if err == nil || !strings.Contains(err.Error(), "no device plugin registered") {
		t.Fatalf("want a timeout naming the missing registration, got %v", err)
	}
}

func TestAnotherAPIVersionIsRefused(t *testing.T) {
	dir := t.TempDir()
	startPlugin(t, dir, "old.sock", "v1alpha", &fakePlugin{})
	_, err := Serve(context.Background(), filepath.Join(dir, "kubelet.sock"), dir, 2*time.Second, FirstHealthy(1))
	if err == nil {
		t.Fatal("a plugin of another API version must not be examined")
	}
}
