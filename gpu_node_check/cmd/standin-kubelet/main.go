// standin-kubelet waits for one device plugin to register on the kubelet socket, reads its
// devices and asks it to allocate some, then prints what it saw as JSON (standin.Report).
//
//	standin-kubelet [--socket PATH] [--plugin-dir DIR] [--timeout 60s] [--allocate N]
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"time"

	"mlops-platform/gpu-node-check/standin"
	pluginapi "k8s.io/kubelet/pkg/apis/deviceplugin/v1beta1"
)

func main() {
	socket := flag.String("socket", pluginapi.KubeletSocket, "the kubelet socket to serve Registration on")
	pluginDir := flag.String("plugin-dir", pluginapi.DevicePluginPath, "where plugins put their sockets")
	timeout := flag.Duration("timeout", time.Minute, "how long to wait for a registration and the plugin's answers")
	allocate := flag.Int("allocate", 1, "how many healthy devices (the first by ID) to ask Allocate for; 0: none")
	flag.Parse()
	report, err := standin.Serve(context.Background(), *socket, *pluginDir, *timeout, standin.FirstHealthy(*allocate))
	if report != nil {
		out, _ := json.MarshalIndent(report, "", "  ")
		fmt.Println(string(out))
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "standin-kubelet: %v\n", err)
		os.Exit(1)
	}
}
