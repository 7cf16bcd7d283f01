package gpu

import (
	"errors"
	"log/slog"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"

	"github.com/gpumeter/gpumeter/agent/sim"
)

func TestReadSimulatedMachine(t *testing.T) {
	now := time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)
	src := openSim(t, "dgxh100", "node-a", "0.7", &now,
		sim.UtilizationNotSupported(1), sim.EnergyNotSupported(2), sim.LostAt(3, now.Add(time.Minute)))
	if n := len(src.GPUs()); n != 8 {
		t.Fatalf("%d GPUs, want 8", n)
	}
	samples, err := src.Read(now)
	if err != nil || len(samples) != 8 {
		t.Fatalf("read: %d samples, %v", len(samples), err)
	}
	if u := samples[0].Utilization; u == nil || *u != 0.7 {
		t.Errorf("GPU 0 utilization %v, want 0.7", u)
	}
	if samples[1].Utilization != nil {
		t.Errorf("GPU 1 utilization %v, want unknown (NOT_SUPPORTED)", *samples[1].Utilization)
	}
	if samples[2].EnergyMJ != nil || samples[2].PowerWatts == nil {
		t.Errorf("GPU 2 energy %v power %v, want unknown energy and a power reading", samples[2].EnergyMJ, samples[2].PowerWatts)
	}

	now = now.Add(2 * time.Minute)
	samples, err = src.Read(now)
	if !errors.Is(err, nvml.ERROR_GPU_IS_LOST) {
		t.Errorf("read after GPU 3 was lost: %v, want GPU_IS_LOST", err)
	}
	if len(samples) != 7 {
		t.Errorf("%d samples after GPU 3 was lost, want the other 7", len(samples))
	}
	for _, s := range samples {
		if s.GPU.Index == 3 {
			t.Error("lost GPU still reported")
		}
	}
}

func TestReinitAfterDriverReload(t *testing.T) {
	now := time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)
	src := openSim(t, "dgxa100", "node-b", "0.5", &now)
	before := src.GPUs()
	if !NeedsReinit(errors.Join(errors.New("gpu 0"), nvml.ERROR_LIB_RM_VERSION_MISMATCH)) || NeedsReinit(nvml.ERROR_GPU_IS_LOST) {
		t.Fatal("NeedsReinit misjudges NVML errors")
	}
	if err := src.Reinit(); err != nil {
		t.Fatal(err)
	}
	after := src.GPUs()
	if len(after) != len(before) || after[0].UUID != before[0].UUID {
		t.Errorf("GPUs changed across re-init: %v -> %v", before, after)
	}
	if samples, err := src.Read(now); err != nil || len(samples) != len(before) {
		t.Errorf("read after re-init: %d samples, %v", len(samples), err)
	}
}

func TestProcessUtilizationSinceLastRead(t *testing.T) {
	now := time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)
	src := openSim(t, "dgxh100", "node-p", "constant:0.8", &now,
		sim.Processes(2, sim.Process{PID: 10, Share: 0.75}, sim.Process{PID: 11, Share: 0.25}))
	src.SetPerProcess(true)
	for range 3 {
		now = now.Add(10 * time.Second)
		samples, err := src.Read(now)
		if err != nil {
			t.Fatal(err)
		}
		got := samples[2].Processes
		if len(got) != 2 || got[0] != (ProcessUtilization{10, 0.6}) || got[1] != (ProcessUtilization{11, 0.2}) {
			t.Fatalf("processes of the shared GPU: %+v, want PID 10 at 0.6 and PID 11 at 0.2", got)
		}
		if p := samples[0].Processes; p == nil || len(p) != 0 {
			t.Errorf("GPU without processes: %v, want an empty list", p)
		}
	}
}

