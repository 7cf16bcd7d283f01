package sim

import (
	"crypto/sha1"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/server"
)

// Repartition changes GPU gpu's MIG layout at virtual time at to the given profiles (none: MIG mode off), as an
// operator running nvidia-smi mig or the MIG manager would.
func Repartition(gpu int, at time.Time, profiles ...string) Option {
	return func(c *config) { c.repartition[gpu] = append(c.repartition[gpu], layoutAt{at, profiles}) }
}

type layoutAt struct {
	from     time.Time
	profiles []string
}

// MIG partitions GPU gpu into instances of the given profiles ("1g.10gb", "3g.40gb"): NVML then reports MIG mode on,
// and DeviceGetMigDeviceHandleByIndex answers one MIG device per instance, with its own UUID ("MIG-…", stable per
// node, GPU and slot), name ("<model> MIG <profile>") and memory. As on real GPUs, utilization, power, energy,
// temperature, clocks and process utilization are NOT_SUPPORTED on MIG devices (the parent GPU answers the board's)
// and utilization on the partitioned GPU; GPM
// (GpmMigSampleGet) answers on Hopper and later machines, with each instance running the GPU's workload.
func MIG(gpu int, profiles ...string) Option {
	return func(c *config) { c.mig[gpu] = append(c.mig[gpu], profiles...) }
}

// ParseMIG reads --sim-mig: "0:1g.10gb*7,1:3g.40gb*2", GPU index then profiles (each optionally *count) joined by +.
func ParseMIG(spec string) ([]Option, error) {
	if strings.TrimSpace(spec) == "" {
		return nil, nil
	}
	var out []Option
	for part := range strings.SplitSeq(spec, ",") {
		idx, list, ok := strings.Cut(strings.TrimSpace(part), ":")
		g, err := strconv.Atoi(idx)
		if !ok || err != nil || g < 0 || list == "" {
			return nil, fmt.Errorf("MIG layout %q: want GPU:PROFILE*COUNT+PROFILE, e.g. 0:1g.10gb*7", part)
		}
		var profiles []string
		slices := 0
		for p := range strings.SplitSeq(list, "+") {
			name, count, hasCount := strings.Cut(p, "*")
			n := 1
			if hasCount {
				if n, err = strconv.Atoi(count); err != nil || n < 1 {
					return nil, fmt.Errorf("MIG layout %q: count %q", part, count)
				}
			}
			s := slicesOf(name)
			if s == 0 {
				return nil, fmt.Errorf("MIG layout %q: profile %q, want Ng.<memory>, e.g. 1g.10gb", part, name)
			}
			slices += n * s
			for range n {
				profiles = append(profiles, name)
			}
		}
		if slices > 7 {
			return nil, fmt.Errorf("MIG layout %q: %d compute slices, a GPU has 7", part, slices)
		}
		out = append(out, MIG(g, profiles...))
	}
	return out, nil
}

// slicesOf is what the simulator needs of a profile's compute slices (the agent's reading is gpu.ComputeSlices):
// 0 for a name that is not Ng.<memory> with N in 1..7.
func slicesOf(profile string) int {
	var n int
	var mem string
	if c, _ := fmt.Sscanf(profile, "%dg.%s", &n, &mem); c != 2 || n < 1 || n > 7 {
		return 0
	}
	return n
}

