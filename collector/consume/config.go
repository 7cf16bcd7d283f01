package consume

import (
	"errors"
	"fmt"
	"time"

	"github.com/gpumeter/gpumeter/internal/kafkaconf"
)

// Config configures a Consumer. Zero durations and sizes take the defaults of DefaultConfig.
type Config struct {
	Conn     kafkaconf.Conn // brokers, TLS, SASL
	Topic    string
	Group    string
	DLQTopic string

	BatchSize  int           // records per ClickHouse insert
	BatchBytes int           // bytes of messages (keys, values, headers) per batch: bounds memory with BatchSize
	BatchWait  time.Duration // longest a record waits for its batch to fill
	// BatchIdle closes a batch early when the reader had no message for this long (the topic is caught up), so the
	// end of a backlog does not wait out BatchWait. Not a flag: twice FetchMaxWait by default (the longest the broker
	// holds a fetch of a partition without data); BatchIdle >= BatchWait turns it off.
	BatchIdle time.Duration
	// RollupInterval is how long the rollups of stored batches wait while a backlog is drained, so that each
	// node-hour is recomputed once for many batches; their offsets are committed after. Longer while the batches
	// stored since the last recomputation hold fewer raw rows than it read (rollupEvery). A batch that is not full
	// (the topic caught up) flushes at once.
	RollupInterval time.Duration
	FetchMaxBytes  int           // most bytes one fetch from one partition returns (kafka-go MaxBytes)
	QueueCapacity  int           // messages the reader fetches ahead of the batch (kafka-go counts messages, not bytes)
	FetchMinBytes  int           // bytes the broker waits for before it answers a fetch (kafka-go MinBytes), up to FetchMaxWait
	FetchMaxWait   time.Duration // longest the broker holds a fetch that has fewer than FetchMinBytes (kafka-go MaxWait)
	FlushTimeout   time.Duration // how long shutdown may spend flushing the last batch
	MaxBackoff     time.Duration // longest wait between two attempts at anything that failed
	CommitTimeout  time.Duration // how long one offset commit may take before the batch is left for redelivery
	StallAfter     time.Duration // lag and no commit on a partition this long is a stall
	WatchInterval  time.Duration // how often lag, stalls and resets are checked on the broker
}

// DefaultConfig is the configuration the collector's flags start from.
func DefaultConfig() Config {
	return Config{
		Topic: "gpumeter.usage.v1", Group: "gpumeter-collector", DLQTopic: "gpumeter.usage.dlq",
		BatchSize: 50000, BatchBytes: 64 << 20, BatchWait: 2 * time.Second, RollupInterval: 5 * time.Second,
		FetchMaxBytes: 4 << 20, QueueCapacity: 100, FetchMinBytes: 1, FetchMaxWait: 250 * time.Millisecond,
		FlushTimeout: 30 * time.Second, MaxBackoff: 10 * time.Second, CommitTimeout: 10 * time.Second,
		StallAfter: 5 * time.Minute, WatchInterval: 15 * time.Second,
	}
}

func (c *Config) setDefaults() {
	d := DefaultConfig()
	for _, f := range []struct{ v, def *int }{{&c.BatchSize, &d.BatchSize}, {&c.BatchBytes, &d.BatchBytes},
		{&c.FetchMaxBytes, &d.FetchMaxBytes}, {&c.QueueCapacity, &d.QueueCapacity},
		{&c.FetchMinBytes, &d.FetchMinBytes}} {
		if *f.v <= 0 {
			*f.v = *f.def
		}
	}
	if c.BatchIdle <= 0 {
		c.BatchIdle = 2 * c.FetchMaxWait
		if c.BatchIdle <= 0 {
			c.BatchIdle = 2 * d.FetchMaxWait
		}
	}
	for _, f := range []struct{ v, def *time.Duration }{{&c.BatchWait, &d.BatchWait}, {&c.RollupInterval, &d.RollupInterval}, {&c.FetchMaxWait, &d.FetchMaxWait}, {&c.FlushTimeout, &d.FlushTimeout},
		{&c.MaxBackoff, &d.MaxBackoff}, {&c.CommitTimeout, &d.CommitTimeout}, {&c.StallAfter, &d.StallAfter},
		{&c.WatchInterval, &d.WatchInterval}} {
		if *f.v <= 0 {
			*f.v = *f.def
		}
	}
}

// Validate reports every setting that cannot work, each by its flag's name.
func (c Config) Validate() error {
	var errs []error
	for _, f := range []struct {
		name string
		v    string
	}{{"topic", c.Topic}, {"dlq-topic", c.DLQTopic}, {"group", c.Group}} {
		if f.v == "" {
			errs = append(errs, fmt.Errorf("--%s: empty", f.name))
		}
	}
	if c.Topic == c.DLQTopic && c.Topic != "" {
		errs = append(errs, errors.New("--dlq-topic: must differ from --topic"))
	}
	for _, f := range []struct {
		name string
		v    int
	}{{"batch-size", c.BatchSize}, {"batch-bytes", c.BatchBytes}, {"fetch-max-bytes", c.FetchMaxBytes}} {
		if f.v <= 0 {
			errs = append(errs, fmt.Errorf("--%s: must be positive, got %d", f.name, f.v))
		}
	}
	for _, f := range []struct {
		name string
		v    time.Duration
	}{{"batch-wait", c.BatchWait}, {"rollup-interval", c.RollupInterval}, {"shutdown-timeout", c.FlushTimeout}, {"stall-after", c.StallAfter}} {
		if f.v <= 0 {
			errs = append(errs, fmt.Errorf("--%s: must be positive, got %s", f.name, f.v))
		}
	}
	return errors.Join(errs...)
}
