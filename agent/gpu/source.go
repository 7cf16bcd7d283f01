// Package gpu reads GPUs through NVML. It depends only on nvml.Interface, so the real library and the simulated
// machines of agent/sim are interchangeable.
package gpu

import (
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
)

// Source enumerates a node's GPUs once and reads them on every sample.
type Source struct {
	lib     nvml.Interface
	devices []device
	log     *slog.Logger

	layout        string    // the MIG layout the devices were listed under (migLayout)
	layoutChecked time.Time // sample time of the last look at it

	perProcess bool

	mu     sync.Mutex
	errors map[string]int64 // failed reads by NVML error name, for the self-telemetry
}

// SetPerProcess turns reading per-process utilization on (--per-process): each sample then carries
// Sample.Processes, for splitting a shared GPU's busy time among its pods.
func (s *Source) SetPerProcess(on bool) { s.perProcess = on }

type device struct {
	handle   nvml.Device
	info     GPU
	lastSeen uint64 // timestamp (µs) of the newest per-process sample read, for DeviceGetProcessUtilization

	// A MIG instance on a GPU with GPM (Hopper and later): its utilization comes from GPM samples of its GPU
	// instance, the previous one kept to take the SM utilization over the span between two reads.
	parent  nvml.Device
	gi      int
	gpm     bool
	gpmPrev nvml.GpmSample
}

// Open initialises NVML and lists the GPUs.
func Open(lib nvml.Interface, log *slog.Logger) (*Source, error) {
	if ret := lib.Init(); ret != nvml.SUCCESS {
		return nil, fmt.Errorf("nvml init: %w", ret)
	}
	s := &Source{lib: lib, log: log.With("component", "gpu"), errors: map[string]int64{}}
	if err := s.enumerate(); err != nil {
		_ = lib.Shutdown()
		return nil, err
	}
	return s, nil
}

func (s *Source) enumerate() error {
	n, ret := s.lib.DeviceGetCount()
	if ret != nvml.SUCCESS {
		return fmt.Errorf("nvml device count: %w", ret)
	}
	s.freeGPM()
	s.devices = s.devices[:0]
	s.layout = s.migLayout()
	for i := range n {
		h, ret := s.lib.DeviceGetHandleByIndex(i)
		if ret != nvml.SUCCESS {
			return fmt.Errorf("nvml device %d handle: %w", i, ret)
		}
		uuid, ret := h.GetUUID()
		if ret != nvml.SUCCESS {
			return fmt.Errorf("nvml device %d uuid: %w", i, ret)
		}
		name, ret := h.GetName()
		if ret != nvml.SUCCESS {
			name = "unknown"
		}
		var total uint64
		if mem, ret := h.GetMemoryInfo(); ret == nvml.SUCCESS {
			total = mem.Total
		}
		whole := GPU{UUID: uuid, Index: i, Model: name, MemoryTotalBytes: total}
		migs := s.migDevices(h, whole)
		if len(migs) == 0 {
			s.devices = append(s.devices, device{handle: h, info: whole})
			continue
		}
		// A partitioned GPU: its instances, and the part of it that no instance holds (if any) as its own device.
		used := 0.0
		for _, m := range migs {
			used += m.info.Slice
		}
		s.devices = append(s.devices, migs...)
		if rest := 1 - used; rest > 1e-9 {
			whole.Slice = rest
			s.devices = append(s.devices, device{handle: h, info: whole})
		}
	}
	return nil
}

// LayoutCheckPeriod is how often (in sample time) Read looks whether a GPU's MIG layout changed.
const LayoutCheckPeriod = time.Minute

