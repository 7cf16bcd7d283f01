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

// The money worked example of schema/README.md ("Money, worked example"), hand-computed: a priced Azure
// reservation, a priced Azure usage commitment that runs out in the second hour, an AWS spend commitment, and
// on-demand price cards for Azure and OCI. Two complete hours:
//
//	hour 0: azure eastus 6 GPUs (az-cap, room 4), azure westus 10 (az-use), aws p5 1 (aws-spend, 10 USD),
//	        oracle 3 (uncovered, 5 USD/GPU-h on demand)
//	hour 1: azure eastus 10 (az-cap, full), azure westus 10 (az-use has 5 of its 15 left: 5 covered, 5 uncovered at
//	        4 USD/GPU-h), oracle 4 (uncovered)
func TestMoneyAndUsageExhaustion(t *testing.T) {
	ctx := t.Context()
	st := teststore.Migrated(t)
	start := figurestest.TermStart
	end := start.Add(10 * time.Hour)
	f := commitment.File{
		Currency: "USD",
		Prices: commitment.PriceCards{
			{Provider: "oracle_cloud", PricePerGPUHour: 5, Currency: "USD"},
			{Provider: "azure", InstanceType: "nd", PricePerGPUHour: 4, Currency: "USD"},
			{Provider: "azure", PricePerGPUHour: 100, Currency: "USD"}, // less specific than the nd line: never used
		},
		Commitments: []commitment.Commitment{
			{ID: "az-cap", Provider: "azure", Scope: commitment.Scope{Region: "eastus"}, Kind: commitment.KindCapacity,
				Quantity: 10, Unit: "gpu", Start: start, End: end, CommittedPrice: 2, PriceCurrency: "USD"},
			{ID: "az-use", Provider: "azure", Scope: commitment.Scope{Region: "westus"}, Kind: commitment.KindUsage,
				Quantity: 15, Unit: "gpu_hour", Start: start, End: end, CommittedPrice: 3, PriceCurrency: "USD"},
			{ID: "aws-spend", Provider: "aws", Kind: commitment.KindSpend, Quantity: 100, Unit: "USD", Currency: "USD",
				Start: start, End: end, RateCard: []commitment.Rate{{InstanceType: "p5", PricePerGPUHour: 10}}},
		},
	}
	for i := range f.Commitments {
		f.Commitments[i].Name, f.Commitments[i].Alerts = f.Commitments[i].ID, commitment.DefaultThresholds
	}
	if err := commitment.SyncFile(ctx, st.Conn(), st.Database(), f); err != nil {
		t.Fatal(err)
	}
	if live, err := commitment.Current(ctx, st.Conn(), st.Database()); err != nil {
		t.Fatal(err)
	} else if live[0].ID != "aws-spend" || live[1].CommittedPrice != 2 || live[2].CommittedPrice != 3 || live[2].PriceCurrency != "USD" {
		t.Errorf("prices of the commitments as stored: %+v", live)
	}
	if prices, err := commitment.CurrentPrices(ctx, st.Conn(), st.Database()); err != nil {
		t.Fatal(err)
	} else if len(prices) != 3 || prices[1] != f.Prices[1] {
		t.Errorf("price cards as stored: %+v, want %+v", prices, f.Prices)
	}
	var rows []store.Row
	for _, b := range [][]store.Row{
		figurestest.GPUHours("azure", "eastus", "nd", 0, 6, "e0"),
		figurestest.GPUHours("azure", "westus", "nd", 0, 10, "w0"),
		figurestest.GPUHours("aws", "us-east-1", "p5", 0, 1, "p0"),
		figurestest.GPUHours("oracle_cloud", "iad", "bm", 0, 3, "o0"),
		figurestest.GPUHours("azure", "eastus", "nd", 1, 10, "e1"),
		figurestest.GPUHours("azure", "westus", "nd", 1, 10, "w1"),
		figurestest.GPUHours("oracle_cloud", "iad", "bm", 1, 4, "o1"),
	} {
		rows = append(rows, b...)
	}
	for i := range rows { // teams for the team section: westus is research's, OCI infra's, the rest nobody's
		switch rows[i].Record.Region {
		case "westus":
			rows[i].Record.Team = "research"
		case "iad":
			rows[i].Record.Team = "infra"
		}
	}
	if err := st.Insert(ctx, rows); err != nil {
		t.Fatal(err)
	}
	at := start.Add(2*time.Hour + 30*time.Minute)
	got, err := figures.Commitments(ctx, st.Conn(), st.Database(), at)
	if err != nil {
		t.Fatal(err)
	}
	type want struct {
		used, overflow, leakage, overflowCost, leakageCost, unusedValue float64
		unusedCurrency                                                  string
	}
	wants := map[string]want{
		// 16 of 20 GPU-hours used; overflow is OCI's 3 + 4 (35 USD; Azure's own uncovered 5 are not overflow of an
		// Azure commitment); OCI's 3 of hour 0 leak into its room of 4 (15 USD); 4 unused GPU-hours at 2 USD.
		"az-cap": {16, 7, 3, 35, 15, 8, "USD"},
		// 10 + 5: used up in hour 1, the other 5 of westus stay uncovered; ahead of its pace, nothing unused.
		"az-use": {15, 7, 0, 35, 0, 0, "USD"},
		// 10 USD of the 20 committed to date, so 10 USD unused; overflow is Azure's 5 uncovered (20 USD) and OCI's 7
		// (35 USD); in hour 1 its room is 1 GPU-hour (10 USD unused at 10 USD/GPU-h) and 9 uncovered GPU-hours compete
		// for it: 1 leaks, at their average price 40/9 USD.
		"aws-spend": {10, 12, 1, 55, 40.0 / 9, 10, "USD"},
	}
	if len(got) != len(wants) {
		t.Fatalf("got %d commitments, want %d", len(got), len(wants))
	}
	for _, g := range got {
		w := wants[g.ID]
		for _, c := range []struct {
			name      string
			got, want float64
		}{
			{"used to date", g.UsedToDate, w.used}, {"overflow GPU-hours", g.OverflowGPUHours, w.overflow},
			{"leakage GPU-hours", g.LeakageGPUHours, w.leakage}, {"overflow cost", g.OverflowCost, w.overflowCost},
			{"leakage cost", g.LeakageCost, w.leakageCost}, {"unused value", g.UnusedValue, w.unusedValue},
			{"leakage cost (24h)", g.Leakage24hCost, w.leakageCost},
		} {
			if math.Abs(c.got-c.want) > 1e-9 {
				t.Errorf("%s: %s = %g, want %g", g.ID, c.name, c.got, c.want)
			}
		}
		if g.MoneyCurrency != "USD" || g.UnusedValueCurrency != w.unusedCurrency {
			t.Errorf("%s: currencies %q (money) %q (unused value), want USD and %s", g.ID, g.MoneyCurrency, g.UnusedValueCurrency, w.unusedCurrency)
		}
	}

	// The allocation rows: az-use covers 15 and no more; every row carries its on-demand price (the list price of a
	// covered one), and the uncovered 12 cost 55 at it.
	byCommitment := map[string]float64{}
	var uncoveredCost float64
	if err := figures.HourlyUsage(ctx, st.Conn(), st.Database(), start, start.Add(2*time.Hour), func(u figures.Usage) error {
		byCommitment[u.CommitmentID] += u.GPUHours
		if u.CommitmentID == "" {
			uncoveredCost += u.GPUHours * u.OnDemandPrice
			if u.OnDemandCurrency != "USD" {
				t.Errorf("uncovered %s %s: currency %q", u.Provider, u.Region, u.OnDemandCurrency)
			}
		} else if want := map[string]float64{"azure": 4, "aws": 0}[u.Provider]; u.OnDemandPrice != want {
			t.Errorf("covered row of %s has the on-demand price %g, want %g", u.CommitmentID, u.OnDemandPrice, want)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if math.Abs(byCommitment["az-use"]-15) > 1e-9 || math.Abs(byCommitment[""]-12) > 1e-9 || math.Abs(uncoveredCost-55) > 1e-9 {
		t.Errorf("allocation: az-use %g GPU-h (want 15), uncovered %g (want 12) costing %g (want 55)",
			byCommitment["az-use"], byCommitment[""], uncoveredCost)
	}

	// Per team, provider and commitment, the same allocation in money: a priced commitment's GPU-hours at its
	// price, spend at its rate card, the uncovered at the price cards.
	teams, err := figures.Teams(ctx, st.Conn(), st.Database(), start, start.Add(2*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	type teamWant struct{ gpuHours, cost float64 }
	wantTeams := map[string]teamWant{
		"/azure/az-cap/USD":         {16, 32},
		"research/azure/az-use/USD": {15, 45},
		"research/azure//USD":       {5, 20},
		"/aws/aws-spend/USD":        {1, 10},
		"infra/oracle_cloud//USD":   {7, 35},
	}
	if len(teams) != len(wantTeams) {
		t.Errorf("team rows %+v, want %v", teams, wantTeams)
	}
	for _, u := range teams {
		k := u.Team + "/" + u.Provider + "/" + u.CommitmentID + "/" + u.Currency
		w, ok := wantTeams[k]
		if !ok || math.Abs(u.GPUHours-w.gpuHours) > 1e-9 || math.Abs(u.Cost-w.cost) > 1e-9 || math.Abs(u.BusyShare()-0.5) > 1e-9 {
			t.Errorf("team row %s: %g GPU-h, %g cost, busy %g; want %+v and busy 0.5", k, u.GPUHours, u.Cost, u.BusyShare(), w)
		}
	}
}
