package agent

import (
	"context"
	"errors"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/gpumeter/gpumeter/agent/spool"
	"github.com/gpumeter/gpumeter/internal/telemetry"
)

type spoolStats = spool.Stats

// RegisterMetrics exports the agent's figures through m (on /metrics: gpumeter_agent_samples_total and so on).
func (a *Agent) RegisterMetrics(m metric.Meter) error {
	s := &a.Stats
	errs := []error{
		telemetry.Counter(m, "gpumeter.agent.samples", "{sample}", "GPU samples taken", s.Samples.Load),
		telemetry.Counter(m, "gpumeter.agent.windows.closed", "{window}", "usage records closed", s.WindowsClosed.Load),
		telemetry.Counter(m, "gpumeter.agent.records.acknowledged", "{record}", "records Kafka acknowledged", s.RecordsSent.Load),
		telemetry.Counter(m, "gpumeter.agent.checkpoint.errors", "{error}", "checkpoints that could not be written", s.CheckpointErrors.Load),
		telemetry.Counter(m, "gpumeter.agent.spool.append.errors", "{error}", "appends the spool refused (records kept in memory, retried)", s.SpoolErrors.Load),
		telemetry.Gauge(m, "gpumeter.agent.unspooled.records", "{record}", "closed records held in memory because the spool refused them", s.Unspooled.Load),
		telemetry.Counter(m, "gpumeter.agent.clock.steps_back", "{step}", "times the clock was seen stepping backwards (records continue after those already sent)",
			func() int64 { n, _ := a.ClockSteps(); return n }),
		telemetry.GaugeFloat(m, "gpumeter.agent.clock.offset", "s", "how far the agent's time runs ahead of the stepped-back clock, summed over the steps",
			func() float64 { _, d := a.ClockSteps(); return d.Seconds() }),
	}
	spooled := func(f func(st spoolStats) int64) func() int64 {
		return func() int64 { return f(a.spool.Stats()) }
	}
	errs = append(errs,
		telemetry.Gauge(m, "gpumeter.agent.spool.size", "By", "bytes in the spool", spooled(func(s spoolStats) int64 { return s.Bytes })),
		telemetry.Gauge(m, "gpumeter.agent.spool.records", "{record}", "records waiting in the spool", spooled(func(s spoolStats) int64 { return int64(s.Entries) })),
		telemetry.GaugeFloat(m, "gpumeter.agent.spool.oldest.age", "s", "age of the oldest spooled record", func() float64 { return a.spool.Stats().OldestAge.Seconds() }),
		telemetry.Gauge(m, "gpumeter.agent.spool.quarantined", "{file}", "corrupt spool files set aside", spooled(func(s spoolStats) int64 { return int64(s.Quarantined) })),
		telemetry.Counter(m, "gpumeter.agent.spool.missing.segments", "{segment}", "spool segment files found missing at start", spooled(func(s spoolStats) int64 { return int64(s.MissingSegments) })),
		telemetry.Gauge(m, "gpumeter.agent.spool.disk.full", "", "1 while the spool's disk has no room beyond --spool-min-free-bytes (oldest records are dropped)", spooled(func(s spoolStats) int64 {
			if s.DiskFull {
				return 1
			}
			return 0
		})),
		telemetry.Gauge(m, "gpumeter.agent.spool.disk.free", "By", "free bytes on the spool's file system", spooled(func(s spoolStats) int64 { return s.DiskFreeBytes })),
		telemetry.Counter(m, "gpumeter.agent.checkpoints", "{checkpoint}", "checkpoints written", s.Checkpoints.Load),
	)
	errs = append(errs,
		countersBy(m, "gpumeter.agent.nvml.errors", "failed NVML reads, by NVML error", "error", a.source.ErrorCounts),
		countersBy(m, "gpumeter.agent.send.errors",
			"failed sends to Kafka (retried), by kind: authentication (credentials refused), unreachable, other", "kind",
			a.SendErrorsByKind))
	// Every record lost, by why: reason="full" (the spool reached --spool-max-bytes or the disk its free-space
	// bound), "corrupt" (unreadable bytes in the spool), "memory" (held in memory while the spool refused records,
	// beyond the bound). GPU-seconds where known: not for corruption found at start.
	_, err := m.Int64ObservableCounter("gpumeter.agent.spool.dropped.records", metric.WithUnit("{record}"),
		metric.WithDescription("records lost before delivery, by reason: full (spool or disk full), corrupt, memory"),
		metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
			st := a.spool.Stats()
			o.Observe(st.DroppedEntries, reason("full"))
			o.Observe(st.CorruptEntries, reason("corrupt"))
			o.Observe(a.Stats.UnspooledDropped.Load(), reason("memory"))
			return nil
		}))
	errs = append(errs, err)
	_, err = m.Float64ObservableCounter("gpumeter.agent.spool.dropped.gpu_time", metric.WithUnit("s"),
		metric.WithDescription("GPU-seconds of the records lost before delivery (where known), by reason: full, corrupt, memory"),
		metric.WithFloat64Callback(func(_ context.Context, o metric.Float64Observer) error {
			st := a.spool.Stats()
			o.Observe(st.DroppedSeconds, reason("full"))
			o.Observe(st.CorruptSeconds, reason("corrupt"))
			o.Observe(a.Stats.UnspooledDroppedSeconds(), reason("memory"))
			return nil
		}))
	errs = append(errs, err)
	errs = append(errs, a.registerGPUGauges(m))
	return errors.Join(errs...)
}

