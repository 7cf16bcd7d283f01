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

// flatPricer prices every H100 GPU-hour at one on-demand price.
type flatPricer map[string]float64

func (p flatPricer) OnDemand(provider, _, gpuModel string) (float64, string, bool) {
	price, ok := p[provider]
	return price, "USD", ok && gpuModel == "H100"
}

// The hand-computed scenario of schema/README.md ("Right of first refusal, worked example"): an 8-GPU Azure capacity
// reservation fully used on days 1-3; req-1 for 16 more GPUs declined for days 1-2, releasing 16 to OCI; OCI runs 16
// GPUs on days 1-3 → days 1-2 covered (768 GPU-h), day 3 uncovered (384 GPU-h). Then, at 00:00 on day 4, Azure runs
// 5 of its 8 GPUs while OCI runs 4 inside req-2's release of 4: 3 GPU-h are leakage (the reservation had room) and
// only the fourth is covered.
func TestROFRWorkedExample(t *testing.T) {
	ctx := t.Context()
	st := teststore.Migrated(t)
	day := 24 * time.Hour
	start := figurestest.TermStart // day 1, 00:00
	cs := []commitment.Commitment{{ID: "az-nd", Name: "az-nd", Provider: "azure", Kind: commitment.KindCapacity,
		Scope: commitment.Scope{GPUModel: "H100"}, Quantity: 8, Unit: "gpu", Start: start, End: start.Add(30 * day),
		Alerts: commitment.DefaultThresholds}}
	if err := commitment.Sync(ctx, st.Conn(), st.Database(), cs); err != nil {
		t.Fatal(err)
	}
	prim := commitment.Primary{Provider: "azure", Commitments: []string{"az-nd"}, MaxUncoveredGPUHours24h: 0}
	reqs := []commitment.Request{
		{ID: "req-1", AskedAt: start.Add(-2 * day), GPUs: 16, GPUModel: "H100", Region: "eastus", Start: start,
			End: start.Add(2 * day), Status: commitment.AnswerDeclined, AnsweredAt: start.Add(-day),
			Releases: []commitment.Release{{Provider: "oracle_cloud", GPUs: 16}}},
		{ID: "req-2", AskedAt: start.Add(-day), GPUs: 4, GPUModel: "H100", Start: start.Add(3 * day),
			End: start.Add(3*day + time.Hour), Status: commitment.AnswerDeclined, AnsweredAt: start.Add(-day),
			Releases: []commitment.Release{{Provider: "oracle_cloud", GPUs: 4}}},
	}
	if err := commitment.SyncRequests(ctx, st.Conn(), st.Database(), prim, reqs); err != nil {
		t.Fatal(err)
	}
	// A second sync of the same set writes nothing.
	if err := commitment.SyncRequests(ctx, st.Conn(), st.Database(), prim, reqs); err != nil {
		t.Fatal(err)
	}
	var rows []store.Row
	for h := range 72 {
		rows = append(rows, figurestest.GPUHours("azure", "eastus", "nd", h, 8, "az")...)
		rows = append(rows, figurestest.GPUHours("oracle_cloud", "iad", "bm", h, 16, "oci")...)
	}
	rows = append(rows, figurestest.GPUHours("azure", "eastus", "nd", 72, 5, "az")...)
	rows = append(rows, figurestest.GPUHours("oracle_cloud", "iad", "bm", 72, 4, "oci")...)
	if err := st.Insert(ctx, rows); err != nil {
		t.Fatal(err)
	}
	near := func(a, b float64) bool { return math.Abs(a-b) < 1e-6 }

	// As of day 4, 00:00: days 1-2 covered, day 3 uncovered, all of day 3 in the last 24 hours.
	r, ok, err := figures.ROFRFigures(ctx, st.Conn(), st.Database(), start.Add(3*day), flatPricer{"oracle_cloud": 10})
	if err != nil || !ok {
		t.Fatalf("ROFRFigures: ok %v, err %v", ok, err)
	}
	if len(r.Providers) != 1 {
		t.Fatalf("providers %+v, want oracle_cloud only", r.Providers)
	}
	p := r.Providers[0]
	if p.Provider != "oracle_cloud" || !near(p.Covered, 768) || !near(p.Uncovered, 384) || !near(p.Leakage, 0) {
		t.Errorf("day 4 00:00: %+v, want covered 768, uncovered 384, leakage 0", p)
	}
	if !near(p.CoveredCost, 7680) || !near(p.UncoveredCost, 3840) || p.Currency != "USD" || p.Unpriced != 0 {
		t.Errorf("money: %+v, want 7680 and 3840 USD", p)
	}
	if !near(r.Uncovered24h["oracle_cloud"], 384) {
		t.Errorf("uncovered in the last 24 h = %v, want 384", r.Uncovered24h)
	}
	if len(r.Exposure) != 24 || !r.Exposure[0].Hour.Equal(start.Add(2*day)) || !near(r.Exposure[0].GPUHours, 16) {
		t.Errorf("exposure: %d hours, first %+v; want the 24 hours of day 3 at 16 GPU-h", len(r.Exposure), r.Exposure)
	}

	// As of day 4, 01:00: the leakage hour.
	r, _, err = figures.ROFRFigures(ctx, st.Conn(), st.Database(), start.Add(3*day+time.Hour), nil)
	if err != nil {
		t.Fatal(err)
	}
	p = r.Providers[0]
	if !near(p.Covered, 769) || !near(p.Uncovered, 384) || !near(p.Leakage, 3) {
		t.Errorf("day 4 01:00: %+v, want covered 769, uncovered 384, leakage 3", p)
	}
	if !near(r.Uncovered24h["oracle_cloud"], 368) {
		t.Errorf("uncovered in the last 24 h = %v, want 368 (23 hours of day 3)", r.Uncovered24h)
	}
	// The leakage agrees with the commitment allocation's.
	statuses, err := figures.Commitments(ctx, st.Conn(), st.Database(), start.Add(3*day+time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if len(statuses) != 1 || !near(statuses[0].LeakageGPUHours, 3) || !near(statuses[0].OverflowGPUHours, 16*72+4) {
		t.Errorf("commitment figures %+v, want leakage 3 and overflow 1156", statuses)
	}
	type use struct{ released, used float64 }
	want := map[string]use{"req-1": {768, 768}, "req-2": {4, 1}}
	if len(r.Releases) != 2 {
		t.Fatalf("releases %+v, want 2", r.Releases)
	}
	for _, rel := range r.Releases {
		w := want[rel.RequestID]
		if rel.Provider != "oracle_cloud" || !near(rel.ReleasedGPUHours, w.released) || !near(rel.UsedGPUHours, w.used) {
			t.Errorf("release %+v, want released %v used %v", rel, w.released, w.used)
		}
	}
}
