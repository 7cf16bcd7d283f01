//go:build integration

package export

import (
	"testing"

	"github.com/gpumeter/gpumeter/collector/commitment"
	"github.com/gpumeter/gpumeter/collector/store"
	"github.com/gpumeter/gpumeter/internal/cloudprovider"
	"github.com/gpumeter/gpumeter/internal/teststore"
)

// The cost values at the file's prices (schema/README.md, "Money"), hand-computed over two hours: a 4-GPU Azure
// reservation at 2 USD per GPU-hour (on demand 5 USD on nd), used 3 then 4; 2 OCI GPU-hours uncovered at 7 USD.
func TestFOCUSCostsAtThePrices(t *testing.T) {
	ctx := t.Context()
	st := teststore.Migrated(t)
	f := commitment.File{Currency: "USD",
		Prices: commitment.PriceCards{
			{Provider: "oracle_cloud", PricePerGPUHour: 7, Currency: "USD"},
			{Provider: "azure", InstanceType: "nd", PricePerGPUHour: 5, Currency: "USD"},
		},
		Commitments: []commitment.Commitment{{ID: "cap", Name: "cap", Provider: "azure", Kind: commitment.KindCapacity,
			Quantity: 4, Unit: commitment.UnitGPU, Start: at(0), End: at(2), Alerts: commitment.DefaultThresholds,
			CommittedPrice: 2, PriceCurrency: "USD"}},
	}
	if err := commitment.SyncFile(ctx, st.Conn(), st.Database(), f); err != nil {
		t.Fatal(err)
	}
	for _, b := range [][]store.Row{
		gpuHours("azure", "eastus", "nd", "research", 0, 3, "a0", false),
		gpuHours("azure", "eastus", "nd", "research", 1, 4, "a1", false),
		gpuHours("oracle_cloud", "iad", "bm", "research", 1, 2, "o1", false),
	} {
		if err := st.Insert(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	recs, _ := export(t, st, Options{From: at(0), To: at(2)})
	type costs struct{ billed, effective, list, contracted float64 }
	// Keyed by provider, commitment status and hour.
	azure, oci := cloudprovider.FOCUSName("azure"), cloudprovider.FOCUSName("oracle_cloud")
	want := map[string]costs{
		azure + " Used 0":   {0, 6, 15, 6},    // 3 GPU-h amortised at 2, listed at 5
		azure + " Unused 0": {0, 2, 0, 0},     // 1 GPU-h left, amortised at 2
		azure + " Used 1":   {0, 8, 20, 8},    // 4 GPU-h
		oci + "  1":         {14, 14, 14, 14}, // on demand
	}
	got := map[string]costs{}
	var sumEffective float64
	for _, rec := range recs[1:] {
		r := focusRow{}
		for j, col := range recs[0] {
			r[col] = rec[j]
		}
		h := "0"
		if r["ChargePeriodStart"] == at(1).Format("2006-01-02T15:04:05Z") {
			h = "1"
		}
		k := r["ProviderName"] + " " + r["CommitmentDiscountStatus"] + " " + h
		got[k] = costs{r.num(t, "BilledCost"), r.num(t, "EffectiveCost"), r.num(t, "ListCost"), r.num(t, "ContractedCost")}
		sumEffective += r.num(t, "EffectiveCost")
		if r["BillingCurrency"] != "USD" {
			t.Errorf("%s: BillingCurrency %q", k, r["BillingCurrency"])
		}
	}
	for k, w := range want {
		g, ok := got[k]
		if !ok {
			t.Errorf("no row %q in %v", k, got)
			continue
		}
		if !near(g.billed, w.billed) || !near(g.effective, w.effective) || !near(g.list, w.list) || !near(g.contracted, w.contracted) {
			t.Errorf("%s: billed/effective/list/contracted %+v, want %+v", k, g, w)
		}
	}
	// The reservation's 8 GPU-hours at 2 USD, used and unused, plus the OCI hours bought.
	if !near(sumEffective, 16+14) {
		t.Errorf("EffectiveCost sums to %g, want 30", sumEffective)
	}
}
