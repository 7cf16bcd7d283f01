//go:build integration

package figures_test

import (
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/gpumeter/gpumeter/collector/figures"
	"github.com/gpumeter/gpumeter/collector/figures/figurestest"
	"github.com/gpumeter/gpumeter/collector/store"
	"github.com/gpumeter/gpumeter/internal/teststore"
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
			ProjectedShortfallLinear: 14, ProjectedShortfall7d: 14, RequiredRate: 5.4, UsedGPUHours: 13,
			OverflowGPUHours: 0, LeakageGPUHours: 0, Leakage24hGPUHours: 0, Efficiency: 0.5,
			OverflowByProvider: map[string]float64{}},
		"use": {TermHours: 10, HoursElapsed: 5, HoursLeft: 5, CommitmentTotal: 100, CommittedToDate: 50, UsedToDate: 6,
			Utilization: 0.12, ShortfallToDate: 44, RateLinear: 1.2, Rate7d: 1.2, ForecastLinear: 12, Forecast7d: 12,
			ProjectedShortfallLinear: 88, ProjectedShortfall7d: 88, RequiredRate: 18.8, UsedGPUHours: 6,
			OverflowGPUHours: 7, LeakageGPUHours: 7, Leakage24hGPUHours: 7, Efficiency: 0.5,
			OverflowByProvider: map[string]float64{"azure": 7}},
		"spend": {TermHours: 10, HoursElapsed: 5, HoursLeft: 5, CommitmentTotal: 1000, CommittedToDate: 500, UsedToDate: 20,
			Utilization: 0.04, ShortfallToDate: 480, RateLinear: 4, Rate7d: 4, ForecastLinear: 40, Forecast7d: 40,
			ProjectedShortfallLinear: 960, ProjectedShortfall7d: 960, RequiredRate: 196, UsedGPUHours: 2,
			OverflowGPUHours: 7, LeakageGPUHours: 0, Leakage24hGPUHours: 0, Efficiency: 0.5,
			OverflowByProvider: map[string]float64{"azure": 7}},
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

// The daily section covers the days of its period up to the complete hours before --at: the day of --at is cut
// there, later days are left out, and a moment before any data shows nothing (issue 10, section 3, first defect).
func TestDailyRespectsAt(t *testing.T) {
	ctx := t.Context()
	st := teststore.Migrated(t)
	day := func(d int) time.Time { return figurestest.TermStart.AddDate(0, 0, d) }
	for _, b := range [][]store.Row{
		figurestest.GPUHours("azure", "eastus", "nd", 3, 2, "a"),         // Nov 1 03:00, 2 GPUs
		figurestest.GPUHours("oracle_cloud", "iad", "bm", 20, 1, "o"),    // Nov 1 20:00
		figurestest.GPUHours("azure", "eastus", "nd", 24+2, 3, "b"),      // Nov 2 02:00, 3 GPUs
		figurestest.GPUHours("azure", "eastus", "nd", 24+5, 4, "c"),      // Nov 2 05:00: the hour --at falls in
		figurestest.GPUHours("azure", "eastus", "nd", 48+1, 1, "d"),      // Nov 3: after --at
		figurestest.GPUHours("azure", "westus", "nd", 24+2, 5, "b-west"), // Nov 2 02:00, same provider, other region
	} {
		if err := st.Insert(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	at := day(1).Add(5*time.Hour + 30*time.Minute)
	type row struct {
		day      time.Time
		provider string
		gpus     uint64
		hours    float64
	}
	for _, tc := range []struct {
		name string
		at   time.Time
		days int
		want []row
	}{
		{"at mid-day", at, 31, []row{{day(0), "azure", 2, 2}, {day(0), "oracle_cloud", 1, 1}, {day(1), "azure", 8, 8}}},
		{"one day", at, 1, []row{{day(1), "azure", 8, 8}}},
		{"on the hour", day(1).Add(5 * time.Hour), 2, []row{{day(0), "azure", 2, 2}, {day(0), "oracle_cloud", 1, 1}, {day(1), "azure", 8, 8}}},
		{"hour later", day(1).Add(6 * time.Hour), 1, []row{{day(1), "azure", 8, 12}}}, // GPUs: the peak hour
		{"at midnight", day(1), 31, []row{{day(0), "azure", 2, 2}, {day(0), "oracle_cloud", 1, 1}}},
		{"before any data", figurestest.TermStart.Add(-time.Minute), 31, nil},
		{"long after", day(40), 31, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			from, to := figures.DailyPeriod(tc.at, tc.days)
			got, err := figures.Daily(ctx, st.Conn(), st.Database(), from, to)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("%d rows %+v, want %+v", len(got), got, tc.want)
			}
			for i, w := range tc.want {
				g := got[i]
				if !g.Day.Equal(w.day) || g.Provider != w.provider || g.GPUs != w.gpus ||
					math.Abs(g.ProvisionedHours-w.hours) > 1e-9 || math.Abs(g.BusyHours-w.hours/2) > 1e-9 {
					t.Errorf("row %d = %+v, want day %s %s %d GPUs %g GPU-h (half busy)", i, g,
						w.day.Format(time.DateOnly), w.provider, w.gpus, w.hours)
				}
			}
		})
	}
}

