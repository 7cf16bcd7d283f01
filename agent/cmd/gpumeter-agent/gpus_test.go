package main

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	podresourcesv1 "k8s.io/kubelet/pkg/apis/podresources/v1"

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
