package agent

import (
	"context"
	"errors"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/gpumeter/gpumeter/internal/telemetry"
)

// RegisterMetrics exports the agent's figures through m (on /metrics: gpumeter_agent_samples_total and so on).
func (a *Agent) RegisterMetrics(m metric.Meter) error {
	s := &a.Stats
	errs := []error{
		telemetry.Counter(m, "gpumeter.agent.samples", "{sample}", "GPU samples taken", s.Samples.Load),
		telemetry.Counter(m, "gpumeter.agent.windows.closed", "{window}", "usage records closed", s.WindowsClosed.Load),
		telemetry.Counter(m, "gpumeter.agent.records.acknowledged", "{record}", "records Kafka acknowledged", s.RecordsSent.Load),
		telemetry.Counter(m, "gpumeter.agent.send.errors", "{error}", "failed sends to Kafka (retried)", s.SendErrors.Load),
	}
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
