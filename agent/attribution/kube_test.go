package attribution

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/rest"
)

// fakeAPI speaks the Kubernetes API's JSON for the few resources the agent reads: list, watch (events pushed by the
// test) and get of the node. It checks that pods are asked for with the node's field selector.
type fakeAPI struct {
	t       *testing.T
	mu      sync.Mutex
	lists   map[string][]string // path -> item JSON
	kinds   map[string]string   // path -> list kind
	watches map[string]chan string
	node    string
}

func newFakeAPI(t *testing.T) *fakeAPI {
	return &fakeAPI{t: t, lists: map[string][]string{}, watches: map[string]chan string{},
		kinds: map[string]string{"/api/v1/pods": "PodList", "/api/v1/namespaces": "NamespaceList",
			"/apis/resource.k8s.io/v1/resourceslices": "ResourceSliceList"}}
}

func (f *fakeAPI) watch(path string) chan string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.watches[path] == nil {
		f.watches[path] = make(chan string, 16)
	}
	return f.watches[path]
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/api/v1/pods" && r.URL.Query().Get("fieldSelector") != "spec.nodeName=n1" {
		http.Error(w, "pods asked for without the node's field selector: "+r.URL.RawQuery, http.StatusBadRequest)
		return
	}
	if r.URL.Path == "/api/v1/nodes/n1" {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(f.node))
		return
	}
	f.mu.Lock()
	kind, ok := f.kinds[r.URL.Path]
	items := f.lists[r.URL.Path]
	f.mu.Unlock()
	if !ok {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if r.URL.Query().Get("watch") != "" {
		if r.URL.Query().Get("sendInitialEvents") == "true" {
			http.Error(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"BadRequest","code":400}`, http.StatusBadRequest)
			return
		}
		fl := w.(http.Flusher)
		fl.Flush()
		ch := f.watch(r.URL.Path)
		for {
			select {
			case <-r.Context().Done():
				return
			case ev := <-ch:
				_, _ = fmt.Fprintln(w, ev)
				fl.Flush()
			}
		}
	}
	apiVersion := "v1"
	if strings.HasPrefix(r.URL.Path, "/apis/resource.k8s.io/") {
		apiVersion = "resource.k8s.io/v1"
	}
	_, _ = fmt.Fprintf(w, `{"kind":%q,"apiVersion":%q,"metadata":{"resourceVersion":"1"},"items":[%s]}`, kind, apiVersion, strings.Join(items, ","))
}

func podJSON(ns, name, uid string, labels map[string]string) string {
	l, _ := json.Marshal(labels)
	return fmt.Sprintf(`{"kind":"Pod","apiVersion":"v1","metadata":{"name":%q,"namespace":%q,"uid":%q,"resourceVersion":"1","labels":%s},"spec":{"nodeName":"n1"}}`, name, ns, uid, l)
}

func TestKubePodsTeamsSlicesAndNode(t *testing.T) {
	api := newFakeAPI(t)
	api.lists["/api/v1/pods"] = []string{
		podJSON("research", "a", "uid-a", map[string]string{"team": "vision"}),
		podJSON("inference", "b", "uid-b", nil),
		podJSON("shared", "c", "uid-c", nil),
	}
	api.lists["/api/v1/namespaces"] = []string{
		`{"kind":"Namespace","apiVersion":"v1","metadata":{"name":"inference","resourceVersion":"1","labels":{"team":"serving"}}}`,
		`{"kind":"Namespace","apiVersion":"v1","metadata":{"name":"shared","resourceVersion":"1"}}`,
	}
	api.lists["/apis/resource.k8s.io/v1/resourceslices"] = []string{`{"kind":"ResourceSlice","apiVersion":"resource.k8s.io/v1",
		"metadata":{"name":"n1-gpu","resourceVersion":"1"},"spec":{"driver":"gpu.nvidia.com","nodeName":"n1",
		"pool":{"name":"n1","generation":1,"resourceSliceCount":1},"devices":[
		{"name":"gpu-0","attributes":{"uuid":{"string":"GPU-dra0"},"productName":{"string":"H100"}}},
		{"name":"gpu-1-mig-0","attributes":{"uuid":{"string":"MIG-dra1"},"parentUUID":{"string":"GPU-dra1"},"profile":{"string":"1g.10gb"}}}]}}`}
	api.node = `{"kind":"Node","apiVersion":"v1","metadata":{"name":"n1","labels":{"topology.kubernetes.io/region":"eastus"}},"spec":{"providerID":"azure:///subscriptions/s/resourceGroups/g/providers/Microsoft.Compute/virtualMachines/v"}}`
	srv := httptest.NewServer(api)
	defer srv.Close()

	k, err := NewKube(&rest.Config{Host: srv.URL}, "n1", DefaultTeamLabel, true, slog.New(slog.DiscardHandler))
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
	ch := api.watch("/api/v1/pods")
	ch <- `{"type":"DELETED","object":` + podJSON("research", "a", "uid-a", map[string]string{"team": "vision"}) + `}`
	ch <- `{"type":"ADDED","object":` + strings.Replace(podJSON("research", "a", "uid-a2", map[string]string{"team": "vision"}), `"resourceVersion":"1"`, `"resourceVersion":"2"`, 1) + `}`
	waitFor(t, func() bool { m, _ := k.Pod("research", "a"); return m.UID == "uid-a2" })
}
