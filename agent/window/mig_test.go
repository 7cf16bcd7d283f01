package window

import (
	"log/slog"
	"math"
	"testing"
	"time"

	"github.com/gpumeter/gpumeter/agent/attribution"
	"github.com/gpumeter/gpumeter/agent/gpu"
	"github.com/gpumeter/gpumeter/agent/sim"
	"github.com/gpumeter/gpumeter/schema"
)

// Energy per MIG instance is the parent GPU's energy split by the instance's slice share (schema/README.md): over a
// GPU's instances and its unpartitioned remainder the records add up to the parent's energy counter, exactly as
// their provisioned seconds add up to the GPU's time.
func TestMIGEnergySplitsTheParents(t *testing.T) {
	for _, tc := range []struct {
		name   string
		layout string // --sim-mig
		gpu    int
	}{
		{"seven 1g instances fill the GPU", "0:1g.10gb*7", 0},
		{"3g + 2g, 2/7 unpartitioned", "1:3g.40gb+2g.20gb", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			now := t0
			w, err := sim.ParseWorkload("steps:0.9,0.3")
			if err != nil {
				t.Fatal(err)
			}
			mig, err := sim.ParseMIG(tc.layout)
			if err != nil {
				t.Fatal(err)
			}
			lib, err := sim.New("dgxh100", "node-e", w, func() time.Time { return now }, mig...)
			if err != nil {
				t.Fatal(err)
			}
			src, err := gpu.Open(lib, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = src.Close() }()
			parent, _ := lib.DeviceGetHandleByIndex(tc.gpu)
			counter := func() float64 {
				mj, ret := parent.GetTotalEnergyConsumption()
				if ret != 0 {
					t.Fatalf("parent energy: %v", ret)
				}
				return float64(mj) / 1000
			}
			acc := New(time.Minute, 30*time.Second, Meta{Node: "node-e"})
			var recs []schema.Record
			var first float64
			const samples = 19 // 3 minutes at 10 s
			for i := range samples {
				smp, err := src.Read(now)
				if err != nil {
					t.Fatal(err)
				}
				if i == 0 {
					first = counter()
				}
				for _, s := range smp {
					recs = append(recs, acc.Add(s, attribution.Attribution{})...)
				}
				if i < samples-1 {
					now = now.Add(10 * time.Second)
				}
			}
			recs = append(recs, acc.Flush()...)
			want := counter() - first
			var energy, seconds float64
			instances := 0
			for _, r := range recs {
				if r.GPUIndex != tc.gpu {
					continue
				}
				if r.ParentGPUUUID != "" {
					instances++
				}
				if r.EnergyJoules == nil {
					t.Fatalf("%s (%s): energy unknown, want its share of the parent's", r.GPUUUID, r.MIGProfile)
				}
				energy += *r.EnergyJoules
				seconds += r.ProvisionedSeconds
			}
			if instances == 0 || want <= 0 {
				t.Fatalf("%d instance records, parent energy %g J", instances, want)
			}
			if math.Abs(energy-want) > 1e-3*float64(len(recs)) {
				t.Errorf("energy over GPU %d's devices %.3f J, parent's counter says %.3f J", tc.gpu, energy, want)
			}
			if math.Abs(seconds-180) > 1e-6*float64(len(recs)) {
				t.Errorf("provisioned seconds over GPU %d's devices %g, want 180", tc.gpu, seconds)
			}
		})
	}
}
