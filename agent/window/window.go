// Package window turns GPU samples into usage records: it integrates each sample over the time since the previous one
// and cuts the result at aligned interval boundaries. It does no I/O and reads no clock; time comes in with samples.
package window

import (
	"time"

	"github.com/gpumeter/gpumeter/agent/attribution"
	"github.com/gpumeter/gpumeter/agent/gpu"
	"github.com/gpumeter/gpumeter/schema"
)

// Meta is what every record of this node carries.
type Meta struct {
	Node, Provider, Region, Zone, InstanceType, Account string
}

// Accumulator keeps the open windows of every GPU on a node. It is not safe for concurrent use: one sampling loop
// owns it.
type Accumulator struct {
	interval time.Duration
	maxGap   time.Duration
	meta     Meta
	gpus     map[string]*gpuState
}

type gpuState struct {
	last gpu.Sample
	open map[windowKey]*open
}

type windowKey struct {
	attribution.Attribution
	intervalStart int64 // unix nanoseconds
}

type open struct {
	GPU           gpu.GPU                 `json:"gpu"`
	Attr          attribution.Attribution `json:"attribution"`
	IntervalStart time.Time               `json:"interval_start"`
	Start         time.Time               `json:"start"`
	End           time.Time               `json:"end"`
	Provisioned   float64                 `json:"provisioned"`
	Allocated     float64                 `json:"allocated"`
	Busy          float64                 `json:"busy"`
	BusyUnknown   bool                    `json:"busy_unknown"`
	MemWeighted   float64                 `json:"mem_weighted"`
	MemMax        uint64                  `json:"mem_max"`
	Energy        float64                 `json:"energy"`
	EnergyUnknown bool                    `json:"energy_unknown"`
	PowerWeighted float64                 `json:"power_weighted"`
	PowerSeconds  float64                 `json:"power_seconds"`
	Samples       uint32                  `json:"samples"`
}

// New returns an Accumulator that reports intervals of the given length, aligned to multiples of it since the Unix
// epoch. A gap between two samples of a GPU longer than maxGap is not integrated: time nobody measured stays a gap.
func New(interval, maxGap time.Duration, meta Meta) *Accumulator {
	return &Accumulator{interval: interval, maxGap: maxGap, meta: meta, gpus: map[string]*gpuState{}}
}

// AlignDown returns the start of the interval of length d that contains t, counting from the Unix epoch.
func AlignDown(t time.Time, d time.Duration) time.Time {
	ns := t.UnixNano()
	rem := ns % int64(d)
	if rem < 0 {
		rem += int64(d)
	}
	return time.Unix(0, ns-rem).UTC()
}

// Add integrates s, taken while the GPU served attr, over the time since the same GPU's previous sample and returns
// the records of every window that s.Time closed. A GPU's first sample only opens its window.
//
// A sample that is not later than the GPU's previous one (a clock that stepped back) is a discontinuity, as is a gap
// longer than maxGap: the open windows close where they are and s starts afresh. Keeping time monotonic across such a
// step, so that new windows never overlap records already closed, is the caller's (agent/clock's Forward).
func (a *Accumulator) Add(s gpu.Sample, attr attribution.Attribution) []schema.Record {
	return a.AddShared(s, []attribution.Share{{Attribution: attr, Weight: 1}})
}

// AddShared is Add for a device held by several workloads at once (time-slicing, MPS): each share gets its Weight of
// the span's provisioned, allocated and busy seconds and energy, in a window of its own. The weights should sum to
// 1, so the device's seconds are counted once; memory figures are the device's.
func (a *Accumulator) AddShared(s gpu.Sample, shares []attribution.Share) []schema.Record {
	st, ok := a.gpus[s.GPU.UUID]
	if !ok {
		a.gpus[s.GPU.UUID] = &gpuState{last: s, open: map[windowKey]*open{}}
		return nil
	}
	prev := st.last
	dt := s.Time.Sub(prev.Time)
	st.last = s
	if dt <= 0 || dt > a.maxGap {
		// Nobody measured (prev, s] (or the clock went back): close what is open and start afresh from s.
		return a.closeGPU(st, nil)
	}
	energy, energyKnown := energyJoules(prev, s, dt)
	for _, sh := range shares {
		a.integrate(st, s, sh, prev.Time, dt, energy, energyKnown)
	}
	return a.closeGPU(st, &s.Time)
}

// Last returns the time of the latest sample of any GPU, and false when there is none: the point up to which the
// accumulator's records reach.
func (a *Accumulator) Last() (time.Time, bool) {
	var last time.Time
	found := false
	for _, st := range a.gpus {
		if !found || st.last.Time.After(last) {
			last, found = st.last.Time, true
		}
	}
	return last, found
}

