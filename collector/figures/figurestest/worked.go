//go:build integration

// Package figurestest holds the worked example of schema/README.md ("Commitment figures"), loaded into a real
// ClickHouse, for the integration tests of the packages that compute and render figures.
package figurestest

import (
	"fmt"
	"testing"
	"time"

	"github.com/gpumeter/gpumeter/collector/commitment"
	"github.com/gpumeter/gpumeter/collector/store"
	"github.com/gpumeter/gpumeter/internal/teststore"
	"github.com/gpumeter/gpumeter/schema"
)

// TermStart is when the worked example's ten-hour terms begin.
var TermStart = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

// GPUHours makes n one-hour records (n GPU-hours, half of it busy) for hour h of the scenario.
func GPUHours(provider, region, itype string, h, n int, tag string) []store.Row {
	var out []store.Row
	start := TermStart.Add(time.Duration(h) * time.Hour)
	for i := range n {
		out = append(out, store.Row{Record: schema.Record{Version: 1, Node: provider + "-" + region, Provider: provider,
			Region: region, InstanceType: itype, GPUModel: "H100", GPUUUID: fmt.Sprintf("GPU-%s-%d", tag, i),
			IntervalStart: start, IntervalEnd: start.Add(time.Hour), WindowStart: start, WindowEnd: start.Add(time.Hour),
			ProvisionedSeconds: 3600, BusySeconds: schema.Float(1800)}})
	}
	return out
}

// WorkedExample loads the scenario of schema/README.md "Commitment figures, worked example" (ten-hour terms,
// late and duplicated batches included) plus extra commitments into a fresh database.
func WorkedExample(t *testing.T, extra ...commitment.Commitment) *store.Store {
	t.Helper()
	ctx := t.Context()
	st := teststore.Migrated(t)
	end := TermStart.Add(10 * time.Hour)
	cs := append([]commitment.Commitment{
		{ID: "cap", Name: "cap", Provider: "azure", Scope: commitment.Scope{Region: "eastus"}, Kind: commitment.KindCapacity,
			Quantity: 4, Unit: "gpu", Start: TermStart, End: end, Alerts: commitment.DefaultThresholds},
		{ID: "use", Name: "use", Provider: "oracle_cloud", Kind: commitment.KindUsage, Quantity: 100, Unit: "gpu_hour",
			Start: TermStart, End: end, Alerts: commitment.DefaultThresholds},
		{ID: "spend", Name: "spend", Provider: "aws", Kind: commitment.KindSpend, Quantity: 1000, Unit: "USD", Currency: "USD",
			Start: TermStart, End: end, RateCard: []commitment.Rate{{InstanceType: "p5.48xlarge", PricePerGPUHour: 10}},
			Alerts: commitment.DefaultThresholds},
	}, extra...)
	if err := commitment.Sync(ctx, st.Conn(), st.Database(), cs); err != nil {
		t.Fatal(err)
	}
	var batches [][]store.Row
	add := func(rows []store.Row) { batches = append(batches, rows) }
	add(GPUHours("azure", "eastus", "nd", 0, 4, "a0"))
	add(GPUHours("azure", "eastus", "nd", 1, 6, "a1"))
	add(GPUHours("azure", "eastus", "nd", 2, 2, "a2"))
	add(GPUHours("azure", "westus", "nd", 2, 5, "w2")) // azure, but outside the capacity commitment's region
	add(GPUHours("azure", "eastus", "nd", 4, 1, "a4"))
	add(GPUHours("oracle_cloud", "iad", "bm", 1, 2, "o1"))
	add(GPUHours("oracle_cloud", "iad", "bm", 2, 3, "o2"))
	add(GPUHours("oracle_cloud", "iad", "bm", 3, 1, "o3"))
	add(GPUHours("aws", "us-east-1", "p5.48xlarge", 3, 2, "p3"))
	add(GPUHours("azure", "eastus", "nd", 6, 8, "after")) // after --at: must not count
	// Late data: two more GPUs of hour 4 arrive after hour 6, and a batch is delivered twice.
	late := GPUHours("azure", "eastus", "nd", 4, 3, "a4")[1:]
	late[0].GPUUUID, late[1].GPUUUID = "GPU-late-1", "GPU-late-2"
	add(late)
	add(late)
	add(GPUHours("oracle_cloud", "iad", "bm", 2, 3, "o2"))
	for _, b := range batches {
		if err := st.Insert(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	return st
}
