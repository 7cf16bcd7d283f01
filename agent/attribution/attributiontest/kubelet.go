// Package attributiontest runs the kubelet's PodResources gRPC server on a unix socket, for tests of the agent's
// attribution: a real server (the generated interface of k8s.io/kubelet), answering List with what the test sets.
package attributiontest

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"google.golang.org/grpc"
	podresourcesv1 "k8s.io/kubelet/pkg/apis/podresources/v1"
)

// Kubelet is a PodResources server. Start and Stop it any number of times on its socket (the kubelet restarting).
type Kubelet struct {
	podresourcesv1.UnimplementedPodResourcesListerServer
	Socket string

	mu    sync.Mutex
	resp  *podresourcesv1.ListPodResourcesResponse
	calls int
	srv   *grpc.Server
	done  chan struct{}
}

// NewKubelet returns a stopped server whose socket is in a fresh short directory (sun_path holds 108 bytes, which
// t.TempDir's paths may exceed); the test's cleanup stops it.
func NewKubelet(t testing.TB, resp *podresourcesv1.ListPodResourcesResponse) *Kubelet {
	t.Helper()
	dir, err := os.MkdirTemp("", "pr")
	if err != nil {
		t.Fatal(err)
	}
	k := &Kubelet{Socket: filepath.Join(dir, "kubelet.sock"), resp: resp}
	t.Cleanup(func() { k.Stop(); _ = os.RemoveAll(dir) })
	return k
}

// List implements the PodResources API.
func (k *Kubelet) List(context.Context, *podresourcesv1.ListPodResourcesRequest) (*podresourcesv1.ListPodResourcesResponse, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.calls++
	return k.resp, nil
}

// Set changes what List answers.
func (k *Kubelet) Set(r *podresourcesv1.ListPodResourcesResponse) {
	k.mu.Lock()
	k.resp = r
	k.mu.Unlock()
}

// Calls is how many List calls were answered.
func (k *Kubelet) Calls() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.calls
}

// Start serves on the socket.
func (k *Kubelet) Start(t testing.TB) {
	t.Helper()
	_ = os.Remove(k.Socket)
	l, err := net.Listen("unix", k.Socket)
	if err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer()
	podresourcesv1.RegisterPodResourcesListerServer(s, k)
	done := make(chan struct{})
	go func() { defer close(done); _ = s.Serve(l) }()
	k.mu.Lock()
	k.srv, k.done = s, done
	k.mu.Unlock()
}

// Stop stops serving and removes the socket, as a kubelet that went away; it does nothing when stopped.
func (k *Kubelet) Stop() {
	k.mu.Lock()
	s, done := k.srv, k.done
	k.srv, k.done = nil, nil
	k.mu.Unlock()
	if s != nil {
		s.Stop()
		<-done
	}
}

// Pod is a pod holding device IDs and DRA claim devices (pool, device) of driver gpu.nvidia.com.
func Pod(ns, name string, deviceIDs []string, dra ...[2]string) *podresourcesv1.PodResources {
	c := &podresourcesv1.ContainerResources{Name: "main"}
	if len(deviceIDs) > 0 {
		c.Devices = []*podresourcesv1.ContainerDevices{{ResourceName: "nvidia.com/gpu", DeviceIds: deviceIDs}}
	}
	if len(dra) > 0 {
		dr := &podresourcesv1.DynamicResource{ClaimName: name + "-gpu", ClaimNamespace: ns}
		for _, d := range dra {
			dr.ClaimResources = append(dr.ClaimResources, &podresourcesv1.ClaimResource{DriverName: "gpu.nvidia.com",
				PoolName: d[0], DeviceName: d[1]})
		}
		c.DynamicResources = []*podresourcesv1.DynamicResource{dr}
	}
	return &podresourcesv1.PodResources{Namespace: ns, Name: name, Containers: []*podresourcesv1.ContainerResources{c}}
}
