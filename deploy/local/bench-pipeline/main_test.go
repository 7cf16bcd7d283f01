package main

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gpumeter/gpumeter/collector/commitment"
)

func TestParseShapes(t *testing.T) {
	got, err := parseShapes("1000x20h, 20000x1h 100000x12m,80x0.2h")
	if err != nil {
		t.Fatal(err)
	}
	want := []shape{{1000, 20 * time.Hour}, {20000, time.Hour}, {100000, 12 * time.Minute}, {80, 12 * time.Minute}}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("shape %d = %v, want %v", i, got[i], want[i])
		}
	}
	if s := want[2].String(); s != "100000 GPUs × 12m" {
		t.Errorf("String() = %q", s)
	}
	for _, bad := range []string{"1000", "x1h", "0x1h", "10x90s", "10xsoon"} {
		if _, err := parseShapes(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestCount(t *testing.T) {
	for n, want := range map[int]string{0: "0", 999: "999", 1000: "1,000", 1234567: "1,234,567", -4800: "-4,800"} {
		if got := count(n); got != want {
			t.Errorf("count(%d) = %q, want %q", n, got, want)
		}
	}
}

// The commitments the report is timed with pass the collector's own parser.
func TestTermCommitmentsLoad(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(path, []byte(termCommitments(100000, 30)), 0o644); err != nil {
		t.Fatal(err)
	}
	cs, err := commitment.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(cs.Commitments) != 3 {
		t.Errorf("%d commitments, want capacity, usage and spend", len(cs.Commitments))
	}
}
