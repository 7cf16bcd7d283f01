//go:build integration

package main

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gpumeter/gpumeter/collector/commitment"
	"github.com/gpumeter/gpumeter/collector/figures/figurestest"
	"github.com/gpumeter/gpumeter/internal/testenv"
)

// The report command's daily section ends where its --at does: the worked example's GPUs of hour 6 (after --at
// 05:30) are not counted, and an --at before any data lists no day (issue 10, section 3, first defect).
func TestReportDailyEndsAtAt(t *testing.T) {
	st := figurestest.WorkedExample(t)
	for _, tc := range []struct {
		at   time.Time
		want map[string]float64 // provider → GPU-hours on the term's first day
	}{
		{figurestest.TermStart.Add(5*time.Hour + 30*time.Minute), map[string]float64{"azure": 20, "oracle_cloud": 6, "aws": 2}},
		{figurestest.TermStart.Add(-time.Hour), map[string]float64{}},
	} {
		out := filepath.Join(t.TempDir(), "report.json")
		err := runReport(t.Context(), []string{"--clickhouse-addr=" + testenv.ClickHouseAddr(t),
			"--clickhouse-database=" + st.Database(), "--at=" + tc.at.Format(time.RFC3339), "--format=json", "--out=" + out})
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		var doc struct {
			Daily []struct {
				Day                 string  `json:"day"`
				Provider            string  `json:"provider"`
				ProvisionedGPUHours float64 `json:"provisioned_gpu_hours"`
			} `json:"daily"`
		}
		if err := json.Unmarshal(b, &doc); err != nil {
			t.Fatal(err)
		}
		if len(doc.Daily) != len(tc.want) {
			t.Errorf("--at %s: daily %+v, want %v on %s", tc.at, doc.Daily, tc.want, figurestest.TermStart.Format(time.DateOnly))
			continue
		}
		for _, d := range doc.Daily {
			if d.Day != figurestest.TermStart.Format(time.DateOnly) || math.Abs(d.ProvisionedGPUHours-tc.want[d.Provider]) > 1e-9 {
				t.Errorf("--at %s: daily row %+v, want %v on %s", tc.at, d, tc.want, figurestest.TermStart.Format(time.DateOnly))
			}
		}
	}
}

// report --commitments never writes (issue 10, section 3): a file that differs from the loaded set is refused and
// leaves the live commitments as they were.
func TestReportCommitmentsIsReadOnly(t *testing.T) {
	ctx := t.Context()
	st := figurestest.WorkedExample(t)
	before, err := commitment.Current(ctx, st.Conn(), st.Database())
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	other := filepath.Join(dir, "other.yaml")
	if err := os.WriteFile(other, []byte(`commitments:
  - id: what-if
    provider: azure
    kind: usage
    quantity: 10
    term: {start: 2026-11-01T00:00:00Z, end: 2026-11-02T00:00:00Z}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	args := func(file string) []string {
		return []string{"--clickhouse-addr=" + testenv.ClickHouseAddr(t), "--clickhouse-database=" + st.Database(),
			"--at=" + figurestest.TermStart.Add(5*time.Hour).Format(time.RFC3339), "--format=json",
			"--out=" + filepath.Join(dir, "report.json"), "--commitments=" + file}
	}
	err = runReport(ctx, args(other))
	if err == nil || !strings.Contains(err.Error(), "read-only") {
		t.Fatalf("report --commitments with another set: %v, want a refusal saying report is read-only", err)
	}
	after, err := commitment.Current(ctx, st.Conn(), st.Database())
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(before, after) {
		t.Errorf("report changed the live commitments:\nbefore %+v\nafter  %+v", before, after)
	}
}
