package attribution

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/rest"

	"github.com/gpumeter/gpumeter/agent/attribution/attributiontest"
)

func TestKubePodsTeamsSlicesAndNode(t *testing.T) {
	api := attributiontest.NewAPI(t, "n1")
	api.Add(attributiontest.Pods, api.PodJSON("research", "a", "uid-a", "1", map[string]string{"team": "vision"}))
	api.Add(attributiontest.Pods, api.PodJSON("inference", "b", "uid-b", "1", nil))
	api.Add(attributiontest.Pods, api.PodJSON("shared", "c", "uid-c", "1", nil))
	api.Add(attributiontest.Namespaces, attributiontest.NamespaceJSON("inference", map[string]string{"team": "serving"}))
	api.Add(attributiontest.Namespaces, attributiontest.NamespaceJSON("shared", nil))
	api.Add(attributiontest.ResourceSlices, api.ResourceSliceJSON(
		attributiontest.SliceDevice{Name: "gpu-0", UUID: "GPU-dra0"},
		attributiontest.SliceDevice{Name: "gpu-1-mig-0", UUID: "MIG-dra1", ParentUUID: "GPU-dra1", Profile: "1g.10gb"}))
	api.SetNode(`{"kind":"Node","apiVersion":"v1","metadata":{"name":"n1","labels":{"topology.kubernetes.io/region":"eastus"}},"spec":{"providerID":"azure:///subscriptions/s/resourceGroups/g/providers/Microsoft.Compute/virtualMachines/v"}}`)

	k, err := NewKube(&rest.Config{Host: api.URL}, "n1", DefaultTeamLabel, true, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); k.Run(ctx) }()
	defer func() { cancel(); <-done }()
	sctx, scancel := context.WithTimeout(ctx, 30*time.Second)
	defer scancel()
	if !k.WaitSynced(sctx) {
		t.Fatal("informers did not sync")
	}
	for key, want := range map[string]PodMeta{
		"research/a":  {UID: "uid-a", Team: "vision"},  // pod label
		"inference/b": {UID: "uid-b", Team: "serving"}, // namespace label
		"shared/c":    {UID: "uid-c", Team: "shared"},  // namespace name
	} {
		ns, name, _ := strings.Cut(key, "/")
		if got, ok := k.Pod(ns, name); !ok || got != want {
			t.Errorf("pod %s: %+v %v, want %+v", key, got, ok, want)
		}
	}
	for dev, want := range map[string]string{"gpu-0": "GPU-dra0", "gpu-1-mig-0": "MIG-dra1", "gpu-9": ""} {
		if got, _ := k.DeviceUUID("n1", dev); got != want {
			t.Errorf("DRA device %s -> %q, want %q", dev, got, want)
		}
	}
	n, err := k.Node(ctx, 5*time.Second)
	if err != nil || n.Spec.ProviderID == "" || n.Labels["topology.kubernetes.io/region"] != "eastus" {
		t.Errorf("node: %v, %v", n, err)
	}

	// Pod a is deleted and recreated under the same name: a new UID, so another workload.
	api.Event(attributiontest.Pods, "DELETED", api.PodJSON("research", "a", "uid-a", "1", map[string]string{"team": "vision"}))
	api.Event(attributiontest.Pods, "ADDED", api.PodJSON("research", "a", "uid-a2", "2", map[string]string{"team": "vision"}))
	waitFor(t, func() bool { m, _ := k.Pod("research", "a"); return m.UID == "uid-a2" })
}
