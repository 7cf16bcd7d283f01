package attribution

import (
	"math"
	"testing"

	"github.com/gpumeter/gpumeter/agent/gpu"
)

type holdersMap map[string][]Holder

func (h holdersMap) Holders(uuid string) []Holder { return h[uuid] }

type podsMap map[string]PodMeta

func (p podsMap) Pod(ns, name string) (PodMeta, bool) { m, ok := p[ns+"/"+name]; return m, ok }

func TestNodeShares(t *testing.T) {
	n := &Node{
		Kubelet: holdersMap{
			"GPU-a": {{"research", "a", 1}},
			"GPU-c": {{"inference", "b", 1}, {"research", "c", 1}},
			"GPU-r": {{"inference", "b", 1}, {"research", "c", 3}},
		},
		Pods: podsMap{
			"research/a":  {UID: "0a1b2c3d-0000-4000-8000-000000000101", Team: "research"},
			"inference/b": {UID: "0a1b2c3d-0000-4000-8000-000000000102", Team: "inference"},
			"research/c":  {UID: "0a1b2c3d-0000-4000-8000-000000000103", Team: "research-ml"},
		},
		Procs: Cgroups{Root: "testdata/proc"},
	}
	util := 0.8
	procs := []gpu.ProcessUtilization{{PID: 102, Utilization: 0.6}, {PID: 103, Utilization: 0.2}, {PID: 106, Utilization: 0.1}}
	for _, tc := range []struct {
		name    string
		s       gpu.Sample
		weights []float64
		teams   []string
	}{
		{"whole GPU", gpu.Sample{GPU: gpu.GPU{UUID: "GPU-a"}, Utilization: &util}, []float64{1}, []string{"research"}},
		{"unassigned", gpu.Sample{GPU: gpu.GPU{UUID: "GPU-x"}}, []float64{1}, []string{""}},
		{"time-sliced, processes mapped", gpu.Sample{GPU: gpu.GPU{UUID: "GPU-c"}, Utilization: &util, Processes: procs},
			[]float64{0.75, 0.25}, []string{"inference", "research-ml"}},
		{"time-sliced, no process", gpu.Sample{GPU: gpu.GPU{UUID: "GPU-c"}, Utilization: &util},
			[]float64{0.5, 0.5}, []string{"inference", "research-ml"}},
		{"replicas weigh, no process of a holder", gpu.Sample{GPU: gpu.GPU{UUID: "GPU-r"}, Utilization: &util, Processes: procs[2:]},
			[]float64{0.25, 0.75}, []string{"inference", "research-ml"}},
	} {
		got := n.Shares(tc.s)
		if len(got) != len(tc.weights) {
			t.Fatalf("%s: %d shares, want %d", tc.name, len(got), len(tc.weights))
		}
		for i, sh := range got {
			if math.Abs(sh.Weight-tc.weights[i]) > 1e-12 || sh.Team != tc.teams[i] {
				t.Errorf("%s: share %d = %+v, want weight %g team %s", tc.name, i, sh, tc.weights[i], tc.teams[i])
			}
		}
	}
	// Without the API server the team is the namespace.
	if a := (&Node{Kubelet: n.Kubelet}).Attribution(gpu.GPU{UUID: "GPU-a"}); a != (Attribution{Namespace: "research", Pod: "a", Team: "research"}) {
		t.Errorf("attribution without pod metadata: %+v", a)
	}
}

func TestTeamRule(t *testing.T) {
	for _, tc := range []struct {
		pod, ns map[string]string
		want    string
	}{
		{map[string]string{"team": "p"}, map[string]string{"team": "n"}, "p"},
		{nil, map[string]string{"team": "n"}, "n"},
		{map[string]string{"other": "x"}, nil, "ns"},
	} {
		if got := Team("team", tc.pod, tc.ns, "ns"); got != tc.want {
			t.Errorf("Team(%v, %v) = %q, want %q", tc.pod, tc.ns, got, tc.want)
		}
	}
}
