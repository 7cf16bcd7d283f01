//go:build integration

package e2e

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/gpumeter/gpumeter/agent"
	"github.com/gpumeter/gpumeter/agent/attribution"
	"github.com/gpumeter/gpumeter/agent/clock"
	"github.com/gpumeter/gpumeter/agent/gpu"
	"github.com/gpumeter/gpumeter/agent/send"
	"github.com/gpumeter/gpumeter/agent/spool"
	"github.com/gpumeter/gpumeter/collector/consume"
	"github.com/gpumeter/gpumeter/collector/store"
	"github.com/gpumeter/gpumeter/internal/kafkaconf"
)

// runAgent runs one node's agent on src for cfg.Duration of clk's time, into topic on the real Kafka, through a spool
// (and state directory) of its own.
func runAgent(ctx context.Context, t *testing.T, cfg agent.Config, clk clock.Clock, src *gpu.Source,
	attr attribution.Attributor, brokers []string, topic string, log *slog.Logger) error {
	sender := send.NewKafka(send.KafkaConfig{Conn: kafkaconf.Conn{Brokers: brokers}, Topic: topic}, log)
	defer sender.Close()
	cfg.StateDir = t.TempDir()
	sp, err := spool.Open(spool.Options{Dir: cfg.StateDir, MaxBytes: 64 << 20, Log: log})
	if err != nil {
		return err
	}
	defer sp.Close()
	if err := cfg.Validate(); err != nil {
		return err
	}
	return agent.New(cfg, clk, src, attr, sp, sender, log).Run(ctx)
}

// consumeUntil runs a collector's consumer from topic into st until it has inserted want records or two minutes have
// passed, stops it, and returns it for its Stats.
func consumeUntil(t *testing.T, st *store.Store, brokers []string, topic, dlq, group string, want int64, log *slog.Logger) *consume.Consumer {
	t.Helper()
	c := consume.New(consume.Config{Conn: kafkaconf.Conn{Brokers: brokers}, Topic: topic, Group: group, DLQTopic: dlq,
		BatchSize: 2000, BatchWait: 300 * time.Millisecond}, consume.Deps{Store: st}, log)
	ctx, cancel := context.WithCancel(t.Context())
	var runErr error
	var wg sync.WaitGroup
	wg.Go(func() { runErr = c.Run(ctx) })
	deadline := time.Now().Add(2 * time.Minute)
	for c.Stats.Inserted.Load() < want && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	cancel()
	wg.Wait()
	if runErr != nil {
		t.Fatal(runErr)
	}
	return c
}
