package evaluate

import (
	"testing"

	"github.com/gpumeter/gpumeter/collector/figures"
)

// A commitment is judged only while its term runs: before its first complete hour there is nothing to judge, and once
// its term has ended there is nothing left to act on (its alerts resolve; the report keeps its final figures).
func TestAlertsOnlyWhileTheTermRuns(t *testing.T) {
	short := figures.Status{ID: "c", Kind: "capacity", TermHours: 10, CommitmentTotal: 40, CommittedToDate: 20,
		UsedToDate: 2, Utilization: 0.1, ProjectedShortfall7d: 30, Leakage24hGPUHours: 50,
		AlertProjectedShortfallPct: 5, AlertMinUtilizationPct: 80, AlertMaxLeakageGPUHours24h: 10}
	for _, tc := range []struct {
		name            string
		elapsed, left   float64
		wantAlertsFired int
	}{
		{"not started", 0, 10, 0},
		{"running", 5, 5, 3},
		{"last hour", 9, 1, 3},
		{"ended", 10, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := short
			s.HoursElapsed, s.HoursLeft = tc.elapsed, tc.left
			if got := Alerts([]figures.Status{s}); len(got) != tc.wantAlertsFired {
				t.Errorf("%d alerts %v, want %d", len(got), got, tc.wantAlertsFired)
			}
		})
	}
}
