package sim

import (
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
)

// GPU Performance Monitoring (GPM), which go-nvml's mocks leave out: Hopper and later GPUs support it, and on a MIG
// instance it is the only source of utilization. A sample holds the instance's busy integral at its time; the SM
// utilization between two samples is exactly the workload's mean over that span.

type gpmSample struct {
	t    time.Time
	busy float64 // ∫ utilization dt since the machine started, seconds
	set  bool
}

func (s *gpmSample) Free() nvml.Return                   { return nvml.SUCCESS }
func (s *gpmSample) Get(nvml.Device) nvml.Return         { return nvml.ERROR_NOT_SUPPORTED }
func (s *gpmSample) MigGet(nvml.Device, int) nvml.Return { return nvml.ERROR_NOT_SUPPORTED }

// gpmMachines are the machines whose GPUs support GPM.
var gpmMachines = map[string]bool{"dgxh100": true, "dgxh200": true, "dgxb200": true}

func (m *simMachine) gpu(d nvml.Device) *gpu {
	for _, g := range m.gpus {
		if g.dev == d {
			return g
		}
	}
	return nil
}

// GpmQueryDeviceSupport implements nvml.Interface.
func (m *simMachine) GpmQueryDeviceSupport(d nvml.Device) (nvml.GpmSupport, nvml.Return) {
	if m.gpu(d) == nil {
		return nvml.GpmSupport{}, nvml.ERROR_INVALID_ARGUMENT
	}
	if !m.gpm {
		return nvml.GpmSupport{Version: 1}, nvml.SUCCESS
	}
	return nvml.GpmSupport{Version: 1, IsSupportedDevice: 1}, nvml.SUCCESS
}

// GpmSampleAlloc implements nvml.Interface.
func (m *simMachine) GpmSampleAlloc() (nvml.GpmSample, nvml.Return) {
	return &gpmSample{}, nvml.SUCCESS
}

// GpmSampleFree implements nvml.Interface.
func (m *simMachine) GpmSampleFree(nvml.GpmSample) nvml.Return { return nvml.SUCCESS }

// GpmMigSampleGet implements nvml.Interface: a sample of GPU instance gi of the partitioned GPU d.
func (m *simMachine) GpmMigSampleGet(d nvml.Device, gi int, s nvml.GpmSample) nvml.Return {
	g := m.gpu(d)
	sample, ok := s.(*gpmSample)
	if g == nil || !ok || gi < 0 || g.migCount == nil || gi >= g.migCount() {
		return nvml.ERROR_INVALID_ARGUMENT
	}
	if !m.gpm {
		return nvml.ERROR_NOT_SUPPORTED
	}
	t := g.now()
	*sample = gpmSample{t: t, busy: busySeconds(g.w, g.index, g.start, t), set: true}
	return nvml.SUCCESS
}

// GpmMetricsGet implements nvml.Interface for GPM_METRIC_SM_UTIL (percent) between Sample1 and Sample2.
func (m *simMachine) GpmMetricsGet(mg *nvml.GpmMetricsGetType) nvml.Return {
	s1, ok1 := mg.Sample1.(*gpmSample)
	s2, ok2 := mg.Sample2.(*gpmSample)
	if !ok1 || !ok2 || !s1.set || !s2.set || mg.NumMetrics > uint32(len(mg.Metrics)) {
		return nvml.ERROR_INVALID_ARGUMENT
	}
	for i := range mg.NumMetrics {
		met := &mg.Metrics[i]
		dt := s2.t.Sub(s1.t).Seconds()
		if met.MetricId != uint32(nvml.GPM_METRIC_SM_UTIL) || dt <= 0 {
			met.NvmlReturn = uint32(nvml.ERROR_NOT_SUPPORTED)
			continue
		}
		met.NvmlReturn = uint32(nvml.SUCCESS)
		met.Value = 100 * (s2.busy - s1.busy) / dt
	}
	return nvml.SUCCESS
}
