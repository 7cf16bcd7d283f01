// Package send delivers closed usage records to Kafka.
package send

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/compress"

	"github.com/gpumeter/gpumeter/agent/spool"
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
	return &Kafka{log: log.With("component", "send"), w: &kafka.Writer{
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

// Send writes the entries' keys and values, returning once Kafka acknowledged all of them. On error some may have
// been written; resending all of them is safe because records are identified by content (schema/README.md). The
// error carries its kind (Error.SendErrorKind).
func (k *Kafka) Send(ctx context.Context, entries []spool.Entry) error {
	out := make([]kafka.Message, len(entries))
	for i, e := range entries {
		out[i] = kafka.Message{Key: e.Key, Value: e.Value}
	}
	if err := k.w.WriteMessages(ctx, out...); err != nil {
		return &Error{Kind: Kind(err), Err: fmt.Errorf("write %d records to kafka topic %s at %s: %w", len(out), k.w.Topic,
			k.w.Addr, err)}
	}
	return nil
}

// Error is a failed send with its kind.
type Error struct {
	Kind string // "authentication", "unreachable" or "other"
	Err  error
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// SendErrorKind is what the agent's metrics and readiness read (agent.ErrorKind).
func (e *Error) SendErrorKind() string { return e.Kind }

// Kind classifies a producer error: "authentication" when the brokers refuse the SASL credentials (no retry will
// help until they are fixed), "unreachable" when no connection could be made, else "other".
func Kind(err error) string {
	switch {
	case errors.Is(err, kafka.SASLAuthenticationFailed), errors.Is(err, kafka.IllegalSASLState),
		errors.Is(err, kafka.UnsupportedSASLMechanism), strings.Contains(err.Error(), "SASL Authentication Failed"):
		return "authentication"
	}
	var op *net.OpError
	var dns *net.DNSError
	if errors.As(err, &op) || errors.As(err, &dns) {
		return "unreachable"
	}
	return "other"
}

// Close flushes and closes the producer.
func (k *Kafka) Close() error { return k.w.Close() }
