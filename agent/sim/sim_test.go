package sim

import (
	"math"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
)

// t0 is a Monday midnight UTC; tests move a manual clock from here.
var t0 = time.Date(2025, 3, 10, 0, 0, 0, 0, time.UTC)

// manualClock is the virtual clock the agent would pass, advanced by hand.
type manualClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock(t time.Time) *manualClock { return &manualClock{t: t} }

func (c *manualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *manualClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func (c *manualClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

func at(hhmm string) time.Time {
	d, err := time.ParseDuration(hhmm)
	if err != nil {
		panic(err)
	}
	return t0.Add(d)
}

func mustParse(t *testing.T, spec string) Workload {
	t.Helper()
	w, err := ParseWorkload(spec)
	if err != nil {
		t.Fatalf("ParseWorkload(%q): %v", spec, err)
	}
	return w
}

func mustNew(t *testing.T, machine, node string, w Workload, now func() time.Time, opts ...Option) nvml.Interface {
	t.Helper()
	lib, err := New(machine, node, w, now, opts...)
	if err != nil {
		t.Fatalf("New(%q, %q): %v", machine, node, err)
	}
	if ret := lib.Init(); ret != nvml.SUCCESS {
		t.Fatalf("Init: %v", ret)
	}
	return lib
}

func devices(t *testing.T, lib nvml.Interface) []nvml.Device {
	t.Helper()
	n, ret := lib.DeviceGetCount()
	if ret != nvml.SUCCESS {
		t.Fatalf("DeviceGetCount: %v", ret)
	}
	devs := make([]nvml.Device, n)
	for i := range devs {
		d, ret := lib.DeviceGetHandleByIndex(i)
		if ret != nvml.SUCCESS {
			t.Fatalf("DeviceGetHandleByIndex(%d): %v", i, ret)
		}
		devs[i] = d
	}
	return devs
}

// res carries an NVML (value, Return) pair so that tests can write
// get(d.GetUUID()).ok(t, "GetUUID").
type res[T any] struct {
	v T
	r nvml.Return
}

func get[T any](v T, r nvml.Return) res[T] { return res[T]{v, r} }

func (x res[T]) ok(t *testing.T, what string) T {
	t.Helper()
	if x.r != nvml.SUCCESS {
		t.Fatalf("%s: %v", what, x.r)
	}
	return x.v
}

func TestParseWorkload(t *testing.T) {
	type point struct {
		gpu  int
		t    time.Time
		want float64
	}
	tests := []struct {
		spec    string
		points  []point
		wantErr string // substring after the common `sim workload "<spec>": ` prefix
	}{
		{spec: "0.7", points: []point{{0, t0, 0.7}, {5, at("13h"), 0.7}}},
		{spec: " constant:0.25 ", points: []point{{0, t0, 0.25}, {7, at("23h59m"), 0.25}}},
		{spec: "1", points: []point{{3, t0, 1}}},
		{spec: "0", points: []point{{3, t0, 0}}},
		{spec: "idle", points: []point{{0, t0, 0}, {6, at("12h"), 0}}},
		{spec: "0.123456", points: []point{{0, t0, 0.1235}}}, // levels are kept to 0.01 %
		{spec: "steps:0.9,0.5,0", points: []point{{0, t0, 0.9}, {1, t0, 0.5}, {2, t0, 0}, {3, t0, 0.9}, {7, at("5h"), 0.5}}},
		{spec: "steps: 0.3 ", points: []point{{0, t0, 0.3}, {6, t0, 0.3}}},
		{spec: "diurnal:low=0.2,high=0.9,peak=15h", points: []point{
			{0, at("15h"), 0.9}, {4, at("15h"), 0.9}, {0, at("3h"), 0.2}, {0, at("9h"), 0.55}, {0, at("21h"), 0.55},
			{0, at("39h"), 0.9}, // next day
		}},
		{spec: "diurnal:peak=9.5", points: []point{{0, at("9h30m"), 1}, {0, at("21h30m"), 0}}},
		{spec: "diurnal:peak=0h", points: []point{{0, t0, 1}, {0, at("12h"), 0}}},
		{spec: "DIURNAL", points: []point{{0, at("14h"), 1}, {0, at("2h"), 0}}},
		{spec: "bursty:base=0,burst=1,duty=1,period=2h", points: []point{{0, t0, 1}, {5, at("17h"), 1}}},
		{spec: "bursty:base=0.2,burst=1,duty=0", points: []point{{0, t0, 0.2}, {5, at("17h"), 0.2}}},

		{spec: "", wantErr: "empty spec"},
		{spec: "1.5", wantErr: "utilization must be in [0,1]"},
		{spec: "-0.1", wantErr: "utilization must be in [0,1]"},
		{spec: "Inf", wantErr: "utilization must be in [0,1]"},
		{spec: "NaN", wantErr: `utilization: "NaN" is not a number`},
		{spec: "constant:", wantErr: "utilization is missing"},
		{spec: "constant:abc", wantErr: `utilization: "abc" is not a number`},
		{spec: "Bogus", wantErr: `unknown kind "Bogus"`},
		{spec: "bogus:1", wantErr: `unknown kind "bogus"`},
		{spec: "idle:0", wantErr: "idle takes no parameters"},
		{spec: "steps:", wantErr: "steps needs at least one utilization"},
		{spec: "steps:0.5,,0.5", wantErr: "step 1 is missing"},
		{spec: "steps:0.5,2", wantErr: "step 1 must be in [0,1]"},
		{spec: "diurnal:low=0.9,high=0.2", wantErr: "low (0.9) must not exceed high (0.2)"},
		{spec: "diurnal:high=1.2", wantErr: "high must be in [0,1]"},
		{spec: "diurnal:peak=24h", wantErr: "peak must be an hour of the day in [0h,24h)"},
		{spec: "diurnal:peak=-1h", wantErr: "peak must be an hour of the day in [0h,24h)"},
		{spec: "diurnal:peak=noon", wantErr: `peak: "noon" is not an hour`},
		{spec: "diurnal:lo=0.1", wantErr: `unknown key "lo"`},
		{spec: "diurnal:low", wantErr: `"low" is not key=value`},
		{spec: "diurnal:low=", wantErr: `"low=" is not key=value`},
		{spec: "diurnal:low=0.1,low=0.2", wantErr: `key "low" given twice`},
		{spec: "bursty:duty=2", wantErr: "duty must be in [0,1]"},
		{spec: "bursty:base=x", wantErr: `base: "x" is not a number`},
		{spec: "bursty:period=0s", wantErr: "period must be at least 1s"},
		{spec: "bursty:period=500ms", wantErr: "period must be at least 1s"},
		{spec: "bursty:period=2x", wantErr: `period: "2x" is not a duration`},
		{spec: "bursty:seed=x", wantErr: `seed: "x" is not an integer`},
	}
	for _, tc := range tests {
		t.Run(tc.spec, func(t *testing.T) {
			w, err := ParseWorkload(tc.spec)
			if tc.wantErr != "" {
				if err == nil {
					t.Fatalf("ParseWorkload(%q) = %v, want error %q", tc.spec, w, tc.wantErr)
				}
				want := `sim workload "` + tc.spec + `": ` + tc.wantErr
				if !strings.HasPrefix(err.Error(), want) {
					t.Fatalf("error = %q, want prefix %q", err, want)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseWorkload(%q): %v", tc.spec, err)
			}
			for _, p := range tc.points {
				if got := w.Utilization(p.gpu, p.t); math.Abs(got-p.want) > 1e-9 {
					t.Errorf("Utilization(gpu %d, %s) = %v, want %v", p.gpu, p.t.Format(time.RFC3339), got, p.want)
				}
			}
			// The canonical form (for logs) parses back to the same workload.
			s := w.(interface{ String() string }).String()
			if again := mustParse(t, s); again.(interface{ String() string }).String() != s {
				t.Errorf("String %q does not round-trip", s)
			}
			if _, ok := w.(Integrator); !ok {
				t.Errorf("%T does not implement Integrator", w)
			}
		})
	}

	// The exact error the flag's users see.
	_, err := ParseWorkload("bursty:duty=2")
	if got, want := err.Error(), `sim workload "bursty:duty=2": duty must be in [0,1]`; got != want {
		t.Errorf("error = %q, want %q", got, want)
	}
}

var uuidRE = regexp.MustCompile(`^GPU-[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func uuids(t *testing.T, machine, node string) []string {
	t.Helper()
	lib := mustNew(t, machine, node, mustParse(t, "idle"), newClock(t0).Now)
	var out []string
	for i, d := range devices(t, lib) {
		u := get(d.GetUUID()).ok(t, "GetUUID")
		if !uuidRE.MatchString(u) {
			t.Errorf("%s GPU %d UUID %q is not GPU-<uuidv5>", machine, i, u)
		}
		// The mock's lookup by UUID must find the stable UUID, not its random one.
		h, ret := lib.DeviceGetHandleByUUID(u)
		if ret != nvml.SUCCESS {
			t.Fatalf("DeviceGetHandleByUUID(%q): %v", u, ret)
		}
		if idx := get(h.GetIndex()).ok(t, "GetIndex"); idx != i {
			t.Errorf("DeviceGetHandleByUUID(%q) gave GPU %d, want %d", u, idx, i)
		}
		out = append(out, u)
	}
	return out
}

func TestUUIDs(t *testing.T) {
	seen := map[string]string{}
	for _, m := range Machines() {
		for _, node := range []string{"node-a", "node-b"} {
			first, again := uuids(t, m, node), uuids(t, m, node)
			if len(first) != 8 {
				t.Fatalf("%s has %d GPUs, want 8", m, len(first))
			}
			for i := range first {
				if first[i] != again[i] {
					t.Errorf("%s %s GPU %d: UUID %s then %s; want stable across restarts", m, node, i, first[i], again[i])
				}
				where := m + "/" + node + "/" + string(rune('0'+i))
				if prev, dup := seen[first[i]]; dup {
					t.Errorf("UUID %s shared by %s and %s", first[i], prev, where)
				}
				seen[first[i]] = where
			}
		}
	}
	lib := mustNew(t, "dgxh100", "node-a", mustParse(t, "idle"), newClock(t0).Now)
	if _, ret := lib.DeviceGetHandleByUUID("GPU-00000000-0000-0000-0000-000000000000"); ret != nvml.ERROR_NOT_FOUND {
		t.Errorf("DeviceGetHandleByUUID(unknown) = %v, want ERROR_NOT_FOUND", ret)
	}
}

func TestNewErrors(t *testing.T) {
	w := mustParse(t, "idle")
	tests := []struct {
		name, machine, node string
		w                   Workload
		opts                []Option
		wantErr             string
	}{
		{"unknown machine", "dgx-z", "n", w, nil, `sim machine "dgx-z": unknown (want one of dgxa100, dgxh100, dgxh200, dgxb200)`},
		{"no node", "dgxh100", "", w, nil, "node name is required"},
		{"no workload", "dgxh100", "n", nil, nil, "workload is nil"},
		{"util GPU out of range", "dgxh100", "n", w, []Option{UtilizationNotSupported(8)}, "option names GPU 8, machine has GPUs 0..7"},
		{"energy GPU out of range", "dgxh100", "n", w, []Option{EnergyNotSupported(-1)}, "option names GPU -1"},
		{"temperature GPU out of range", "dgxh100", "n", w, []Option{TemperatureNotSupported(8)}, "option names GPU 8"},
		{"clock GPU out of range", "dgxh100", "n", w, []Option{ClockNotSupported(9)}, "option names GPU 9"},
		{"lost GPU out of range", "dgxa100", "n", w, []Option{LostAt(9, t0)}, "option names GPU 9"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.machine, tc.node, tc.w, nil, tc.opts...)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("New error = %v, want %q", err, tc.wantErr)
			}
		})
	}
}

func TestMachines(t *testing.T) {
	tests := []struct {
		machine   string
		name      string
		maxMW     uint32
		idleMW    uint32
		totalGiB  uint64
		fullPower uint32
	}{
		{"dgxa100", "NVIDIA A100-SXM4-40GB", 400_000, 50_000, 40, 400_000},
		{"dgxh100", "NVIDIA H100 80GB HBM3", 700_000, 70_000, 80, 700_000},
		{"dgxh200", "NVIDIA H200 141GB HBM3e", 700_000, 70_000, 141, 700_000},
		{"dgxb200", "NVIDIA B200 180GB HBM3e", 1_000_000, 140_000, 180, 1_000_000},
	}
	if got := strings.Join(Machines(), ","); got != "dgxa100,dgxh100,dgxh200,dgxb200" {
		t.Errorf("Machines() = %s", got)
	}
	for _, tc := range tests {
		t.Run(tc.machine, func(t *testing.T) {
			clk := newClock(t0)
			lib := mustNew(t, strings.ToUpper(tc.machine), "n1", mustParse(t, "steps:0,1"), clk.Now)
			devs := devices(t, lib)
			if len(devs) != 8 {
				t.Fatalf("%d GPUs, want 8", len(devs))
			}
			idle, busy := devs[0], devs[1]
			if got := get(idle.GetName()).ok(t, "GetName"); got != tc.name {
				t.Errorf("name %q, want %q", got, tc.name)
			}
			if got := get(idle.GetPowerUsage()).ok(t, "GetPowerUsage"); got != tc.idleMW {
				t.Errorf("idle power %d mW, want %d", got, tc.idleMW)
			}
			if got := get(busy.GetPowerUsage()).ok(t, "GetPowerUsage"); got != tc.fullPower {
				t.Errorf("busy power %d mW, want %d", got, tc.fullPower)
			}
			for _, f := range []func() (uint32, nvml.Return){busy.GetEnforcedPowerLimit, busy.GetPowerManagementLimit} {
				if got := get(f()).ok(t, "power limit"); got != tc.maxMW {
					t.Errorf("power limit %d mW, want %d", got, tc.maxMW)
				}
			}
			mem := get(busy.GetMemoryInfo()).ok(t, "GetMemoryInfo")
			if mem.Total/(1<<30) < tc.totalGiB-1 || mem.Total/(1<<30) > tc.totalGiB+1 || mem.Used+mem.Free != mem.Total {
				t.Errorf("memory %+v, want about %d GiB with Used+Free=Total", mem, tc.totalGiB)
			}
			// Calls the mocks leave unset must not panic.
			if procs := get(busy.GetComputeRunningProcesses()).ok(t, "GetComputeRunningProcesses"); len(procs) != 0 {
				t.Errorf("processes %v, want none", procs)
			}
			if temp := get(busy.GetTemperature(nvml.TEMPERATURE_GPU)).ok(t, "GetTemperature"); temp < 30 || temp > 90 {
				t.Errorf("temperature %d C", temp)
			}
			if mig := get(busy.IsMigDeviceHandle()).ok(t, "IsMigDeviceHandle"); mig {
				t.Error("IsMigDeviceHandle = true")
			}
			pci := get(busy.GetPciInfo()).ok(t, "GetPciInfo")
			var bus []byte
			for _, c := range pci.BusId {
				if c == 0 {
					break
				}
				bus = append(bus, byte(c))
			}
			h, ret := lib.DeviceGetHandleByPciBusId(string(bus))
			if ret != nvml.SUCCESS || get(h.GetIndex()).ok(t, "GetIndex") != 1 {
				t.Errorf("DeviceGetHandleByPciBusId(%q) = %v", bus, ret)
			}
			// Library-style calls reach the same device.
			if u := get(lib.DeviceGetUtilizationRates(busy)).ok(t, "DeviceGetUtilizationRates"); u.Gpu != 100 {
				t.Errorf("DeviceGetUtilizationRates = %+v, want Gpu 100", u)
			}
			if e := get(lib.DeviceGetTotalEnergyConsumption(busy)).ok(t, "DeviceGetTotalEnergyConsumption"); e != 0 {
				t.Errorf("energy at start %d mJ, want 0", e)
			}
		})
	}
}

func TestConstantH100(t *testing.T) {
	clk := newClock(t0)
	lib := mustNew(t, "dgxh100", "node-1", mustParse(t, "constant:0.7"), clk.Now)
	devs := devices(t, lib)
	if len(devs) != 8 {
		t.Fatalf("%d GPUs, want 8", len(devs))
	}
	const wantPower = 70_000 + 0.7*630_000 // mW
	last := make([]uint64, len(devs))
	for i, d := range devs {
		u := get(d.GetUtilizationRates()).ok(t, "GetUtilizationRates")
		if u.Gpu != 70 {
			t.Errorf("GPU %d utilization %d %%, want 70", i, u.Gpu)
		}
		if p := get(d.GetPowerUsage()).ok(t, "GetPowerUsage"); p != wantPower {
			t.Errorf("GPU %d power %d mW, want %d", i, p, uint32(wantPower))
		}
		m := get(d.GetMemoryInfo()).ok(t, "GetMemoryInfo")
		if want := uint64(52838) << 20; m.Used != want || m.Free != m.Total-want { // round(81920 MiB × 0.645)
			t.Errorf("GPU %d memory %+v, want Used %d", i, m, want)
		}
		last[i] = get(d.GetTotalEnergyConsumption()).ok(t, "GetTotalEnergyConsumption")
		if last[i] != 0 {
			t.Errorf("GPU %d energy %d mJ at start, want 0", i, last[i])
		}
	}
	for _, dt := range []time.Duration{time.Second, 2500 * time.Millisecond, 10 * time.Second, time.Minute, time.Millisecond, time.Hour, 24 * time.Hour} {
		clk.Advance(dt)
		for i, d := range devs {
			p := get(d.GetPowerUsage()).ok(t, "GetPowerUsage")
			e := get(d.GetTotalEnergyConsumption()).ok(t, "GetTotalEnergyConsumption")
			want := uint64(p) * uint64(dt/time.Millisecond) / 1000 // mW × s = mJ
			if e-last[i] != want {
				t.Errorf("GPU %d after %s: energy delta %d mJ, want power %d mW × dt = %d", i, dt, e-last[i], p, want)
			}
			last[i] = e
		}
	}
	// A clock stepping back leaves the counter where it is.
	clk.Advance(-time.Hour)
	if e := get(devs[0].GetTotalEnergyConsumption()).ok(t, "GetTotalEnergyConsumption"); e != last[0] {
		t.Errorf("energy after clock step back %d, want %d", e, last[0])
	}
}

// TestConcurrentReads reads every device from its own goroutine while the
// clock moves, as the agent does; run with -race.
func TestConcurrentReads(t *testing.T) {
	clk := newClock(t0)
	lib := mustNew(t, "dgxh200", "node-1", mustParse(t, "bursty:period=1m,duty=0.5"), clk.Now)
	devs := devices(t, lib)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for i := range devs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var prev uint64
			for {
				select {
				case <-stop:
					return
				default:
				}
				d, _ := lib.DeviceGetHandleByIndex(i)
				d.GetUtilizationRates()
				d.GetPowerUsage()
				d.GetMemoryInfo()
				e, ret := d.GetTotalEnergyConsumption()
				if ret != nvml.SUCCESS || e < prev {
					t.Errorf("GPU %d energy %d after %d (%v): not monotone", i, e, prev, ret)
					return
				}
				prev = e
			}
		}()
	}
	for range 2000 {
		clk.Advance(7 * time.Second)
	}
	close(stop)
	wg.Wait()
}

func TestDiurnal(t *testing.T) {
	w := mustParse(t, "diurnal:low=0.2,high=0.9,peak=15h")
	best, worst := t0, t0
	for m := 0; m < 24*60; m++ {
		ts := t0.Add(time.Duration(m) * time.Minute)
		u := w.Utilization(0, ts)
		if u < 0.2-1e-12 || u > 0.9+1e-12 {
			t.Fatalf("utilization %v at %s outside [low, high]", u, ts)
		}
		if u > w.Utilization(0, best) {
			best = ts
		}
		if u < w.Utilization(0, worst) {
			worst = ts
		}
	}
	if best != at("15h") || worst != at("3h") {
		t.Errorf("maximum at %s, minimum at %s; want 15:00 and 03:00", best.Format("15:04"), worst.Format("15:04"))
	}

	// Through the device: integer percent at the peak and trough, and an energy
	// counter that is the exact integral over a day however often it is read.
	clk := newClock(t0)
	d := devices(t, mustNew(t, "dgxa100", "node-1", w, clk.Now))[2]
	for _, p := range []struct {
		at   time.Time
		want uint32
	}{{at("15h"), 90}, {at("3h"), 20}, {at("9h"), 55}} {
		clk.Set(p.at)
		if u := get(d.GetUtilizationRates()).ok(t, "GetUtilizationRates"); u.Gpu != p.want {
			t.Errorf("utilization at %s = %d %%, want %d", p.at.Format("15:04"), u.Gpu, p.want)
		}
	}
	// Mean utilization over a whole day is (low+high)/2.
	if got := w.(Integrator).BusySeconds(0, at("7h"), at("31h")); math.Abs(got-0.55*86400) > 1e-6 {
		t.Errorf("busy seconds over a day %v, want %v", got, 0.55*86400)
	}
	// Two fresh machines: one read at irregular times, one read once.
	clk.Set(t0)
	d = devices(t, mustNew(t, "dgxa100", "node-1", w, clk.Now))[2]
	d1 := devices(t, mustNew(t, "dgxa100", "node-1", w, clk.Now))[2]
	for s := 0; s < 86400; s += 37 { // irregular reads
		clk.Set(t0.Add(time.Duration(s) * time.Second))
		get(d.GetTotalEnergyConsumption()).ok(t, "GetTotalEnergyConsumption")
	}
	clk.Set(at("24h"))
	many := get(d.GetTotalEnergyConsumption()).ok(t, "GetTotalEnergyConsumption")
	single := get(d1.GetTotalEnergyConsumption()).ok(t, "GetTotalEnergyConsumption")
	want := (50_000 + 0.55*350_000) * 86400.0 // mW × s
	if math.Abs(float64(many)-want) > 1 || math.Abs(float64(single)-want) > 1 {
		t.Errorf("day's energy: %d mJ read often, %d read once, want %.0f", many, single, want)
	}
}

func TestBursty(t *testing.T) {
	const spec = "bursty:base=0.1,burst=0.95,duty=0.3,period=2h,seed=7"
	a, b := mustParse(t, spec), mustParse(t, spec)
	other := mustParse(t, "bursty:base=0.1,burst=0.95,duty=0.3,period=2h,seed=8")
	const slots = 5000
	bursts, differs := 0, 0
	perGPU := make([]int, 8)
	for g := 0; g < 8; g++ {
		for k := 0; k < slots; k++ {
			ts := t0.Add(time.Duration(k)*2*time.Hour + 37*time.Minute)
			u := a.Utilization(g, ts)
			if u != b.Utilization(g, ts) {
				t.Fatalf("same spec, different utilization at GPU %d slot %d", g, k)
			}
			if u != a.Utilization(g, ts.Add(-37*time.Minute)) || u != a.Utilization(g, ts.Add(83*time.Minute-time.Nanosecond)) {
				t.Fatalf("utilization changes inside slot %d", k)
			}
			switch u {
			case 0.95:
				bursts++
				perGPU[g]++
			case 0.1:
			default:
				t.Fatalf("utilization %v is neither base nor burst", u)
			}
			if u != other.Utilization(g, ts) {
				differs++
			}
		}
	}
	if frac := float64(bursts) / (8 * slots); math.Abs(frac-0.3) > 0.02 {
		t.Errorf("burst fraction %.3f, want about 0.3", frac)
	}
	for g, n := range perGPU {
		if frac := float64(n) / slots; math.Abs(frac-0.3) > 0.05 {
			t.Errorf("GPU %d burst fraction %.3f, want about 0.3", g, frac)
		}
	}
	if differs == 0 {
		t.Error("seed 7 and seed 8 give the same bursts")
	}
	same := 0
	for k := 0; k < slots; k++ {
		ts := t0.Add(time.Duration(k) * 2 * time.Hour)
		if a.Utilization(0, ts) == a.Utilization(1, ts) {
			same++
		}
	}
	if same == slots {
		t.Error("GPUs 0 and 1 burst in lockstep")
	}

	// Exact integral agrees with brute force over slot edges, including
	// partial first and last slots.
	from, to := t0.Add(30*time.Minute), t0.Add(20*time.Hour+15*time.Minute) // < 100 000 s: brute force steps 1 s
	exact := a.(Integrator).BusySeconds(3, from, to)
	brute := busySeconds(opaque{a}, 3, from, to)
	if math.Abs(exact-brute) > 1e-6 {
		t.Errorf("BusySeconds %v, brute force %v", exact, brute)
	}

	// Read at slot edges, the energy delta is exactly the slot's power × period.
	clk := newClock(t0)
	lib := mustNew(t, "dgxb200", "node-1", mustParse(t, "bursty:base=0.1,burst=0.95,duty=0.3,period=1m,seed=7"), clk.Now)
	d := devices(t, lib)[4]
	prev := get(d.GetTotalEnergyConsumption()).ok(t, "GetTotalEnergyConsumption")
	for k := 0; k < 120; k++ {
		p := get(d.GetPowerUsage()).ok(t, "GetPowerUsage")
		clk.Advance(time.Minute)
		e := get(d.GetTotalEnergyConsumption()).ok(t, "GetTotalEnergyConsumption")
		if e-prev != uint64(p)*60 {
			t.Fatalf("slot %d: energy delta %d mJ, want %d mW × 60 s", k, e-prev, p)
		}
		prev = e
	}
}

// opaque hides a workload's Integrator, forcing the generic integration.
type opaque struct{ w Workload }

func (o opaque) Utilization(gpu int, t time.Time) float64 { return o.w.Utilization(gpu, t) }

// stepWorkload is a custom workload without Integrator: 0.5 for the first
// 100 s after t0, then 1 (out of range values are clamped).
type stepWorkload struct{}

func (stepWorkload) Utilization(_ int, t time.Time) float64 {
	if t.Before(t0.Add(100 * time.Second)) {
		return 0.5
	}
	return 3
}

func TestCustomWorkload(t *testing.T) {
	clk := newClock(t0)
	lib := mustNew(t, "dgxh100", "node-1", stepWorkload{}, clk.Now)
	d := devices(t, lib)[0]
	clk.Advance(300 * time.Second)
	e := get(d.GetTotalEnergyConsumption()).ok(t, "GetTotalEnergyConsumption")
	want := uint64((70_000+0.5*630_000)*100 + 700_000*200)
	if e != want {
		t.Errorf("energy %d mJ, want %d", e, want)
	}
	if u := get(d.GetUtilizationRates()).ok(t, "GetUtilizationRates"); u.Gpu != 100 {
		t.Errorf("utilization %d %%, want clamped to 100", u.Gpu)
	}
}

func TestFaults(t *testing.T) {
	clk := newClock(t0)
	lost := t0.Add(time.Hour)
	lib := mustNew(t, "dgxb200", "node-1", mustParse(t, "0.5"), clk.Now,
		UtilizationNotSupported(2), EnergyNotSupported(3, 4), LostAt(5, lost), TemperatureNotSupported(6), ClockNotSupported(7))
	devs := devices(t, lib)

	type call struct {
		name string
		do   func(d nvml.Device) nvml.Return
	}
	calls := []call{
		{"GetUtilizationRates", func(d nvml.Device) nvml.Return { _, r := d.GetUtilizationRates(); return r }},
		{"GetTotalEnergyConsumption", func(d nvml.Device) nvml.Return { _, r := d.GetTotalEnergyConsumption(); return r }},
		{"GetPowerUsage", func(d nvml.Device) nvml.Return { _, r := d.GetPowerUsage(); return r }},
		{"GetMemoryInfo", func(d nvml.Device) nvml.Return { _, r := d.GetMemoryInfo(); return r }},
		{"GetUUID", func(d nvml.Device) nvml.Return { _, r := d.GetUUID(); return r }},
		{"GetName", func(d nvml.Device) nvml.Return { _, r := d.GetName(); return r }},
		{"GetTemperature", func(d nvml.Device) nvml.Return { _, r := d.GetTemperature(nvml.TEMPERATURE_GPU); return r }},
		{"GetClockInfo", func(d nvml.Device) nvml.Return { _, r := d.GetClockInfo(nvml.CLOCK_SM); return r }},
	}
	want := func(gpu int, call string, now time.Time) nvml.Return {
		switch {
		case gpu == 5 && !now.Before(lost):
			return nvml.ERROR_GPU_IS_LOST
		case gpu == 2 && call == "GetUtilizationRates", (gpu == 3 || gpu == 4) && call == "GetTotalEnergyConsumption",
			gpu == 6 && call == "GetTemperature", gpu == 7 && call == "GetClockInfo":
			return nvml.ERROR_NOT_SUPPORTED
		}
		return nvml.SUCCESS
	}
	for _, now := range []time.Time{t0, lost.Add(-time.Nanosecond), lost, lost.Add(24 * time.Hour)} {
		clk.Set(now)
		for gpu, d := range devs {
			for _, c := range calls {
				if got, w := c.do(d), want(gpu, c.name, now); got != w {
					t.Errorf("at %s GPU %d %s = %v, want %v", now.Sub(t0), gpu, c.name, got, w)
				}
			}
		}
	}
	// The lost GPU's handle is still there: the agent sees the error on use.
	if _, ret := lib.DeviceGetHandleByIndex(5); ret != nvml.SUCCESS {
		t.Errorf("DeviceGetHandleByIndex(5) = %v", ret)
	}
}