func TestMIGDevices(t *testing.T) {
	now := time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)
	opts, err := sim.ParseMIG("0:1g.5gb*3,1:3g.20gb*2+1g.5gb")
	if err != nil {
		t.Fatal(err)
	}
	src := openSim(t, "dgxa100", "node-m", "0.5", &now, opts...)
	gpus := src.GPUs()
	// GPU 0: 3 instances and 4/7 unpartitioned; GPU 1: 3 instances filling it; GPUs 2..7 whole.
	if len(gpus) != 4+3+6 {
		t.Fatalf("%d devices, want 13: %+v", len(gpus), gpus)
	}
	sum := map[string]float64{}
	for _, g := range gpus {
		parent := g.UUID
		if g.ParentUUID != "" {
			parent = g.ParentUUID
			if !strings.HasPrefix(g.UUID, "MIG-") || g.MIGProfile == "" || g.MemoryTotalBytes == 0 {
				t.Errorf("MIG device %+v", g)
			}
		}
		sum[parent] += g.Weight()
	}
	if len(sum) != 8 {
		t.Errorf("%d physical GPUs, want 8", len(sum))
	}
	for uuid, s := range sum {
		if math.Abs(s-1) > 1e-12 {
			t.Errorf("GPU %s: its devices' slices add up to %g, want 1", uuid, s)
		}
	}
	if gpus[0].MIGProfile != "1g.5gb" || gpus[0].Slice != 1.0/7 || gpus[3].ParentUUID != "" || math.Abs(gpus[3].Slice-4.0/7) > 1e-12 {
		t.Errorf("GPU 0's devices: %+v", gpus[:4])
	}
	samples, err := src.Read(now)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range samples[:7] {
		if s.Utilization != nil {
			t.Errorf("%s: utilization %g on MIG, want unknown", s.GPU.UUID, *s.Utilization)
		}
	}
	if _, err := sim.ParseMIG("0:4g.20gb*2"); err == nil {
		t.Error("8 compute slices accepted")
	}
}

// On Hopper, MIG instances' utilization comes from GPM (the span's SM utilization); on Ampere it stays unknown.
func TestMIGBusyFromGPM(t *testing.T) {
	for machine, wantGPM := range map[string]bool{"dgxh100": true, "dgxa100": false} {
		now := time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)
		src := openSim(t, machine, "node-g", "steps:0.9,0.3", &now, sim.MIG(0, "1g.10gb", "3g.40gb"))
		for i := range 3 {
			samples, err := src.Read(now)
			if err != nil {
				t.Fatal(err)
			}
			u := samples[0].Utilization
			switch {
			case i == 0 || !wantGPM:
				if u != nil {
					t.Errorf("%s read %d: MIG utilization %g, want unknown", machine, i, *u)
				}
			case u == nil:
				t.Errorf("%s read %d: MIG utilization unknown, want GPM's", machine, i)
			}
			now = now.Add(10 * time.Second)
		}
	}
}

// A MIG layout changed under a running agent: the next look (within LayoutCheckPeriod) lists the new instances.
func TestMIGLayoutChange(t *testing.T) {
	now := time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)
	change := now.Add(5 * time.Minute)
	src := openSim(t, "dgxh100", "node-r", "0.5", &now,
		sim.MIG(1, "3g.40gb", "3g.40gb"), sim.Repartition(1, change, "1g.10gb", "1g.10gb", "1g.10gb"),
		sim.Repartition(2, change, "7g.80gb"))
	count := func() (migs int) {
		for _, g := range src.GPUs() {
			if g.ParentUUID != "" {
				migs++
			}
		}
		return migs
	}
	if n := count(); n != 2 {
		t.Fatalf("%d MIG devices at start, want 2", n)
	}
	for now.Before(change.Add(2 * LayoutCheckPeriod)) {
		if _, err := src.Read(now); err != nil {
			t.Fatal(err)
		}
		now = now.Add(10 * time.Second)
	}
	if n := count(); n != 4 {
		t.Errorf("%d MIG devices after the change, want 3 on GPU 1 and 1 on GPU 2", n)
	}
	if n := len(src.GPUs()); n != 6+4+1 {
		t.Errorf("%d devices, want 6 whole GPUs, 4 instances and GPU 1's remainder", n)
	}
}

