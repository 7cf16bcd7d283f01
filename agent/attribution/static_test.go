package attribution

import (
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
