package attribution

import (
	"context"
	"log/slog"
	"reflect"
	"sync"
	"testing"
	"time"

	podresourcesv1 "k8s.io/kubelet/pkg/apis/podresources/v1"

	"github.com/gpumeter/gpumeter/agent/attribution/attributiontest"
)

func pod(ns, name string, devices []*podresourcesv1.ContainerDevices, dra ...*podresourcesv1.DynamicResource) *podresourcesv1.PodResources {
	return &podresourcesv1.PodResources{Namespace: ns, Name: name, Containers: []*podresourcesv1.ContainerResources{
		{Name: "main", Devices: devices, DynamicResources: dra}}}
}

func devs(resource string, ids ...string) []*podresourcesv1.ContainerDevices {
	return []*podresourcesv1.ContainerDevices{{ResourceName: resource, DeviceIds: ids}}
}

type resolverMap map[[2]string]string

func (r resolverMap) DeviceUUID(pool, device string) (string, bool) {
	u, ok := r[[2]string{pool, device}]
	return u, ok
}

func nodeAnswer() *podresourcesv1.ListPodResourcesResponse {
	return &podresourcesv1.ListPodResourcesResponse{PodResources: []*podresourcesv1.PodResources{
		pod("research", "a", devs("nvidia.com/gpu", "GPU-aaaa", "GPU-bbbb")),
		pod("inference", "b", devs("nvidia.com/gpu.shared", "GPU-cccc::0")),
		pod("research", "c", devs("nvidia.com/gpu.shared", "GPU-cccc::1", "GPU-cccc::2")),
		pod("ml", "m1", devs("nvidia.com/mig-1g.10gb", "MIG-1111")),
		pod("ml", "m2", devs("nvidia.com/mig-3g.40gb", "MIG-2222")),
		pod("dra", "d", nil, &podresourcesv1.DynamicResource{ClaimName: "gpu", ClaimNamespace: "dra",
			ClaimResources: []*podresourcesv1.ClaimResource{
				{DriverName: DRADriver, PoolName: "node-1", DeviceName: "gpu-4"},
				{DriverName: "other.example.com", PoolName: "node-1", DeviceName: "nic-0"},
			}}),
		pod("x", "cpu-only", devs("example.com/nic", "nic-0")),
		// A pod with two containers on one GPU is one holder.
		{Namespace: "two", Name: "containers", Containers: []*podresourcesv1.ContainerResources{
			{Name: "a", Devices: devs("nvidia.com/gpu", "GPU-eeee::0")},
			{Name: "b", Devices: devs("nvidia.com/gpu", "GPU-eeee::1")},
		}},
	}}
}

