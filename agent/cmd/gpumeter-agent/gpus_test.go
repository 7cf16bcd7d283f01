package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	podresourcesv1 "k8s.io/kubelet/pkg/apis/podresources/v1"

	"github.com/gpumeter/gpumeter/agent/attribution"
	"github.com/gpumeter/gpumeter/agent/attribution/attributiontest"
	"github.com/gpumeter/gpumeter/agent/gpu"
	"github.com/gpumeter/gpumeter/agent/sim"
)

func simulatedUUIDs(t *testing.T, machine, node string) []string {
	w, _ := sim.ParseWorkload("0.5")
	lib, err := sim.New(machine, node, w, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	src, err := gpu.Open(lib, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	var out []string
	for _, g := range src.GPUs() {
		out = append(out, g.UUID)
	}
	return out
}

// `gpus` on a simulated node attributed by a real PodResources server: whole, time-sliced and unassigned GPUs.
func TestGPUsCommand(t *testing.T) {
	uuids := simulatedUUIDs(t, "dgxa100", "n1")
	k := attributiontest.NewKubelet(t, &podresourcesv1.ListPodResourcesResponse{PodResources: []*podresourcesv1.PodResources{
		attributiontest.Pod("research", "a", []string{uuids[0]}),
		attributiontest.Pod("inference", "b", []string{uuids[1] + "::0"}),
		attributiontest.Pod("research", "c", []string{uuids[1] + "::1"}),
	}})
	k.Start(t)
	var out bytes.Buffer
	args := []string{"--simulate", "dgxa100", "--node-name", "n1", "--pod-resources-socket", k.Socket, "--log-level", "error"}
	if err := gpus(t.Context(), append(args, "--format", "json"), &out); err != nil {
		t.Fatal(err)
	}
	var rows []gpuRow
	if err := json.Unmarshal(out.Bytes(), &rows); err != nil {
		t.Fatalf("%v in %s", err, out.String())
	}
	if len(rows) != 8 || rows[0].UUID != uuids[0] || rows[0].Model == "" || rows[0].MemoryTotalBytes == 0 {
		t.Fatalf("rows %+v", rows)
	}
	want := [][]workload{
		{{"research", "a", "research", 1}},
		{{"inference", "b", "inference", 0.5}, {"research", "c", "research", 0.5}},
		{},
	}
	for i, w := range want {
		got, _ := json.Marshal(rows[i].Workloads)
		exp, _ := json.Marshal(w)
		if string(got) != string(exp) {
			t.Errorf("GPU %d serves %s, want %s", i, got, exp)
		}
	}
	out.Reset()
	if err := gpus(t.Context(), args, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "inference/b inference 0.50, research/c research 0.50") {
		t.Errorf("table:\n%s", out.String())
	}
	if err := gpus(t.Context(), append(args, "--format", "yaml"), &out); err == nil || !strings.Contains(err.Error(), "--format") {
		t.Errorf("--format yaml: %v", err)
	}
}

// With --kubeconfig the team comes from the API server, and the provider from the node object (flags first, then
// the node, before instance metadata).
func TestKubeconfigTeamsAndProviderFromNode(t *testing.T) {
	uuids := simulatedUUIDs(t, "dgxa100", "n1")
	k := attributiontest.NewKubelet(t, &podresourcesv1.ListPodResourcesResponse{PodResources: []*podresourcesv1.PodResources{
		attributiontest.Pod("research", "a", []string{uuids[0]}),
	}})
	k.Start(t)
	api := attributiontest.NewAPI(t, "n1")
	api.Add(attributiontest.Pods, api.PodJSON("research", "a", "uid-a", "1", map[string]string{"team": "vision"}))
	api.SetNode(`{"kind":"Node","apiVersion":"v1","metadata":{"name":"n1","labels":{"topology.kubernetes.io/region":"us-east-1",
		"node.kubernetes.io/instance-type":"p4d.24xlarge"}},"spec":{"providerID":"aws:///us-east-1a/i-0123456789abcdef0"}}`)
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kubeconfig, []byte(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "`+api.URL+`"}}]
users: [{name: u, user: {}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
`), 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{"--simulate", "dgxa100", "--node-name", "n1", "--pod-resources-socket", k.Socket,
		"--kubeconfig", kubeconfig, "--log-level", "error", "--format", "json"}
	var out bytes.Buffer
	if err := gpus(t.Context(), args, &out); err != nil {
		t.Fatal(err)
	}
	var rows []gpuRow
	if err := json.Unmarshal(out.Bytes(), &rows); err != nil {
		t.Fatal(err)
	}
	if w := rows[0].Workloads; len(w) != 1 || w[0].Team != "vision" {
		t.Errorf("GPU 0 serves %+v, want team vision from the pod label", w)
	}

	o, err := parse([]string{"--simulate", "dgxa100", "--node-name", "n1", "--kubeconfig", kubeconfig, "--region", "flag-region"})
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	kube, err := kubeMeta(o, log)
	if err != nil || kube == nil {
		t.Fatalf("kube %v, %v", kube, err)
	}
	meta, err := where(t.Context(), o, kube, log)
	if err != nil {
		t.Fatal(err)
	}
	if meta.Provider != "aws" || meta.Region != "flag-region" || meta.InstanceType != "p4d.24xlarge" || meta.Zone != "us-east-1a" {
		t.Errorf("meta %+v, want aws from the node, the region from the flag", meta)
	}
}

// --sim-teams with teams joined by +, as the demo's MIG and time-sliced nodes use it: the MIG GPU's instances go to
// the teams in order (its remainder to nobody); the time-sliced GPU is split by its simulated processes once the
// agent reads them (--sim-procs turns per-process reading on without a kubelet).
func TestSimTeamsSharing(t *testing.T) {
	o, err := parse([]string{"--simulate", "dgxh100", "--node-name", "d", "--sim-mig", "0:3g.40gb*2",
		"--sim-teams", "research+inference:1,inference+research:1", "--sim-procs", "1:11=0.75+12=0.25",
		"--sim-util", "0.8", "--sim-speed", "0", "--log-level", "error"})
	if err != nil {
		t.Fatal(err)
	}
	m, err := openMachine(t.Context(), o, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer m.close()
	samples, err := m.src.Read(m.clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{} // "index profile team" → share
	for _, s := range samples[:4] {
		for _, sh := range m.attr.(attribution.Sharer).Shares(s) {
			got[fmt.Sprintf("%d %s %s", s.GPU.Index, s.GPU.MIGProfile, sh.Team)] += sh.Weight
		}
	}
	want := map[string]float64{"0 3g.40gb research": 1, "0 3g.40gb inference": 1, "0  ": 1,
		"1  inference": 0.75, "1  research": 0.25}
	for k, v := range got {
		got[k] = math.Round(v*1e9) / 1e9 // 0.6 / 0.8 is not a binary fraction
	}
	if !maps.Equal(got, want) {
		t.Errorf("shares %v, want %v", got, want)
	}
}
