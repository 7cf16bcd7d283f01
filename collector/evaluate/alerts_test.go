package evaluate

import (
	"strings"
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

// A required rate beyond the reservation says so in the alert (issue 10, section 4).
func TestAlertSaysCannotBeMet(t *testing.T) {
	s := figures.Status{ID: "c", Kind: "capacity", Quantity: 16, TermHours: 200, HoursElapsed: 92, HoursLeft: 108,
		CommitmentTotal: 3200, ProjectedShortfall7d: 500, RequiredRate: 16.3, Utilization: 1, AlertProjectedShortfallPct: 5,
		AlertMaxLeakageGPUHours24h: 10}
	got := Alerts([]figures.Status{s})
	if len(got) != 1 || !strings.Contains(got[0].Annotations["description"], "cannot be met any more") {
		t.Fatalf("alerts %+v, want one saying the commitment cannot be met any more", got)
	}
}