func TestAssignments(t *testing.T) {
	got := Assignments(nodeAnswer(), resolverMap{{"node-1", "gpu-4"}: "GPU-dddd"})
	want := map[string][]Holder{
		"GPU-aaaa": {{"research", "a", 1}},
		"GPU-bbbb": {{"research", "a", 1}},
		"GPU-cccc": {{"inference", "b", 1}, {"research", "c", 2}},
		"MIG-1111": {{"ml", "m1", 1}},
		"MIG-2222": {{"ml", "m2", 1}},
		"GPU-dddd": {{"dra", "d", 1}},
		"GPU-eeee": {{"two", "containers", 2}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("assignments\n got %v\nwant %v", got, want)
	}
	for id, want := range map[string]string{"GPU-1": "GPU-1", "MIG-2::3": "MIG-2", "MIG-GPU-1/0/0": "", "nic": ""} {
		if got, _ := DeviceUUID(id); got != want {
			t.Errorf("DeviceUUID(%q) = %q, want %q", id, got, want)
		}
	}
}

type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *testClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func TestKubeletAwayAndBack(t *testing.T) {
	f := attributiontest.NewKubelet(t, nodeAnswer())
	f.Start(t)
	socket := f.Socket
	clk := &testClock{t: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)}
	k, err := NewKubelet(KubeletConfig{Socket: socket, Refresh: time.Hour, KeepFor: 5 * time.Minute, Now: clk.Now},
		slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	ctx := context.Background()
	if h := k.Holders("GPU-aaaa"); h != nil {
		t.Errorf("holders before the first List: %v, want none", h)
	}
	if err := k.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if h := k.Holders("GPU-aaaa"); len(h) != 1 || h[0].Pod != "a" {
		t.Fatalf("holders of GPU-aaaa: %v", h)
	}

	f.Stop() // the kubelet goes away: the last assignment holds for KeepFor, then GPUs are unattributed
	if err := k.Refresh(ctx); err == nil {
		t.Fatal("List succeeded with the kubelet gone")
	}
	clk.Add(4 * time.Minute)
	if h := k.Holders("GPU-aaaa"); len(h) != 1 {
		t.Errorf("holders within KeepFor of the last answer: %v, want the last assignment", h)
	}
	clk.Add(2 * time.Minute)
	if h := k.Holders("GPU-aaaa"); h != nil {
		t.Errorf("holders past KeepFor: %v, want none", h)
	}
	if st := k.Stats(); st.StaleLookups != 2 || st.ListErrors != 1 {
		t.Errorf("stats %+v, want 2 stale lookups and 1 list error", st)
	}

	// The kubelet comes back (a new process on the same socket): attribution resumes on the same connection.
	f.Set(&podresourcesv1.ListPodResourcesResponse{PodResources: []*podresourcesv1.PodResources{
		pod("research", "a2", devs("nvidia.com/gpu", "GPU-aaaa"))}})
	f.Start(t)
	deadline := time.Now().Add(30 * time.Second)
	for k.Refresh(ctx) != nil {
		if time.Now().After(deadline) {
			t.Fatal("kubelet not found again")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if h := k.Holders("GPU-aaaa"); len(h) != 1 || h[0].Pod != "a2" {
		t.Errorf("holders after the kubelet came back: %v, want pod a2", h)
	}
}

func TestKubeletLargeAnswerAndEarlyRefresh(t *testing.T) {
	// More than gRPC's 4 MiB default: a busy node's pods with their CPU lists.
	big := nodeAnswer()
	cpus := make([]int64, 2000)
	for i := range cpus {
		cpus[i] = int64(1000 + i)
	}
	for i := range 2000 {
		big.PodResources = append(big.PodResources, &podresourcesv1.PodResources{Namespace: "busy", Name: "p" + string(rune('a'+i%26)),
			Containers: []*podresourcesv1.ContainerResources{{Name: "c", CpuIds: cpus}}})
	}
	f := attributiontest.NewKubelet(t, big)
	f.Start(t)
	socket := f.Socket
	clk := &testClock{t: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)}
	k, err := NewKubelet(KubeletConfig{Socket: socket, Refresh: time.Hour, KeepFor: time.Minute, Now: clk.Now},
		slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); k.Run(ctx) }()
	defer func() { cancel(); <-done }()
	waitFor(t, func() bool { return k.Stats().Lists >= 1 && k.Holders("GPU-aaaa") != nil })
	if st := k.Stats(); st.ListErrors != 0 {
		t.Fatalf("List of a >4 MiB answer failed: %+v", st)
	}

	// Lookups are served from the cache: many samples, no List.
	before := f.Calls()
	for range 1000 {
		k.Holders("GPU-aaaa")
	}
	// A device the cache does not know asks for one early List, not one per lookup.
	f.Set(&podresourcesv1.ListPodResourcesResponse{PodResources: []*podresourcesv1.PodResources{
		pod("new", "p", devs("nvidia.com/gpu", "GPU-ffff"))}})
	clk.Add(2 * time.Second)
	k.Holders("GPU-ffff")
	waitFor(t, func() bool { return k.Holders("GPU-ffff") != nil })
	for range 1000 {
		k.Holders("GPU-9999")
	}
	after := f.Calls()
	if after-before > 2 {
		t.Errorf("%d List calls for 2000 lookups, want at most 2 (early refreshes)", after-before)
	}
}

func waitFor(t *testing.T, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 30 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