// The board's readings (power, energy, temperature, SM clock): a whole GPU's own, a MIG instance's and a partitioned
// GPU's remainder's from the parent GPU (one reading for all of them), and nil where NVML says NOT_SUPPORTED.
func TestBoardReadings(t *testing.T) {
	now := time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)
	src := openSim(t, "dgxh100", "node-t", "0.6", &now,
		sim.TemperatureNotSupported(1), sim.ClockNotSupported(2), sim.EnergyNotSupported(2), sim.MIG(3, "3g.40gb", "2g.20gb"))
	now = now.Add(time.Minute)
	samples, err := src.Read(now)
	if err != nil {
		t.Fatal(err)
	}
	find := func(index int, profile string, child bool) Sample {
		for _, s := range samples {
			if s.GPU.Index == index && s.GPU.MIGProfile == profile && (s.GPU.ParentUUID != "") == child {
				return s
			}
		}
		t.Fatalf("no sample of GPU %d %q", index, profile)
		return Sample{}
	}
	const temp, hz, watts = 57.0, 1326e6, 448.0 // 30 + 45 × 0.6 °C, 345 + 0.6 × (1980 − 345) MHz, 70 + 0.6 × 630 W
	for _, tc := range []struct {
		name          string
		s             Sample
		temp, hz      *float64
		power         *float64
		energyUnknown bool
	}{
		{"whole GPU", find(0, "", false), new(temp), new(hz), new(watts), false},
		{"temperature NOT_SUPPORTED", find(1, "", false), nil, new(hz), new(watts), false},
		{"clock and energy NOT_SUPPORTED", find(2, "", false), new(temp), nil, new(watts), true},
		{"MIG 3g instance: the parent's", find(3, "3g.40gb", true), new(temp), new(hz), new(watts), false},
		{"MIG 2g instance: the parent's", find(3, "2g.20gb", true), new(temp), new(hz), new(watts), false},
		{"partitioned GPU's remainder", find(3, "", false), new(temp), new(hz), new(watts), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, f := range []struct {
				what      string
				got, want *float64
			}{{"temperature", tc.s.TemperatureC, tc.temp}, {"SM clock", tc.s.SMClockHz, tc.hz}, {"power", tc.s.PowerWatts, tc.power}} {
				switch {
				case f.want == nil && f.got != nil:
					t.Errorf("%s %g, want unknown (NOT_SUPPORTED)", f.what, *f.got)
				case f.want != nil && (f.got == nil || *f.got != *f.want):
					t.Errorf("%s %v, want %g", f.what, f.got, *f.want)
				}
			}
			if (tc.s.EnergyMJ == nil) != tc.energyUnknown {
				t.Errorf("energy %v, want unknown: %v", tc.s.EnergyMJ, tc.energyUnknown)
			}
		})
	}
	parent := find(3, "", false)
	for _, p := range []string{"3g.40gb", "2g.20gb"} {
		if m := find(3, p, true); *m.EnergyMJ != *parent.EnergyMJ {
			t.Errorf("MIG %s energy counter %d, parent's %d: one reading per physical GPU", p, *m.EnergyMJ, *parent.EnergyMJ)
		}
	}
	if n := src.ErrorCounts()[nvml.ErrorString(nvml.ERROR_NOT_SUPPORTED)]; n != 6 {
		// No board read on a MIG handle: only utilization on GPU 3's three devices is NOT_SUPPORTED there.
		t.Errorf("%d NOT_SUPPORTED reads counted, want 6 (GPU 1's temperature, GPU 2's energy and clock, GPU 3's utilization on its 3 devices)", n)
	}
}

// openSim opens a Source on a simulated machine running util, whose clock reads *now; closed when the test ends.
func openSim(t *testing.T, machine, node, util string, now *time.Time, opts ...sim.Option) *Source {
	t.Helper()
	w, err := sim.ParseWorkload(util)
	if err != nil {
		t.Fatal(err)
	}
	lib, err := sim.New(machine, node, w, func() time.Time { return *now }, opts...)
	if err != nil {
		t.Fatal(err)
	}
	src, err := Open(lib, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = src.Close() })
	return src
}
