// Command pause is the process of a pod's sandbox container: it holds the pod's namespaces
// open and does nothing else. As PID 1 of a pod that shares its PID namespace it also reaps
// orphaned children. SIGINT and SIGTERM end it with status 0, as the kubelet expects.
//
// It stands in for registry.k8s.io/pause, which cannot be pulled offline; the node image
// tags its image with the pause tag kubeadm expects (see version below).
package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

// version is the registry.k8s.io/pause tag this program stands in for: kubeadm 1.35.4's
// constants.PauseVersion. offline/images/build-node-components.sh reads it from here.
var version = "3.10.1"

func main() {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "-v", "-version", "--version":
			fmt.Printf("pause (mlops-platform) %s\n", version)
			return
		default:
			fmt.Fprintf(os.Stderr, "usage: %s [-v]\n", os.Args[0])
			os.Exit(2)
		}
	}
	if os.Getpid() != 1 {
		fmt.Fprintln(os.Stderr, "Warning: pause should be the first process")
	}

	signals := make(chan os.Signal, 8)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	// Children that exited before the handler was installed sent their SIGCHLD to nobody.
	reap()
	for sig := range signals {
		if sig == syscall.SIGCHLD {
			reap()
			continue
		}
		fmt.Fprintf(os.Stderr, "Shutting down, got signal: %s\n", sig)
		os.Exit(0)
	}
}

// reap collects every child that has exited, so that no zombie stays behind. Signals
// coalesce, so one SIGCHLD may stand for several children.
func reap() {
	for {
		var status syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &status, syscall.WNOHANG, nil)
		if err == syscall.EINTR {
			continue
		}
		if pid <= 0 || err != nil {
			return
		}
	}
}
