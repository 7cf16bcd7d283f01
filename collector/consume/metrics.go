package consume

import (
	"context"
	"errors"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"

	"github.com/gpumeter/gpumeter/internal/telemetry"
)

// instruments are the synchronous ones; the running totals in Stats are observed instead of double-kept.
type instruments struct {
	batchRecords  metric.Int64Histogram
	insertSeconds metric.Float64Histogram
}

func noInstruments() instruments {
	m := noop.NewMeterProvider().Meter("")
	b, _ := m.Int64Histogram("noop")
	s, _ := m.Float64Histogram("noop")
	return instruments{batchRecords: b, insertSeconds: s}
}

// RegisterMetrics exports the consumer's figures through m (names in OpenTelemetry style; on /metrics they become
// gpumeter_collector_records_consumed_total and so on).
func (c *Consumer) RegisterMetrics(m metric.Meter) error {
	s := &c.Stats
	errs := []error{
		telemetry.Counter(m, "gpumeter.collector.records.consumed", "{record}", "records fetched from Kafka", s.Consumed.Load),
		telemetry.Counter(m, "gpumeter.collector.records.inserted", "{record}", "records stored in ClickHouse", s.Inserted.Load),
		telemetry.Counter(m, "gpumeter.collector.records.dead_lettered", "{record}", "records sent to the dead-letter topic", s.DeadLettered.Load),
		telemetry.Counter(m, "gpumeter.collector.batches", "{batch}", "batches stored and committed", s.Batches.Load),
		telemetry.Counter(m, "gpumeter.collector.insert.errors", "{error}", "failed attempts to store a batch (retried)", s.InsertErrors.Load),
		telemetry.Counter(m, "gpumeter.collector.commit.errors", "{error}", "failed offset commits (the batch is redelivered and deduplicated)", s.CommitErrors.Load),
		telemetry.Gauge(m, "gpumeter.collector.consumer.lag", "{record}", "records behind the end of the assigned partitions", func() int64 {
			return c.reader.Stats().Lag
		}),
	}
	var err error
	if c.metrics.batchRecords, err = m.Int64Histogram("gpumeter.collector.batch.size", metric.WithUnit("{record}"),
		metric.WithDescription("records per ClickHouse insert"),
		metric.WithExplicitBucketBoundaries(10, 100, 1000, 5000, 10000, 25000, 50000, 100000)); err != nil {
		errs = append(errs, err)
	}
	if c.metrics.insertSeconds, err = m.Float64Histogram("gpumeter.collector.insert.duration", metric.WithUnit("s"),
		metric.WithDescription("time to store a batch in ClickHouse, rollups included")); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func (c *Consumer) observeBatch(ctx context.Context, records int, seconds float64) {
	c.metrics.batchRecords.Record(ctx, int64(records))
	c.metrics.insertSeconds.Record(ctx, seconds)
}
