//go:build integration

package report

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/gpumeter/gpumeter/collector/commitment"
	"github.com/gpumeter/gpumeter/collector/store"
	"github.com/gpumeter/gpumeter/internal/teststore"
	"github.com/gpumeter/gpumeter/schema"
)

var termStart = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

// gpuHours makes n one-hour records (n GPU-hours, half of it busy) for hour h of the scenario.
func gpuHours(provider, region, itype string, h, n int, tag string) []store.Row {
	var out []store.Row
	start := termStart.Add(time.Duration(h) * time.Hour)
	for i := range n {
		out = append(out, store.Row{Record: schema.Record{Version: 1, Node: provider + "-" + region, Provider: provider,
			Region: region, InstanceType: itype, GPUModel: "H100", GPUUUID: fmt.Sprintf("GPU-%s-%d", tag, i),
			IntervalStart: start, IntervalEnd: start.Add(time.Hour), WindowStart: start, WindowEnd: start.Add(time.Hour),
			ProvisionedSeconds: 3600, BusySeconds: schema.Float(1800)}})
	}
	return out
}

// workedExample loads the scenario of schema/README.md "Commitment figures, worked example" (ten-hour terms,
// late and duplicated batches included) plus extra commitments into a fresh database.
func workedExample(t *testing.T, extra ...commitment.Commitment) *store.Store {
	t.Helper()
	ctx := t.Context()
	st := teststore.Migrated(t)
	end := termStart.Add(10 * time.Hour)
	cs := append([]commitment.Commitment{
		{ID: "cap", Name: "cap", Provider: "azure", Scope: commitment.Scope{Region: "eastus"}, Kind: commitment.KindCapacity,
			Quantity: 4, Unit: "gpu", Start: termStart, End: end, Alerts: commitment.DefaultThresholds},
		{ID: "use", Name: "use", Provider: "oracle_cloud", Kind: commitment.KindUsage, Quantity: 100, Unit: "gpu_hour",
			Start: termStart, End: end, Alerts: commitment.DefaultThresholds},
		{ID: "spend", Name: "spend", Provider: "aws", Kind: commitment.KindSpend, Quantity: 1000, Unit: "USD", Currency: "USD",
			Start: termStart, End: end, RateCard: []commitment.Rate{{InstanceType: "p5.48xlarge", PricePerGPUHour: 10}},
			Alerts: commitment.DefaultThresholds},
	}, extra...)
	if err := commitment.Sync(ctx, st.Conn(), st.Database(), cs); err != nil {
		t.Fatal(err)
	}
	var batches [][]store.Row
	add := func(rows []store.Row) { batches = append(batches, rows) }
	add(gpuHours("azure", "eastus", "nd", 0, 4, "a0"))
	add(gpuHours("azure", "eastus", "nd", 1, 6, "a1"))
	add(gpuHours("azure", "eastus", "nd", 2, 2, "a2"))
	add(gpuHours("azure", "westus", "nd", 2, 5, "w2")) // azure, but outside the capacity commitment's region
	add(gpuHours("azure", "eastus", "nd", 4, 1, "a4"))
	add(gpuHours("oracle_cloud", "iad", "bm", 1, 2, "o1"))
	add(gpuHours("oracle_cloud", "iad", "bm", 2, 3, "o2"))
	add(gpuHours("oracle_cloud", "iad", "bm", 3, 1, "o3"))
	add(gpuHours("aws", "us-east-1", "p5.48xlarge", 3, 2, "p3"))
	add(gpuHours("azure", "eastus", "nd", 6, 8, "after")) // after --at: must not count
	// Late data: two more GPUs of hour 4 arrive after hour 6, and a batch is delivered twice.
	late := gpuHours("azure", "eastus", "nd", 4, 3, "a4")[1:]
	late[0].GPUUUID, late[1].GPUUUID = "GPU-late-1", "GPU-late-2"
	add(late)
	add(late)
	add(gpuHours("oracle_cloud", "iad", "bm", 2, 3, "o2"))
	for _, b := range batches {
		if err := st.Insert(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	return st
}

// The worked example's figures at 05:30.
func TestCommitmentFiguresHandComputed(t *testing.T) {
	ctx := t.Context()
	st := workedExample(t)
	got, err := Commitments(ctx, st.Conn(), st.Database(), termStart.Add(5*time.Hour+30*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]Status{
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