// energyJoules is the energy spent in (prev, cur]: the counter's delta where the device has one and it did not reset
// (a driver reload starts it from zero), else average power times dt.
func energyJoules(prev, cur gpu.Sample, dt time.Duration) (float64, bool) {
	if prev.EnergyMJ != nil && cur.EnergyMJ != nil && *cur.EnergyMJ >= *prev.EnergyMJ {
		return float64(*cur.EnergyMJ-*prev.EnergyMJ) / 1000, true
	}
	if cur.PowerWatts != nil {
		return *cur.PowerWatts * dt.Seconds(), true
	}
	return 0, false
}

// integrate spreads (from, s.Time] over the intervals it touches. NVML reports utilization averaged over the period
// before the reading, so the reading at s.Time stands for the whole span since the previous sample.
func (a *Accumulator) integrate(st *gpuState, s gpu.Sample, sh attribution.Share, from time.Time, dt time.Duration, energy float64, energyKnown bool) {
	attr, wt := sh.Attribution, sh.Weight*s.GPU.Weight()
	total := dt.Seconds()
	for segStart := from; segStart.Before(s.Time); {
		iStart := AlignDown(segStart, a.interval)
		segEnd := iStart.Add(a.interval)
		if segEnd.After(s.Time) {
			segEnd = s.Time
		}
		seg := segEnd.Sub(segStart).Seconds()
		key := windowKey{Attribution: attr, intervalStart: iStart.UnixNano()}
		w, ok := st.open[key]
		if !ok {
			w = &open{GPU: s.GPU, Attr: attr, IntervalStart: iStart, Start: segStart}
			st.open[key] = w
		}
		w.End = segEnd
		w.Provisioned += seg * wt
		if attr.Pod != "" {
			w.Allocated += seg * wt
		}
		if s.Utilization != nil {
			w.Busy += *s.Utilization * wt * seg
		} else {
			w.BusyUnknown = true
		}
		w.MemWeighted += float64(s.MemoryUsedBytes) * seg * wt
		w.MemMax = max(w.MemMax, s.MemoryUsedBytes)
		if energyKnown {
			w.Energy += energy * seg / total * wt
		} else {
			w.EnergyUnknown = true
		}
		if s.PowerWatts != nil {
			w.PowerWeighted += *s.PowerWatts * seg * wt
			w.PowerSeconds += seg * wt
		}
		if !segEnd.Before(s.Time) {
			w.Samples++
		}
		segStart = segEnd
	}
}

// closeGPU emits the GPU's windows whose interval ended at or before *now, or all of them when now is nil.
func (a *Accumulator) closeGPU(st *gpuState, now *time.Time) []schema.Record {
	var out []schema.Record
	for key, w := range st.open {
		if now != nil && w.IntervalStart.Add(a.interval).After(*now) {
			continue
		}
		delete(st.open, key)
		if w.Provisioned > 0 {
			out = append(out, a.record(w))
		}
	}
	return out
}

// Flush closes every open window, as at shutdown: the partial windows end at each GPU's last sample.
func (a *Accumulator) Flush() []schema.Record {
	var out []schema.Record
	for _, st := range a.gpus {
		out = append(out, a.closeGPU(st, nil)...)
	}
	return out
}

func (a *Accumulator) record(w *open) schema.Record {
	r := schema.Record{
		Version:  schema.Version,
		Node:     a.meta.Node,
		Provider: a.meta.Provider, Region: a.meta.Region, Zone: a.meta.Zone,
		InstanceType: a.meta.InstanceType, Account: a.meta.Account,
		GPUUUID: w.GPU.UUID, GPUIndex: w.GPU.Index, GPUModel: w.GPU.Model, MIGProfile: w.GPU.MIGProfile,
		ParentGPUUUID: w.GPU.ParentUUID,
		Namespace:     w.Attr.Namespace, Pod: w.Attr.Pod, Team: w.Attr.Team,
		IntervalStart: w.IntervalStart, IntervalEnd: w.IntervalStart.Add(a.interval),
		WindowStart: w.Start.UTC(), WindowEnd: w.End.UTC(),
		ProvisionedSeconds: schema.Round(w.Provisioned, schema.SecondsDecimals),
		AllocatedSeconds:   schema.Round(w.Allocated, schema.SecondsDecimals),
		MemoryUsedAvgBytes: schema.Round(w.MemWeighted/w.Provisioned, schema.BytesDecimals),
		MemoryUsedMaxBytes: w.MemMax,
		MemoryTotalBytes:   w.GPU.MemoryTotalBytes,
		Samples:            w.Samples,
	}
	if !w.BusyUnknown {
		r.BusySeconds = schema.Float(schema.Round(w.Busy, schema.SecondsDecimals))
	}
	if !w.EnergyUnknown {
		r.EnergyJoules = schema.Float(schema.Round(w.Energy, schema.JoulesDecimals))
		r.PowerAvgWatts = schema.Float(schema.Round(w.Energy/w.Provisioned, schema.WattsDecimals))
	} else if w.PowerSeconds > 0 {
		r.PowerAvgWatts = schema.Float(schema.Round(w.PowerWeighted/w.PowerSeconds, schema.WattsDecimals))
	}
	return r
}
