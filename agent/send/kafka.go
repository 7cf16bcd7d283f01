// Package send delivers closed usage records to Kafka.
package send

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/compress"

	"github.com/gpumeter/gpumeter/agent"
	"github.com/gpumeter/gpumeter/internal/kafkaconf"
)

// KafkaConfig configures the producer. Every kafka-go default we depend on is set here explicitly.
type KafkaConfig struct {
	Conn  kafkaconf.Conn
	Topic string
}

// Kafka writes records keyed by node, so one node's records stay in order on one partition.
type Kafka struct {
	w   *kafka.Writer
	log *slog.Logger
}

// NewKafka builds the producer; it connects on first use.
func NewKafka(cfg KafkaConfig, log *slog.Logger) *Kafka {
	return &Kafka{log: log, w: &kafka.Writer{
		Addr:     kafka.TCP(cfg.Conn.Brokers...),
		Topic:    cfg.Topic,
		Balancer: &kafka.Hash{},
		// kafka-go defaults to no acks: a record is sent only when every in-sync replica has it.
		RequiredAcks: kafka.RequireAll,
		// The default 1 s BatchTimeout makes each synchronous write wait a second; we hand over whole batches.
		BatchTimeout: 5 * time.Millisecond,
		BatchSize:    5000,
		BatchBytes:   8 << 20,
		Compression:  compress.Lz4,
		MaxAttempts:  3,
		WriteTimeout: 10 * time.Second,
		ReadTimeout:  10 * time.Second,
		Transport:    cfg.Conn.Transport(),
		// Topics are the collector's to create (with the partitions it is configured for); a typo in --topic should
		// fail loudly rather than create a topic nobody reads.
		AllowAutoTopicCreation: false,
	}}
}

// Send writes msgs, returning once Kafka acknowledged all of them. On error some may have been written; resending
// all of them is safe because records are identified by content (schema/README.md).
func (k *Kafka) Send(ctx context.Context, msgs []agent.Message) error {
	out := make([]kafka.Message, len(msgs))
	for i, m := range msgs {
		out[i] = kafka.Message{Key: m.Key, Value: m.Value}
	}
	if err := k.w.WriteMessages(ctx, out...); err != nil {
		return fmt.Errorf("write %d records to kafka topic %s: %w", len(out), k.w.Topic, err)
	}
	return nil
}

// Close flushes and closes the producer.
func (k *Kafka) Close() error { return k.w.Close() }
