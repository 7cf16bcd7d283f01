// Package consume moves records from Kafka to ClickHouse: fetch → decode → insert → commit, at least once.
//
// Offsets are committed only after ClickHouse acknowledged the batch and the dead-letter topic acknowledged the bad
// messages, so a crash anywhere redelivers rather than loses. Redelivered records collapse by identity in usage_raw
// (see schema/README.md), so redelivery never changes a total.
package consume

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/gpumeter/gpumeter/collector/store"
	"github.com/gpumeter/gpumeter/internal/kafkaconf"
	"github.com/gpumeter/gpumeter/schema"
)

// Config configures a Consumer. Zero durations and sizes take DefaultConfig's.
type Config struct {
	Conn     kafkaconf.Conn // brokers, TLS, SASL
	Topic    string
	Group    string
	DLQTopic string

	BatchSize    int           // records per ClickHouse insert; default 50000
	BatchWait    time.Duration // longest a record waits for its batch to fill; default 2s
	FlushTimeout time.Duration // how long shutdown may spend flushing the last batch; default 30s
}

func (c *Config) setDefaults() {
	d := DefaultConfig()
	if c.BatchSize <= 0 {
		c.BatchSize = d.BatchSize
	}
	if c.BatchWait <= 0 {
		c.BatchWait = d.BatchWait
	}
	if c.FlushTimeout <= 0 {
		c.FlushTimeout = d.FlushTimeout
	}
}

// Inserter stores a batch; *store.Store is the real one.
type Inserter interface {
	Insert(ctx context.Context, rows []store.Row) error
}

// Stats are running totals, safe to read while the consumer runs.
type Stats struct {
	Consumed     atomic.Int64
	Inserted     atomic.Int64
	DeadLettered atomic.Int64
	Batches      atomic.Int64
	InsertErrors atomic.Int64
	CommitErrors atomic.Int64
}

// Consumer is one member of the collector's consumer group.
type Consumer struct {
	cfg    Config
	reader *kafka.Reader
	dlq    *kafka.Writer
	store  Inserter
	log    *slog.Logger
	Stats  Stats

	metrics instruments
	tracer  trace.Tracer

	// afterInsert, when set, runs between the insert and the commit; an error ends Run without committing. Tests
	// use it to crash the consumer at the worst moment.
	afterInsert func() error
}

// New builds a consumer; nothing connects until Run.
func New(cfg Config, ins Inserter, log *slog.Logger) *Consumer {
	cfg.setDefaults()
	reader := kafka.NewReader(kafka.ReaderConfig{
		Brokers: cfg.Conn.Brokers,
		GroupID: cfg.Group,
		Topic:   cfg.Topic,
		Dialer:  cfg.Conn.Dialer(),
		// Commit only by hand, synchronously, after the insert: CommitInterval > 0 would turn commit errors into log
		// lines (docs/design.md, kafka-go traps).
		CommitInterval: 0,
		StartOffset:    kafka.FirstOffset,
		// Partitions added to the topic later get consumers too.
		WatchPartitionChanges: true,
		MinBytes:              1,
		MaxBytes:              16 << 20,
		MaxWait:               250 * time.Millisecond,
		QueueCapacity:         cfg.BatchSize,
		// A dead collector's partitions move to the others within seconds.
		SessionTimeout:    10 * time.Second,
		HeartbeatInterval: time.Second,
		RebalanceTimeout:  10 * time.Second,
		ErrorLogger:       kafka.LoggerFunc(func(msg string, args ...any) { log.Warn("kafka reader", "err", fmt.Sprintf(msg, args...)) }),
	})
	dlq := &kafka.Writer{
		Addr:         kafka.TCP(cfg.Conn.Brokers...),
		Topic:        cfg.DLQTopic,
		Balancer:     &kafka.Hash{},
		RequiredAcks: kafka.RequireAll,
		BatchTimeout: 10 * time.Millisecond,
		BatchBytes:   2 * maxDeadLetterBytes,
		MaxAttempts:  5,
		Transport:    cfg.Conn.Transport(),
		// The dead-letter topic is ours to create: a fresh cluster should not lose its first poison message.
		AllowAutoTopicCreation: true,
	}
	return &Consumer{cfg: cfg, reader: reader, dlq: dlq, store: ins, log: log, metrics: noInstruments(),
		tracer: noop.NewTracerProvider().Tracer("")}
}

