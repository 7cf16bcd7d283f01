package attributiontest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// API is a test HTTP server speaking the Kubernetes API's JSON for what the agent reads: lists and watches of pods
// (asked for with the node's field selector), namespaces and ResourceSlices, and a get of the node.
type API struct {
	URL  string
	node string

	mu      sync.Mutex
	lists   map[string][]string // path -> item JSON
	watches map[string]chan string
	nodeObj string
}

var kinds = map[string]string{"/api/v1/pods": "PodList", "/api/v1/namespaces": "NamespaceList",
	"/apis/resource.k8s.io/v1/resourceslices": "ResourceSliceList"}

// Resource paths for Add and Event.
const (
	Pods           = "/api/v1/pods"
	Namespaces     = "/api/v1/namespaces"
	ResourceSlices = "/apis/resource.k8s.io/v1/resourceslices"
)

// NewAPI starts the server for node; the test's cleanup stops it.
func NewAPI(t testing.TB, node string) *API {
	a := &API{node: node, lists: map[string][]string{}, watches: map[string]chan string{}}
	srv := httptest.NewServer(a)
	t.Cleanup(srv.Close)
	a.URL = srv.URL
	return a
}

// Add lists an object (its JSON) under a resource path.
func (a *API) Add(path, obj string) {
	a.mu.Lock()
	a.lists[path] = append(a.lists[path], obj)
	a.mu.Unlock()
}

// SetNode sets the node object's JSON.
func (a *API) SetNode(obj string) {
	a.mu.Lock()
	a.nodeObj = obj
	a.mu.Unlock()
}

// Event sends a watch event (typ ADDED, MODIFIED or DELETED) to the watchers of a resource path.
func (a *API) Event(path, typ, obj string) {
	a.watch(path) <- fmt.Sprintf(`{"type":%q,"object":%s}`, typ, obj)
}

func (a *API) watch(path string) chan string {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.watches[path] == nil {
		a.watches[path] = make(chan string, 16)
	}
	return a.watches[path]
}

// ServeHTTP implements the API.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == Pods && r.URL.Query().Get("fieldSelector") != "spec.nodeName="+a.node {
		http.Error(w, "pods asked for without the node's field selector: "+r.URL.RawQuery, http.StatusBadRequest)
		return
	}
	a.mu.Lock()
	kind, ok := kinds[r.URL.Path]
	items := a.lists[r.URL.Path]
	nodeObj := a.nodeObj
	a.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if r.URL.Path == "/api/v1/nodes/"+a.node && nodeObj != "" {
		_, _ = w.Write([]byte(nodeObj))
		return
	}
	if !ok {
		http.NotFound(w, r)
		return
	}
	if r.URL.Query().Get("watch") != "" {
		if r.URL.Query().Get("sendInitialEvents") == "true" {
			http.Error(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"BadRequest","code":400}`, http.StatusBadRequest)
			return
		}
		fl := w.(http.Flusher)
		fl.Flush()
		ch := a.watch(r.URL.Path)
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

// PodJSON is a pod of the API's node.
func (a *API) PodJSON(ns, name, uid, resourceVersion string, labels map[string]string) string {
	l, _ := json.Marshal(labels)
	return fmt.Sprintf(`{"kind":"Pod","apiVersion":"v1","metadata":{"name":%q,"namespace":%q,"uid":%q,"resourceVersion":%q,"labels":%s},"spec":{"nodeName":%q}}`,
		name, ns, uid, resourceVersion, l, a.node)
}

// NamespaceJSON is a namespace.
func NamespaceJSON(name string, labels map[string]string) string {
	l, _ := json.Marshal(labels)
	return fmt.Sprintf(`{"kind":"Namespace","apiVersion":"v1","metadata":{"name":%q,"resourceVersion":"1","labels":%s}}`, name, l)
}

// SliceDevice is a device of a ResourceSlice: name and attributes (uuid, parentUUID, profile).
type SliceDevice struct {
	Name                      string
	UUID, ParentUUID, Profile string
}

// ResourceSliceJSON is a ResourceSlice of driver gpu.nvidia.com on the API's node, pool named after the node.
func (a *API) ResourceSliceJSON(devices ...SliceDevice) string {
	var ds []string
	for _, d := range devices {
		attrs := map[string]map[string]string{"uuid": {"string": d.UUID}}
		if d.ParentUUID != "" {
			attrs["parentUUID"] = map[string]string{"string": d.ParentUUID}
		}
		if d.Profile != "" {
			attrs["profile"] = map[string]string{"string": d.Profile}
		}
		b, _ := json.Marshal(attrs)
		ds = append(ds, fmt.Sprintf(`{"name":%q,"attributes":%s}`, d.Name, b))
	}
	return fmt.Sprintf(`{"kind":"ResourceSlice","apiVersion":"resource.k8s.io/v1","metadata":{"name":"%s-gpu","resourceVersion":"1"},
		"spec":{"driver":"gpu.nvidia.com","nodeName":%q,"pool":{"name":%q,"generation":1,"resourceSliceCount":1},"devices":[%s]}}`,
		a.node, a.node, a.node, strings.Join(ds, ","))
}
