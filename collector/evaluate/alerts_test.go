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

// A usage commitment consumed faster than its pace alerts once it runs out within its threshold (issue 10,
// section 4): 50 of 100 GPU-h left at 20/h is 2.5 h, within a 1-day threshold and before the term's 5 h end.
func TestExhaustionAlert(t *testing.T) {
	s := figures.Status{ID: "u", Kind: "usage", Unit: "gpu_hour", TermHours: 10, HoursElapsed: 5, HoursLeft: 5,
		CommitmentTotal: 100, CommittedToDate: 50, UsedToDate: 50, Utilization: 1, Rate7d: 20, Forecast7d: 150,
		AlertMaxLeakageGPUHours24h: 10}
	for _, tc := range []struct {
		days float64
		want bool
	}{{1, true}, {0.05, false}} {
		s.AlertExhaustionDays = tc.days
		got := Alerts([]figures.Status{s})
		if fired := len(got) == 1 && got[0].Name == AlertExhaustion; fired != tc.want {
			t.Errorf("threshold %g days: alerts %+v, want exhaustion alert %v", tc.days, got, tc.want)
		}
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

// A leakage alert says what the leaked GPU-hours cost when the file has prices, and carries the money figures.
func TestLeakageAlertSaysTheCost(t *testing.T) {
	s := figures.Status{ID: "c", Kind: "capacity", Quantity: 16, TermHours: 200, HoursElapsed: 10, HoursLeft: 190,
		CommitmentTotal: 3200, Utilization: 1, Leakage24hGPUHours: 12, AlertMaxLeakageGPUHours24h: 10,
		MoneyCurrency: "USD", Leakage24hCost: 120, OverflowCost: 300, UnusedValue: 40, UnusedValueCurrency: "USD"}
	got := Alerts([]figures.Status{s})
	if len(got) != 1 || got[0].Name != AlertLeakage || !strings.Contains(got[0].Annotations["description"], "costing 120.00 USD on demand") ||
		got[0].Annotations["leakage_24h_cost"] != "120.00" || got[0].Annotations["money_currency"] != "USD" ||
		got[0].Annotations["unused_value"] != "40.00" {
		t.Fatalf("alerts %+v, want one leakage alert with its cost", got)
	}
	s.MoneyCurrency, s.UnusedValueCurrency = "", ""
	if got := Alerts([]figures.Status{s}); len(got) != 1 || strings.Contains(got[0].Annotations["description"], "costing") ||
		got[0].Annotations["leakage_24h_cost"] != "" {
		t.Errorf("without prices the alert names a cost: %+v", got)
	}
}