// No figure reads raw history: with usage_raw dropped after the rollups were made, every read gives what it gave
// before (issue 8, item 4).
func TestFiguresReadRollupsOnly(t *testing.T) {
	ctx := t.Context()
	st := figurestest.WorkedExample(t)
	conn, db := st.Conn(), st.Database()
	at := figurestest.TermStart.Add(5*time.Hour + 30*time.Minute)
	from, to := figures.DailyPeriod(at, 31)
	read := func() (out []any) {
		t.Helper()
		statuses, series, err := figures.CommitmentsAndSeries(ctx, conn, db, at)
		if err != nil {
			t.Fatal(err)
		}
		daily, err := figures.Daily(ctx, conn, db, from, to)
		if err != nil {
			t.Fatal(err)
		}
		var hourly []figures.Usage
		if err := figures.HourlyUsage(ctx, conn, db, figurestest.TermStart, to, func(u figures.Usage) error {
			hourly = append(hourly, u)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		unused, err := figures.UnusedHours(ctx, conn, db, figurestest.TermStart, to, 1e-9)
		if err != nil {
			t.Fatal(err)
		}
		if len(statuses) == 0 || len(series) == 0 || len(daily) == 0 || len(hourly) == 0 || len(unused) == 0 {
			t.Fatalf("the worked example gave an empty read: %d statuses, %d series, %d days, %d hourly rows, %d unused hours",
				len(statuses), len(series), len(daily), len(hourly), len(unused))
		}
		return []any{statuses, series, daily, hourly, unused}
	}
	before := read()
	if err := conn.Exec(ctx, "DROP TABLE "+db+".usage_raw"); err != nil {
		t.Fatal(err)
	}
	after := read()
	for i, name := range []string{"commitment figures", "series", "daily", "hourly usage", "unused hours"} {
		if !reflect.DeepEqual(before[i], after[i]) {
			t.Errorf("%s differ once raw history is gone:\nbefore %+v\nafter  %+v", name, before[i], after[i])
		}
	}
}

// The daily busy % leaves GPU-hours of unknown busy time out (issue 10, section 3): 2 GPU-hours half busy and 2 whose
// device reports no busy time are 50 % busy, as the commitment figures' efficiency says, not 25 %.
func TestDailyBusyShareLeavesUnknownOut(t *testing.T) {
	ctx := t.Context()
	st := teststore.Migrated(t)
	unknown := figurestest.GPUHours("azure", "eastus", "nd", 3, 2, "mig")
	for i := range unknown {
		unknown[i].BusySeconds = nil
	}
	for _, b := range [][]store.Row{figurestest.GPUHours("azure", "eastus", "nd", 3, 2, "known"), unknown} {
		if err := st.Insert(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	from, to := figures.DailyPeriod(figurestest.TermStart.Add(5*time.Hour), 1)
	got, err := figures.Daily(ctx, st.Conn(), st.Database(), from, to)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 {
		t.Fatalf("daily %+v, want one row", got)
	}
	if got[0].ProvisionedHours != 4 || got[0].BusyKnownHours != 2 || got[0].Efficiency() != 0.5 {
		t.Fatalf("daily %+v (busy share %g), want 4 GPU-h, 2 with known busy time, 50 %% busy", got, got[0].Efficiency())
	}
	if tot := figures.ProviderTotals(got); tot[0].Efficiency() != 0.5 {
		t.Errorf("provider total busy share %g, want 0.5", tot[0].Efficiency())
	}
}