// migLayout names the node's MIG layout: for each GPU in MIG mode, the UUIDs of its instances. A few NVML calls per
// GPU, made once per LayoutCheckPeriod.
func (s *Source) migLayout() string {
	n, ret := s.lib.DeviceGetCount()
	if ret != nvml.SUCCESS {
		return s.layout // unknown now: keep what we have
	}
	var b strings.Builder
	for i := range n {
		h, ret := s.lib.DeviceGetHandleByIndex(i)
		if ret != nvml.SUCCESS {
			continue
		}
		if mode, _, ret := h.GetMigMode(); ret != nvml.SUCCESS || mode != nvml.DEVICE_MIG_ENABLE {
			continue
		}
		fmt.Fprintf(&b, "%d:", i)
		count, _ := h.GetMaxMigDeviceCount()
		for j := range count {
			if mh, ret := h.GetMigDeviceHandleByIndex(j); ret == nvml.SUCCESS {
				if uuid, ret := mh.GetUUID(); ret == nvml.SUCCESS {
					b.WriteString(uuid + ",")
				}
			}
		}
		b.WriteString(";")
	}
	return b.String()
}

// migDevices lists the MIG instances of a GPU in MIG mode; none for a GPU that is not partitioned.
func (s *Source) migDevices(h nvml.Device, parent GPU) []device {
	mode, _, ret := h.GetMigMode()
	if ret != nvml.SUCCESS || mode != nvml.DEVICE_MIG_ENABLE {
		return nil
	}
	gpm := false
	if sup, ret := s.lib.GpmQueryDeviceSupport(h); ret == nvml.SUCCESS && sup.IsSupportedDevice != 0 {
		gpm = true
	}
	n, ret := h.GetMaxMigDeviceCount()
	if ret != nvml.SUCCESS {
		s.log.Warn("MIG mode on, but the MIG device count is unknown: metering the GPU whole", "gpu", parent.UUID, "err", ret)
		return nil
	}
	var out []device
	for j := range n {
		mh, ret := h.GetMigDeviceHandleByIndex(j)
		if ret != nvml.SUCCESS {
			continue // an empty slot
		}
		uuid, ret := mh.GetUUID()
		if ret != nvml.SUCCESS {
			continue
		}
		name, _ := mh.GetName()
		profile := MIGProfile(name)
		slices := ComputeSlices(profile)
		if slices == 0 {
			s.log.Warn("MIG instance with an unknown profile: metered as 1 slice", "mig", uuid, "name", name)
			slices = 1
		}
		var total uint64
		if mem, ret := mh.GetMemoryInfo(); ret == nvml.SUCCESS {
			total = mem.Total
		}
		d := device{handle: mh, parent: h, info: GPU{UUID: uuid, Index: parent.Index, Model: parent.Model,
			MIGProfile: profile, ParentUUID: parent.UUID, MIGIndex: j, MemoryTotalBytes: total, Slice: float64(slices) / 7}}
		if gi, ret := mh.GetGpuInstanceId(); ret == nvml.SUCCESS && gpm {
			d.gi, d.gpm = gi, true
		}
		out = append(out, d)
	}
	return out
}

// gpmUtilization takes a GPM sample of a MIG instance and returns its SM utilization since the previous one (nil for
// the first, or when GPM does not answer: unknown, not zero).
func (s *Source) gpmUtilization(d *device) *float64 {
	cur, ret := s.lib.GpmSampleAlloc()
	if ret != nvml.SUCCESS {
		return nil
	}
	if ret := s.lib.GpmMigSampleGet(d.parent, d.gi, cur); ret != nvml.SUCCESS {
		_ = s.check(*d, "gpm", ret)
		_ = cur.Free()
		return nil
	}
	prev := d.gpmPrev
	d.gpmPrev = cur
	if prev == nil {
		return nil
	}
	defer func() { _ = prev.Free() }()
	mg := &nvml.GpmMetricsGetType{NumMetrics: 1, Sample1: prev, Sample2: cur}
	mg.Metrics[0].MetricId = uint32(nvml.GPM_METRIC_SM_UTIL)
	if ret := s.lib.GpmMetricsGet(mg); ret != nvml.SUCCESS || nvml.Return(mg.Metrics[0].NvmlReturn) != nvml.SUCCESS {
		return nil
	}
	return new(min(max(mg.Metrics[0].Value/100, 0), 1))
}