// installMIG gives g its MIG layouts: profiles from the start (none: not partitioned), then each of later.
func (g *gpu) installMIG(machine, node string, profiles []string, later []layoutAt) {
	d := g.dev
	type layout struct {
		from time.Time
		migs []nvml.Device
	}
	layouts := []layout{{time.Time{}, g.migDevices(machine, node, profiles, 0)}}
	slotBase := len(profiles)
	for _, l := range later {
		layouts = append(layouts, layout{l.from, g.migDevices(machine, node, l.profiles, slotBase)})
		slotBase += len(l.profiles)
	}
	current := func() []nvml.Device {
		t := g.now()
		cur := layouts[0].migs
		for _, l := range layouts[1:] {
			if !t.Before(l.from) {
				cur = l.migs
			}
		}
		return cur
	}
	g.migCount = func() int { return len(current()) }
	baseUtil := g.noUtil
	g.utilSupported = func() bool { return !baseUtil && len(current()) == 0 } // no utilization on a GPU in MIG mode
	d.GetMigModeFunc = func() (int, int, nvml.Return) {
		if len(current()) == 0 {
			return nvml.DEVICE_MIG_DISABLE, nvml.DEVICE_MIG_DISABLE, nvml.SUCCESS
		}
		return nvml.DEVICE_MIG_ENABLE, nvml.DEVICE_MIG_ENABLE, nvml.SUCCESS
	}
	d.GetMaxMigDeviceCountFunc = func() (int, nvml.Return) { return 7, nvml.SUCCESS }
	d.GetMigDeviceHandleByIndexFunc = func(i int) (nvml.Device, nvml.Return) {
		migs := current()
		if i < 0 || i >= len(migs) {
			return nil, nvml.ERROR_NOT_FOUND
		}
		return migs[i], nvml.SUCCESS
	}
}

// migDevices builds the MIG devices of one layout; slots number their UUIDs (distinct across layouts).
func (g *gpu) migDevices(machine, node string, profiles []string, firstSlot int) []nvml.Device {
	d := g.dev
	var migs []nvml.Device
	for i, p := range profiles {
		slot := firstSlot + i
		gi := i
		m := &server.Device{}
		uuid := migUUID(machine, node, g.index, slot)
		name := g.name + " MIG " + p
		slices := slicesOf(p)
		mem := g.totalMem * uint64(slices) / 8 // a profile without a memory size: slices eighths of the framebuffer
		var n, gb int
		if c, _ := fmt.Sscanf(p, "%dg.%dgb", &n, &gb); c == 2 && gb > 0 {
			mem = min(uint64(gb)<<30, g.totalMem)
		}
		m.GetUUIDFunc = func() (string, nvml.Return) { return uuid, nvml.SUCCESS }
		m.GetNameFunc = func() (string, nvml.Return) { return name, nvml.SUCCESS }
		m.GetMemoryInfoFunc = func() (nvml.Memory, nvml.Return) {
			used := min(g.memUsed(g.util(g.now()))*uint64(slices)/7, mem)
			return nvml.Memory{Total: mem, Used: used, Free: mem - used}, nvml.SUCCESS
		}
		notSupported := func() nvml.Return { return nvml.ERROR_NOT_SUPPORTED }
		m.GetUtilizationRatesFunc = func() (nvml.Utilization, nvml.Return) { return nvml.Utilization{}, notSupported() }
		m.GetPowerUsageFunc = func() (uint32, nvml.Return) { return 0, notSupported() }
		m.GetTotalEnergyConsumptionFunc = func() (uint64, nvml.Return) { return 0, notSupported() }
		m.GetTemperatureFunc = func(nvml.TemperatureSensors) (uint32, nvml.Return) { return 0, notSupported() }
		m.GetClockInfoFunc = func(nvml.ClockType) (uint32, nvml.Return) { return 0, notSupported() }
		m.GetProcessUtilizationFunc = func(uint64) ([]nvml.ProcessUtilizationSample, nvml.Return) { return nil, notSupported() }
		m.IsMigDeviceHandleFunc = func() (bool, nvml.Return) { return true, nvml.SUCCESS }
		m.GetGpuInstanceIdFunc = func() (int, nvml.Return) { return gi, nvml.SUCCESS }
		m.GetDeviceHandleFromMigDeviceHandleFunc = func() (nvml.Device, nvml.Return) { return d, nvml.SUCCESS }
		migs = append(migs, m)
	}
	return migs
}

// migUUID is gpuUUID's scheme for MIG instance slot of a GPU, in NVML's "MIG-…" form.
func migUUID(machine, node string, index, slot int) string {
	h := sha1.New()
	h.Write(uuidNamespace[:])
	fmt.Fprintf(h, "%s/%s/%d/mig/%d", machine, node, index, slot)
	u := h.Sum(nil)[:16]
	u[6] = u[6]&0x0f | 0x50
	u[8] = u[8]&0x3f | 0x80
	return fmt.Sprintf("MIG-%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}