// registerGPUGauges exports every device's latest sample, named after OpenTelemetry's hw.gpu.* semantic conventions
// (docs/metrics.md maps them to dcgm-exporter's DCGM_FI_DEV_* names). Labels: the device (gpu_index, gpu_uuid,
// gpu_model, mig_profile, parent_gpu_uuid) and the workload it serves (namespace, pod, team; one series per pod on
// a shared GPU, each with the whole device's values and its share in hw.gpu.share).
func (a *Agent) registerGPUGauges(m metric.Meter) error {
	util, err1 := m.Float64ObservableGauge("hw.gpu.utilization", metric.WithUnit("1"),
		metric.WithDescription("fraction of the last sample period a kernel ran (NVML utilization; GPM SM utilization on MIG)"))
	memUsed, err2 := m.Int64ObservableGauge("hw.gpu.memory.usage", metric.WithUnit("By"),
		metric.WithDescription("framebuffer memory in use"))
	memLimit, err3 := m.Int64ObservableGauge("hw.gpu.memory.limit", metric.WithUnit("By"),
		metric.WithDescription("framebuffer memory of the device"))
	power, err4 := m.Float64ObservableGauge("hw.power", metric.WithUnit("W"),
		metric.WithDescription("board power draw (hw.type=gpu)"))
	energy, err5 := m.Float64ObservableCounter("hw.energy", metric.WithUnit("J"),
		metric.WithDescription("NVML's total-energy counter since the driver loaded (hw.type=gpu)"))
	share, err6 := m.Float64ObservableGauge("hw.gpu.share", metric.WithUnit("1"),
		metric.WithDescription("the part of the device's time the series' pod gets (1 unless the GPU is shared)"))
	temp, err7 := m.Float64ObservableGauge("hw.temperature", metric.WithUnit("Cel"),
		metric.WithDescription("GPU core temperature (hw.type=gpu; a MIG instance reports its parent GPU's)"))
	speed, err8 := m.Float64ObservableGauge("hw.gpu.speed", metric.WithUnit("Hz"),
		metric.WithDescription("current SM clock (a MIG instance reports its parent GPU's)"))
	if err := errors.Join(err1, err2, err3, err4, err5, err6, err7, err8); err != nil {
		return err
	}
	_, err := m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		latest := a.latest.Load()
		if latest == nil {
			return nil
		}
		for _, r := range *latest {
			g := r.sample.GPU
			for _, sh := range r.shares {
				attrs := metric.WithAttributes(attribute.String("hw.type", "gpu"),
					attribute.Int("gpu_index", g.Index), attribute.String("gpu_uuid", g.UUID),
					attribute.String("gpu_model", g.Model), attribute.String("mig_profile", g.MIGProfile),
					attribute.String("parent_gpu_uuid", g.ParentUUID), attribute.String("namespace", sh.Namespace),
					attribute.String("pod", sh.Pod), attribute.String("team", sh.Team))
				if u := r.sample.Utilization; u != nil {
					o.ObserveFloat64(util, *u, attrs)
				}
				o.ObserveInt64(memUsed, int64(r.sample.MemoryUsedBytes), attrs)
				o.ObserveInt64(memLimit, int64(g.MemoryTotalBytes), attrs)
				// Power and energy are the board's: a MIG instance (or a partitioned GPU's remainder) shows its slice
				// share of them, as its records do, so a physical GPU's series add up to its board.
				if p := r.sample.PowerWatts; p != nil {
					o.ObserveFloat64(power, *p*g.Weight(), attrs)
				}
				if e := r.sample.EnergyMJ; e != nil {
					o.ObserveFloat64(energy, float64(*e)/1000*g.Weight(), attrs)
				}
				// Temperature and clock are the board's too, shown as they are: they do not add up.
				if c := r.sample.TemperatureC; c != nil {
					o.ObserveFloat64(temp, *c, attrs)
				}
				if hz := r.sample.SMClockHz; hz != nil {
					o.ObserveFloat64(speed, *hz, attrs)
				}
				o.ObserveFloat64(share, sh.Weight, attrs)
			}
		}
		return nil
	}, util, memUsed, memLimit, power, energy, share, temp, speed)
	return err
}

// countersBy exports a counter of errors with one series per value of label, as load reports them.
func countersBy(m metric.Meter, name, desc, label string, load func() map[string]int64) error {
	_, err := m.Int64ObservableCounter(name, metric.WithUnit("{error}"), metric.WithDescription(desc),
		metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
			for v, n := range load() {
				o.Observe(n, metric.WithAttributes(attribute.String(label, v)))
			}
			return nil
		}))
	return err
}

func reason(r string) metric.MeasurementOption {
	return metric.WithAttributes(attribute.String("reason", r))
}