// Run consumes until ctx is cancelled, then flushes the batch in hand (bounded by FlushTimeout), commits it and
// returns nil. It returns an error only when the Kafka reader fails for good; ClickHouse being away is waited out.
func (c *Consumer) Run(ctx context.Context) error {
	defer func() {
		if err := c.reader.Close(); err != nil {
			c.log.Warn("close kafka reader", "err", err)
		}
		if err := c.dlq.Close(); err != nil {
			c.log.Warn("close dead-letter writer", "err", err)
		}
	}()
	for {
		batch, err := c.fill(ctx)
		if len(batch) > 0 {
			pctx, done := c.flushContext(ctx)
			perr := c.process(pctx, batch)
			done()
			if perr != nil {
				return perr
			}
		}
		if ctx.Err() != nil {
			c.log.Info("consumer stopped", "consumed", c.Stats.Consumed.Load(), "inserted", c.Stats.Inserted.Load(),
				"dead_lettered", c.Stats.DeadLettered.Load())
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// flushContext outlives ctx by FlushTimeout: a shutdown must not abort the insert of the batch in hand, but must
// not wait forever for a ClickHouse that is away either.
func (c *Consumer) flushContext(ctx context.Context) (context.Context, func()) {
	fctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(ctx, func() { time.AfterFunc(c.cfg.FlushTimeout, cancel) })
	return fctx, func() { stop(); cancel() }
}

// fill fetches until the batch is full or BatchWait has passed since its first message.
func (c *Consumer) fill(ctx context.Context) ([]kafka.Message, error) {
	first, err := c.reader.FetchMessage(ctx)
	if err != nil {
		return nil, fetchErr(ctx, err)
	}
	batch := make([]kafka.Message, 1, min(c.cfg.BatchSize, 4096))
	batch[0] = first
	bctx, cancel := context.WithTimeout(ctx, c.cfg.BatchWait)
	defer cancel()
	for len(batch) < c.cfg.BatchSize {
		m, err := c.reader.FetchMessage(bctx)
		if err != nil {
			if bctx.Err() != nil && ctx.Err() == nil {
				return batch, nil // the wait is over, not the consumer
			}
			return batch, fetchErr(ctx, err)
		}
		batch = append(batch, m)
	}
	return batch, nil
}

func fetchErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return nil
	}
	return fmt.Errorf("fetch from kafka: %w", err)
}

// SetTracer makes each batch a span (decode, insert, dead letters, commit) in t.
func (c *Consumer) SetTracer(t trace.Tracer) { c.tracer = t }

func (c *Consumer) process(ctx context.Context, batch []kafka.Message) (err error) {
	ctx, span := c.tracer.Start(ctx, "gpumeter.collector.batch", trace.WithAttributes(
		attribute.Int("gpumeter.batch.messages", len(batch)), attribute.String("messaging.destination.name", c.cfg.Topic)))
	defer func() {
		if err != nil {
			span.RecordError(err)
			span.SetStatus(codes.Error, err.Error())
		}
		span.End()
	}()
	c.Stats.Consumed.Add(int64(len(batch)))
	rows := make([]store.Row, 0, len(batch))
	var dead []kafka.Message
	now := time.Now() // records more than schema.MaxFuture ahead of it are dead-lettered
	for _, m := range batch {
		rec, err := schema.DecodeAt(m.Value, now)
		if err != nil {
			c.log.Warn("dead-lettering record", "topic", m.Topic, "partition", m.Partition, "offset", m.Offset,
				"key", string(m.Key), "err", err)
			dead = append(dead, deadLetter(m, err))
			continue
		}
		rows = append(rows, store.Row{Record: rec, Topic: m.Topic, Partition: m.Partition, Offset: m.Offset})
	}
	start := time.Now()
	if err := c.retry(ctx, "insert into clickhouse", store.IsRetryable, func(ctx context.Context) error { return c.store.Insert(ctx, rows) }); err != nil {
		return err
	}
	c.observeBatch(ctx, len(rows), time.Since(start).Seconds())
	c.log.Debug("batch inserted", "rows", len(rows), "took", time.Since(start))
	if len(dead) > 0 {
		if err := c.retry(ctx, "write dead letters", kafkaRetryable, func(ctx context.Context) error { return c.dlq.WriteMessages(ctx, dead...) }); err != nil {
			return err
		}
	}
	c.Stats.Inserted.Add(int64(len(rows)))
	c.Stats.DeadLettered.Add(int64(len(dead)))
	c.Stats.Batches.Add(1)
	if c.afterInsert != nil {
		if err := c.afterInsert(); err != nil {
			return err
		}
	}
	if err := c.reader.CommitMessages(ctx, lastPerPartition(batch)...); err != nil {
		// Not fatal: the batch is stored, and whoever owns these partitions next re-reads and re-inserts it,
		// which the identity key makes harmless.
		c.Stats.CommitErrors.Add(1)
		c.log.Warn("commit offsets failed; the batch will be redelivered and deduplicated", "err", err)
	}
	return nil
}

// retry runs op until it succeeds or ctx ends, backing off up to 10s. Nothing is committed meanwhile, so Kafka holds
// the data while ClickHouse or the broker is away.
func (c *Consumer) retry(ctx context.Context, what string, retryable func(error) bool, op func(context.Context) error) error {
	backoff := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := op(ctx)
		if err == nil {
			return nil
		}
		c.Stats.InsertErrors.Add(1)
		if ctx.Err() != nil {
			return fmt.Errorf("%s: gave up at shutdown, batch left uncommitted for redelivery: %w", what, err)
		}
		if !retryable(err) {
			c.log.Error(what+" failed for a reason retrying will not fix; still retrying so nothing is lost",
				"attempt", attempt, "err", err)
		} else {
			c.log.Warn(what+" failed; retrying", "attempt", attempt, "backoff", backoff, "err", err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: gave up at shutdown, batch left uncommitted for redelivery: %w", what, errors.Join(err, ctx.Err()))
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 10*time.Second)
	}
}

// kafkaRetryable tells a broker error that may heal (leader moves, timeouts, network) from one that will not
// (message too large, authorization); errors that are not Kafka protocol errors are network trouble.
func kafkaRetryable(err error) bool {
	var kerr kafka.Error
	if errors.As(err, &kerr) {
		return kerr.Temporary()
	}
	return true
}

func lastPerPartition(batch []kafka.Message) []kafka.Message {
	last := map[int]kafka.Message{}
	for _, m := range batch {
		if cur, ok := last[m.Partition]; !ok || m.Offset > cur.Offset {
			last[m.Partition] = m
		}
	}
	out := make([]kafka.Message, 0, len(last))
	for _, m := range last {
		out = append(out, m)
	}
	return out
}

// Dead-letter headers say why and where a message came from; the value is kept byte for byte.
const (
	HeaderError     = "gpumeter-error"
	HeaderTopic     = "gpumeter-source-topic"
	HeaderPartition = "gpumeter-source-partition"
	HeaderOffset    = "gpumeter-source-offset"
)

// maxDeadLetterBytes caps a dead letter's value. A poison message can be larger than the dead-letter topic (or the
// writer) accepts, and a dead letter that cannot be written would stall the partition forever; the original stays in
// the source topic, at the offset the headers name, until retention.
const maxDeadLetterBytes = 512 << 10

// HeaderTruncated names the original size of a dead letter whose value was cut to maxDeadLetterBytes.
const HeaderTruncated = "gpumeter-truncated-from-bytes"

func deadLetter(m kafka.Message, reason error) kafka.Message {
	value, headers := m.Value, append([]kafka.Header(nil), m.Headers...)
	if len(value) > maxDeadLetterBytes {
		headers = append(headers, kafka.Header{Key: HeaderTruncated, Value: []byte(strconv.Itoa(len(value)))})
		value = value[:maxDeadLetterBytes]
	}
	return kafka.Message{
		Key:   m.Key,
		Value: value,
		Headers: append(headers,
			kafka.Header{Key: HeaderError, Value: []byte(reason.Error())},
			kafka.Header{Key: HeaderTopic, Value: []byte(m.Topic)},
			kafka.Header{Key: HeaderPartition, Value: []byte(strconv.Itoa(m.Partition))},
			kafka.Header{Key: HeaderOffset, Value: []byte(strconv.FormatInt(m.Offset, 10))},
		),
	}
}
