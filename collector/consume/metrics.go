package consume

import (
	"context"
	"errors"

	"go.opentelemetry.io/otel/attribute"
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
		telemetry.Counter(m, "gpumeter.collector.records.rejected", "{record}", "records ClickHouse refused for good, dead-lettered (part of dead_lettered)", s.Rejected.Load),
		telemetry.Counter(m, "gpumeter.collector.batches", "{batch}", "batches stored and committed", s.Batches.Load),
		telemetry.Counter(m, "gpumeter.collector.insert.errors", "{error}", "failed attempts to store a batch (retried)", s.InsertErrors.Load),
		telemetry.Counter(m, "gpumeter.collector.commit.errors", "{error}", "failed offset commits (the batch is redelivered and deduplicated)", s.CommitErrors.Load),
		telemetry.Counter(m, "gpumeter.collector.fetch.errors", "{error}", "failed fetches from Kafka (waited out)", s.FetchErrors.Load),
		telemetry.Counter(m, "gpumeter.collector.topic.resets", "{partition}", "partitions read again from their start because the topic was recreated or truncated", s.TopicResets.Load),
		telemetry.Counter(m, "gpumeter.collector.schema.repairs", "{run}", "migrations re-run because a table or the database was missing", s.Repairs.Load),
		telemetry.Gauge(m, "gpumeter.collector.consumer.lag", "{record}", "records of the topic the group has not committed yet (the group's figure: the same on every member; -1 until known)", c.watch.lag.Load),
		telemetry.Gauge(m, "gpumeter.collector.consumer.stalled_partitions", "{partition}", "partitions with lag and nothing committed for --stall-after", c.watch.stalled.Load),
	}
	_, err := m.Int64ObservableGauge("gpumeter.collector.consumer.blocked", metric.WithUnit("{condition}"),
		metric.WithDescription("1 while the consumer cannot work for the reason given (kafka, kafka_offsets, clickhouse, dead_letters, stalled), else 0; /readyz says more"),
		metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
			for _, cond := range conditions {
				v := int64(0)
				if c.health.has(cond) {
					v = 1
				}
				o.Observe(v, metric.WithAttributes(attribute.String("reason", cond)))
			}
			return nil
		}))
	errs = append(errs, err)
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
