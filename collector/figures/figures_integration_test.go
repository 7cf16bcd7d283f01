//go:build integration

package figures_test

import (
	"math"
	"testing"
	"time"

	"github.com/gpumeter/gpumeter/collector/figures"
	"github.com/gpumeter/gpumeter/collector/figures/figurestest"
)

// The worked example's figures at 05:30.
func TestCommitmentFiguresHandComputed(t *testing.T) {
	ctx := t.Context()
	st := figurestest.WorkedExample(t)
	got, err := figures.Commitments(ctx, st.Conn(), st.Database(), figurestest.TermStart.Add(5*time.Hour+30*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]figures.Status{
		"cap": {TermHours: 10, HoursElapsed: 5, HoursLeft: 5, CommitmentTotal: 40, CommittedToDate: 20, UsedToDate: 13,
			Utilization: 0.65, ShortfallToDate: 7, RateLinear: 2.6, Rate7d: 2.6, ForecastLinear: 26, Forecast7d: 26,
			ProjectedShortfallLinear: 14, ProjectedShortfall7d: 14, RequiredRate: 5.4, UsedGPUHours: 15,
			OverflowGPUHours: 8, LeakageGPUHours: 5, Leakage24hGPUHours: 5, Efficiency: 0.5,
			OverflowByProvider: map[string]float64{"oracle_cloud": 6, "aws": 2}},
		"use": {TermHours: 10, HoursElapsed: 5, HoursLeft: 5, CommitmentTotal: 100, CommittedToDate: 50, UsedToDate: 6,
			Utilization: 0.12, ShortfallToDate: 44, RateLinear: 1.2, Rate7d: 1.2, ForecastLinear: 12, Forecast7d: 12,
			ProjectedShortfallLinear: 88, ProjectedShortfall7d: 88, RequiredRate: 18.8, UsedGPUHours: 6,
			OverflowGPUHours: 22, LeakageGPUHours: 22, Leakage24hGPUHours: 22, Efficiency: 0.5,
			OverflowByProvider: map[string]float64{"azure": 20, "aws": 2}},
		"spend": {TermHours: 10, HoursElapsed: 5, HoursLeft: 5, CommitmentTotal: 1000, CommittedToDate: 500, UsedToDate: 20,
			Utilization: 0.04, ShortfallToDate: 480, RateLinear: 4, Rate7d: 4, ForecastLinear: 40, Forecast7d: 40,
			ProjectedShortfallLinear: 960, ProjectedShortfall7d: 960, RequiredRate: 196, UsedGPUHours: 2,
			OverflowGPUHours: 26, LeakageGPUHours: 26, Leakage24hGPUHours: 26, Efficiency: 0.5,
			OverflowByProvider: map[string]float64{"azure": 20, "oracle_cloud": 6}},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d commitments, want %d", len(got), len(want))
	}
	for _, g := range got {
		w := want[g.ID]
		check := func(name string, got, want float64) {
			t.Helper()
			if math.Abs(got-want) > 1e-9 {
				t.Errorf("%s: %s = %g, want %g", g.ID, name, got, want)
			}
		}
		check("term hours", g.TermHours, w.TermHours)
		check("hours elapsed", g.HoursElapsed, w.HoursElapsed)
		check("hours left", g.HoursLeft, w.HoursLeft)
		check("commitment total", g.CommitmentTotal, w.CommitmentTotal)
		check("committed to date", g.CommittedToDate, w.CommittedToDate)
		check("used to date", g.UsedToDate, w.UsedToDate)
		check("utilization", g.Utilization, w.Utilization)
		check("shortfall to date", g.ShortfallToDate, w.ShortfallToDate)
		check("rate linear", g.RateLinear, w.RateLinear)
		check("rate 7d", g.Rate7d, w.Rate7d)
		check("forecast linear", g.ForecastLinear, w.ForecastLinear)
		check("forecast 7d", g.Forecast7d, w.Forecast7d)
		check("projected shortfall linear", g.ProjectedShortfallLinear, w.ProjectedShortfallLinear)
		check("projected shortfall 7d", g.ProjectedShortfall7d, w.ProjectedShortfall7d)
		check("required rate", g.RequiredRate, w.RequiredRate)
		check("used GPU-hours", g.UsedGPUHours, w.UsedGPUHours)
		check("overflow GPU-hours", g.OverflowGPUHours, w.OverflowGPUHours)
		check("leakage GPU-hours", g.LeakageGPUHours, w.LeakageGPUHours)
		check("leakage 24h", g.Leakage24hGPUHours, w.Leakage24hGPUHours)
		check("efficiency", g.Efficiency, w.Efficiency)
		for p, h := range w.OverflowByProvider {
			check("overflow on "+p, g.OverflowByProvider[p], h)
		}
		if len(g.OverflowByProvider) != len(w.OverflowByProvider) {
			t.Errorf("%s: overflow by provider %v, want %v", g.ID, g.OverflowByProvider, w.OverflowByProvider)
		}
	}
}