// MIGProfile reads the profile from a MIG device's NVML name ("NVIDIA A100-SXM4-40GB MIG 1g.5gb" → "1g.5gb").
func MIGProfile(name string) string {
	if i := strings.LastIndex(name, "MIG "); i >= 0 {
		return strings.TrimSpace(name[i+len("MIG "):])
	}
	return ""
}

// ComputeSlices is the N of a MIG profile "Ng.<memory>" (of the GPU's 7 compute slices); 0 when unknown.
func ComputeSlices(profile string) int {
	n, _, ok := strings.Cut(profile, "g.")
	v, err := strconv.Atoi(n)
	if !ok || err != nil || v < 1 || v > 7 {
		return 0
	}
	return v
}

// GPUs lists the devices found at Open.
func (s *Source) GPUs() []GPU {
	out := make([]GPU, len(s.devices))
	for i, d := range s.devices {
		out[i] = d.info
	}
	return out
}

// Read samples every GPU at time now. A value the device cannot report is left nil; a device that fails outright
// (lost, or the driver asks for re-initialisation) is skipped and its error returned so the caller can act on it.
func (s *Source) Read(now time.Time) ([]Sample, error) {
	if now.Sub(s.layoutChecked) >= LayoutCheckPeriod || now.Before(s.layoutChecked) {
		s.layoutChecked = now
		if l := s.migLayout(); l != s.layout {
			s.log.Info("MIG layout changed; listing the devices again", "was", s.layout, "now", l)
			if err := s.enumerate(); err != nil {
				return nil, fmt.Errorf("re-list devices after a MIG layout change: %w", err)
			}
		}
	}
	out := make([]Sample, 0, len(s.devices))
	var errs []error
	boards := map[int]board{} // by physical GPU index: its MIG instances and remainder share one reading
	for i := range s.devices {
		d := &s.devices[i]
		smp := Sample{Time: now, GPU: d.info}
		mem, ret := d.handle.GetMemoryInfo()
		if fatal := s.check(*d, "memory", ret); fatal != nil {
			errs = append(errs, fatal)
			continue
		}
		smp.MemoryUsedBytes = mem.Used
		if util, ret := d.handle.GetUtilizationRates(); ret == nvml.SUCCESS {
			smp.Utilization = new(float64(util.Gpu) / 100)
		} else if fatal := s.check(*d, "utilization", ret); fatal != nil {
			errs = append(errs, fatal)
			continue
		}
		if d.gpm {
			smp.Utilization = s.gpmUtilization(d)
		}
		b, ok := boards[d.info.Index]
		if !ok {
			b = s.readBoard(d)
			boards[d.info.Index] = b
			if b.err != nil {
				errs = append(errs, b.err)
			}
		}
		if b.err != nil {
			continue
		}
		smp.PowerWatts, smp.EnergyMJ, smp.TemperatureC, smp.SMClockHz = b.power, b.energy, b.temp, b.clock
		if s.perProcess {
			procs, err := s.processes(d)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			smp.Processes = procs
		}
		out = append(out, smp)
	}
	return out, errors.Join(errs...)
}

// board is one reading of a physical GPU's own meters (nil where NVML does not answer), or the error that means the
// GPU cannot be read at all.
type board struct {
	power       *float64
	energy      *uint64
	temp, clock *float64
	err         error
}

// readBoard reads the meters of d's physical GPU: d itself, or the parent of a MIG instance (NVML answers
// NOT_SUPPORTED for them on a MIG device handle).
func (s *Source) readBoard(d *device) board {
	h := d.handle
	if d.parent != nil {
		h = d.parent
	}
	var b board
	if mw, ret := h.GetPowerUsage(); ret == nvml.SUCCESS {
		b.power = new(float64(mw) / 1000)
	} else if b.err = s.check(*d, "power", ret); b.err != nil {
		return b
	}
	if mj, ret := h.GetTotalEnergyConsumption(); ret == nvml.SUCCESS {
		b.energy = new(mj)
	} else if b.err = s.check(*d, "energy", ret); b.err != nil {
		return b
	}
	if c, ret := h.GetTemperature(nvml.TEMPERATURE_GPU); ret == nvml.SUCCESS {
		b.temp = new(float64(c))
	} else if b.err = s.check(*d, "temperature", ret); b.err != nil {
		return b
	}
	if mhz, ret := h.GetClockInfo(nvml.CLOCK_SM); ret == nvml.SUCCESS {
		b.clock = new(float64(mhz) * 1e6)
	} else if b.err = s.check(*d, "sm clock", ret); b.err != nil {
		return b
	}
	return b
}

