package window

import (
	"math"
	"testing"
	"time"

	"github.com/gpumeter/gpumeter/agent/attribution"
	"github.com/gpumeter/gpumeter/agent/gpu"
	"github.com/gpumeter/gpumeter/schema"
)

// A GPU time-sliced by two pods: every figure split by weight, summing to the device's (counted once).
func TestSharedGPUCountedOnce(t *testing.T) {
	acc := New(time.Minute, 3*time.Second, Meta{Node: "n"})
	b, c := attribution.Attribution{Namespace: "inference", Pod: "b", Team: "inference"},
		attribution.Attribution{Namespace: "research", Pod: "c", Team: "research"}
	var recs []schema.Record
	for i := 0; i <= 60; i++ {
		s := gpu.Sample{Time: t0.Add(time.Duration(i) * time.Second), GPU: GPU{UUID: "GPU-s"}, Utilization: f(0.8),
			MemoryUsedBytes: 1 << 30, EnergyMJ: u(uint64(i) * 100_000)}
		recs = append(recs, acc.AddShared(s, []attribution.Share{
			{Attribution: b, Weight: 0.75},
			{Attribution: c, Weight: 0.25},
		})...)
	}
	if len(recs) != 2 {
		t.Fatalf("%d records, want one per pod", len(recs))
	}
	var busyAll, energy float64
	prov, busy := map[string]float64{}, map[string]float64{}
	for _, r := range recs {
		prov[r.Pod] = r.ProvisionedSeconds
		if r.AllocatedSeconds != r.ProvisionedSeconds {
			t.Errorf("pod %s allocated %g of %g provisioned", r.Pod, r.AllocatedSeconds, r.ProvisionedSeconds)
		}
		energy += *r.EnergyJoules
		busy[r.Pod] = *r.BusySeconds
		busyAll += *r.BusySeconds
		if r.MemoryUsedAvgBytes != 1<<30 {
			t.Errorf("pod %s memory avg %g, want the device's", r.Pod, r.MemoryUsedAvgBytes)
		}
	}
	for name, got := range map[string][2]float64{"provisioned b": {prov["b"], 45}, "provisioned c": {prov["c"], 15},
		"energy": {energy, 6000}, "busy": {busyAll, 48}, "busy b": {busy["b"], 36}, "busy c": {busy["c"], 12}} {
		if math.Abs(got[0]-got[1]) > 1e-9 {
			t.Errorf("%s %g, want %g", name, got[0], got[1])
		}
	}
}
