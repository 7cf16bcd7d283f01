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
		telemetry.Counter(m, "gpumeter.agent.send.errors", "{error}", "failed sends to Kafka (retried)", s.SendErrors.Load),
	}
	spooled := func(f func(st spoolStats) int64) func() int64 {
		return func() int64 { return f(a.spool.Stats()) }
	}
	errs = append(errs,
		telemetry.Gauge(m, "gpumeter.agent.spool.size", "By", "bytes in the spool", spooled(func(s spoolStats) int64 { return s.Bytes })),
		telemetry.Gauge(m, "gpumeter.agent.spool.records", "{record}", "records waiting in the spool", spooled(func(s spoolStats) int64 { return int64(s.Entries) })),
		telemetry.GaugeFloat(m, "gpumeter.agent.spool.oldest.age", "s", "age of the oldest spooled record", func() float64 { return a.spool.Stats().OldestAge.Seconds() }),
		telemetry.Counter(m, "gpumeter.agent.spool.dropped.records", "{record}", "records dropped because the spool was full", spooled(func(s spoolStats) int64 { return int64(s.DroppedEntries) })),
		telemetry.GaugeFloat(m, "gpumeter.agent.spool.dropped.gpu_time", "s", "GPU-seconds dropped because the spool was full", func() float64 { return a.spool.Stats().DroppedSeconds }),
		telemetry.Gauge(m, "gpumeter.agent.spool.quarantined", "{file}", "corrupt spool files set aside", spooled(func(s spoolStats) int64 { return int64(s.Quarantined) })),
		telemetry.Counter(m, "gpumeter.agent.checkpoints", "{checkpoint}", "checkpoints written", s.Checkpoints.Load),
	)
	_, err := m.Int64ObservableCounter("gpumeter.agent.nvml.errors", metric.WithUnit("{error}"),
		metric.WithDescription("failed NVML reads, by NVML error"),
		metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
			for kind, n := range a.source.ErrorCounts() {
				o.Observe(n, metric.WithAttributes(attribute.String("error", kind)))
			}
			return nil
		}))
	errs = append(errs, err)
	return errors.Join(errs...)
}
