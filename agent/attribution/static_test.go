package attribution

import (
	"fmt"
	"slices"
	"testing"

	"github.com/gpumeter/gpumeter/agent/gpu"
)

func TestParseTeams(t *testing.T) {
	s, err := ParseTeams("research:2, inference:1", "n1")
	if err != nil {
		t.Fatal(err)
	}
	want := map[int]Attribution{
		0: {Namespace: "research", Pod: "research-n1-0", Team: "research"},
		1: {Namespace: "research", Pod: "research-n1-1", Team: "research"},
		2: {Namespace: "inference", Pod: "inference-n1-2", Team: "inference"},
		3: {},
	}
	for idx, w := range want {
		if got := s.Attribution(gpu.GPU{Index: idx}); got != w {
			t.Errorf("GPU %d: %+v, want %+v", idx, got, w)
		}
	}
	for _, bad := range []string{"research", "research:x", ":3", "a:-1"} {
		if _, err := ParseTeams(bad, "n"); err == nil {
			t.Errorf("ParseTeams(%q) accepted", bad)
		}
	}
}

// --sim-teams with teams joined by +: a MIG GPU's instances go to the teams in order, a whole GPU is time-sliced,
// split by its simulated processes where the sample has them, else equally.
func TestStaticShares(t *testing.T) {
	s, err := ParseTeams("research:1,inference+research:2", "n")
	if err != nil {
		t.Fatal(err)
	}
	inf := func(gpu int) Attribution {
		return Attribution{Namespace: "inference", Pod: fmt.Sprintf("inference-n-%d-0", gpu), Team: "inference"}
	}
	res := func(gpu int) Attribution {
		return Attribution{Namespace: "research", Pod: fmt.Sprintf("research-n-%d-1", gpu), Team: "research"}
	}
	for _, tc := range []struct {
		name string
		s    gpu.Sample
		want []Share
	}{
		{"a GPU of its own", gpu.Sample{GPU: gpu.GPU{Index: 0}},
			[]Share{{Attribution: Attribution{Namespace: "research", Pod: "research-n-0", Team: "research"}, Weight: 1}}},
		{"time-sliced, no processes: equal", gpu.Sample{GPU: gpu.GPU{Index: 1}},
			[]Share{{Attribution: inf(1), Weight: 0.5}, {Attribution: res(1), Weight: 0.5}}},
		{"time-sliced, by process utilization", gpu.Sample{GPU: gpu.GPU{Index: 1},
			Processes: []gpu.ProcessUtilization{{PID: 7, Utilization: 0.75}, {PID: 8, Utilization: 0.25}}},
			[]Share{{Attribution: inf(1), Weight: 0.75}, {Attribution: res(1), Weight: 0.25}}},
		{"time-sliced, idle processes: equal", gpu.Sample{GPU: gpu.GPU{Index: 1},
			Processes: []gpu.ProcessUtilization{{PID: 7}, {PID: 8}}},
			[]Share{{Attribution: inf(1), Weight: 0.5}, {Attribution: res(1), Weight: 0.5}}},
		{"MIG instance 0", gpu.Sample{GPU: gpu.GPU{Index: 2, ParentUUID: "GPU-2", Slice: 3.0 / 7}},
			[]Share{{Attribution: inf(2), Weight: 1}}},
		{"MIG instance 1", gpu.Sample{GPU: gpu.GPU{Index: 2, ParentUUID: "GPU-2", MIGIndex: 1, Slice: 3.0 / 7}},
			[]Share{{Attribution: res(2), Weight: 1}}},
		{"MIG instance beyond the teams", gpu.Sample{GPU: gpu.GPU{Index: 2, ParentUUID: "GPU-2", MIGIndex: 2, Slice: 1.0 / 7}},
			[]Share{{Weight: 1}}},
		{"the remainder of a shared MIG GPU", gpu.Sample{GPU: gpu.GPU{Index: 2, Slice: 1.0 / 7}}, []Share{{Weight: 1}}},
		{"unlisted GPU", gpu.Sample{GPU: gpu.GPU{Index: 3}}, []Share{{Weight: 1}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := s.Shares(tc.s); !slices.Equal(got, tc.want) {
				t.Errorf("shares %+v, want %+v", got, tc.want)
			}
		})
	}
	if _, err := ParseTeams("a+:1", "n"); err == nil {
		t.Error("an empty team accepted")
	}
}