// processes reads the per-process SM utilization samples NVML took since the previous read and averages them per
// process: the utilization over the span since the previous sample, not the last NVML sample only.
func (s *Source) processes(d *device) ([]ProcessUtilization, error) {
	samples, ret := d.handle.GetProcessUtilization(d.lastSeen)
	switch {
	case ret == nvml.ERROR_NOT_FOUND:
		return []ProcessUtilization{}, nil // no process ran since lastSeen
	case ret != nvml.SUCCESS:
		return nil, s.check(*d, "process utilization", ret)
	}
	sum := map[uint32]float64{}
	n := map[uint32]int{}
	var order []uint32
	since := d.lastSeen
	for _, p := range samples {
		if p.TimeStamp <= since {
			continue
		}
		if n[p.Pid] == 0 {
			order = append(order, p.Pid)
		}
		sum[p.Pid] += float64(p.SmUtil) / 100
		n[p.Pid]++
		d.lastSeen = max(d.lastSeen, p.TimeStamp)
	}
	out := make([]ProcessUtilization, 0, len(order))
	for _, pid := range order {
		out = append(out, ProcessUtilization{PID: pid, Utilization: sum[pid] / float64(n[pid])})
	}
	return out, nil
}

// NeedsReinit tells whether err from Read means the driver wants NVML initialised afresh (a driver upgrade or
// reload under a running agent) rather than a device being gone.
func NeedsReinit(err error) bool {
	return errors.Is(err, nvml.ERROR_LIB_RM_VERSION_MISMATCH) || errors.Is(err, nvml.ERROR_UNINITIALIZED) ||
		errors.Is(err, nvml.ERROR_DRIVER_NOT_LOADED)
}

// Reinit shuts NVML down and initialises it again, then lists the GPUs anew. The caller keeps the accumulator:
// GPUs keep their UUIDs, and the energy counter restarting from zero is handled as a counter reset.
func (s *Source) Reinit() error {
	_ = s.lib.Shutdown()
	if ret := s.lib.Init(); ret != nvml.SUCCESS {
		return fmt.Errorf("nvml re-init: %w", ret)
	}
	return s.enumerate()
}

// check counts a failed read and returns an error only when the failure means the device cannot be read at all.
func (s *Source) check(d device, field string, ret nvml.Return) error {
	if ret == nvml.SUCCESS {
		return nil
	}
	s.mu.Lock()
	s.errors[nvml.ErrorString(ret)]++
	s.mu.Unlock()
	switch ret {
	case nvml.ERROR_GPU_IS_LOST, nvml.ERROR_LIB_RM_VERSION_MISMATCH, nvml.ERROR_UNINITIALIZED, nvml.ERROR_DRIVER_NOT_LOADED:
		return fmt.Errorf("gpu %d (%s) %s: %w", d.info.Index, d.info.UUID, field, ret)
	}
	return nil // NOT_SUPPORTED and transient errors: the value stays unknown for this sample
}

// ErrorCounts returns how many reads failed, by NVML error name.
func (s *Source) ErrorCounts() map[string]int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.errors)
}

// freeGPM frees the GPM samples the devices hold.
func (s *Source) freeGPM() {
	for i := range s.devices {
		if p := s.devices[i].gpmPrev; p != nil {
			_ = p.Free()
			s.devices[i].gpmPrev = nil
		}
	}
}

// Close shuts NVML down.
func (s *Source) Close() error {
	s.freeGPM()
	if ret := s.lib.Shutdown(); ret != nvml.SUCCESS {
		return fmt.Errorf("nvml shutdown: %w", ret)
	}
	return nil
}
