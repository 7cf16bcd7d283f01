//go:build integration

package figures_test

import (
	"math"
	"testing"
	"time"

	"github.com/gpumeter/gpumeter/collector/commitment"
	"github.com/gpumeter/gpumeter/collector/figures"
	"github.com/gpumeter/gpumeter/collector/figures/figurestest"
	"github.com/gpumeter/gpumeter/collector/store"
	"github.com/gpumeter/gpumeter/internal/teststore"
)

// Three overlapping Azure commitments and an AWS one, hand-computed in schema/README.md ("Allocation, worked
// example"): every GPU-hour is covered by at most one commitment, capacity first (the higher priority first, then a
// second pass into a reservation with room), then usage, then spend; overflow and leakage count only what no
// commitment covered, and leakage counts each such GPU-hour once.
func TestAllocationThreeOverlappingCommitments(t *testing.T) {
	ctx := t.Context()
	st := teststore.Migrated(t)
	start := figurestest.TermStart
	end := start.Add(10 * time.Hour)
	cs := []commitment.Commitment{
		{ID: "az-east", Provider: "azure", Scope: commitment.Scope{Region: "eastus"}, Kind: commitment.KindCapacity,
			Quantity: 16, Unit: "gpu", Start: start, End: end, Alerts: commitment.DefaultThresholds},
		{ID: "az-h100", Provider: "azure", Scope: commitment.Scope{GPUModel: "H100"}, Kind: commitment.KindCapacity,
			Quantity: 32, Unit: "gpu", Start: start, End: end, Priority: 1, Alerts: commitment.DefaultThresholds},
		{ID: "az-use", Provider: "azure", Scope: commitment.Scope{InstanceType: "nd"}, Kind: commitment.KindUsage,
			Quantity: 1000, Unit: "gpu_hour", Start: start, End: end, Alerts: commitment.DefaultThresholds},
		{ID: "aws-spend", Provider: "aws", Kind: commitment.KindSpend, Quantity: 10000, Unit: "USD", Currency: "USD",
			Start: start, End: end, RateCard: []commitment.Rate{{InstanceType: "p5", PricePerGPUHour: 10}},
			Alerts: commitment.DefaultThresholds},
	}
	for i := range cs {
		cs[i].Name = cs[i].ID
	}
	if err := commitment.Sync(ctx, st.Conn(), st.Database(), cs); err != nil {
		t.Fatal(err)
	}
	if live, err := commitment.Current(ctx, st.Conn(), st.Database()); err != nil {
		t.Fatal(err)
	} else if len(live) != 4 || live[2].ID != "az-h100" || live[2].Priority != 1 || live[1].Priority != 0 {
		t.Fatalf("commitments as stored: %+v, want az-h100 with priority 1", live)
	}
	var rows []store.Row
	for _, b := range [][]store.Row{
		figurestest.GPUHours("azure", "eastus", "nd", 0, 40, "e0"),
		figurestest.GPUHours("azure", "westus", "nd", 0, 10, "w0"),
		figurestest.GPUHours("aws", "us-east-1", "p5", 0, 5, "p0"),
		figurestest.GPUHours("oracle_cloud", "iad", "bm", 0, 3, "o0"),
		figurestest.GPUHours("azure", "eastus", "nd", 1, 10, "e1"),
		figurestest.GPUHours("azure", "westus", "nd", 1, 30, "w1"),
		figurestest.GPUHours("oracle_cloud", "iad", "bm", 1, 4, "o1"),
	} {
		rows = append(rows, b...)
	}
	if err := st.Insert(ctx, rows); err != nil {
		t.Fatal(err)
	}
	at := start.Add(2*time.Hour + 30*time.Minute)

	got, err := figures.Commitments(ctx, st.Conn(), st.Database(), at)
	if err != nil {
		t.Fatal(err)
	}
	type want struct{ committed, used, usedGPUHours, overflow, leakage float64 }
	wants := map[string]want{
		"az-h100":   {64, 64, 64, 7, 0},  // first in both hours (priority 1): 32 + 32
		"az-east":   {32, 8, 8, 7, 7},    // eastus beyond az-h100 in hour 0 (second pass); room for OCI's 3 + 4
		"az-use":    {200, 18, 18, 7, 0}, // westus beyond both reservations: 10 + 8
		"aws-spend": {2000, 50, 5, 7, 0}, // 5 GPU-h at 10 USD
	}
	if len(got) != len(wants) {
		t.Fatalf("got %d commitments, want %d", len(got), len(wants))
	}
	var covered float64
	for _, g := range got {
		w := wants[g.ID]
		for _, c := range []struct {
			name      string
			got, want float64
		}{
			{"committed to date", g.CommittedToDate, w.committed}, {"used to date", g.UsedToDate, w.used},
			{"used GPU-hours", g.UsedGPUHours, w.usedGPUHours}, {"overflow", g.OverflowGPUHours, w.overflow},
			{"leakage", g.LeakageGPUHours, w.leakage},
		} {
			if math.Abs(c.got-c.want) > 1e-9 {
				t.Errorf("%s: %s = %g, want %g", g.ID, c.name, c.got, c.want)
			}
		}
		covered += g.UsedGPUHours
	}
	// 102 GPU-hours ran: 95 covered once each, 7 (OCI) by nobody.
	if math.Abs(covered-95) > 1e-9 {
		t.Errorf("commitments cover %g GPU-hours together, want 95 of the 102 that ran", covered)
	}

	// The FOCUS export's usage rows come from the same allocation: per commitment the same GPU-hours, and their
	// parts add up to the usage that ran.
	byCommitment := map[string]float64{}
	var total float64
	if err := figures.HourlyUsage(ctx, st.Conn(), st.Database(), start, start.Add(2*time.Hour), func(u figures.Usage) error {
		byCommitment[u.CommitmentID] += u.GPUHours
		total += u.GPUHours
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for id, w := range wants {
		if math.Abs(byCommitment[id]-w.usedGPUHours) > 1e-9 {
			t.Errorf("allocation rows of %s: %g GPU-hours, want %g", id, byCommitment[id], w.usedGPUHours)
		}
	}
	if math.Abs(byCommitment[""]-7) > 1e-9 || math.Abs(total-102) > 1e-9 {
		t.Errorf("allocation rows: %g uncovered of %g, want 7 of 102", byCommitment[""], total)
	}
}
