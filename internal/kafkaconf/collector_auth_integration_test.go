//go:build integration

package kafkaconf_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gpumeter/gpumeter/collector/consume"
	"github.com/gpumeter/gpumeter/collector/consume/consumetest"
	"github.com/gpumeter/gpumeter/internal/testenv"
)

// A wrong SASL password reads as an authentication failure on the collector's paths, never as "Broker Not
// Available": creating the topics at start, and the consumer's readiness while its group reader retries.
func TestCollectorWrongPasswordReadsAsAuthentication(t *testing.T) {
	b := kafkaBroker(t)
	conn := connect(t, []string{"--kafka-brokers=" + b.SASLAddr, "--kafka-tls", "--kafka-ca-file=" + b.PKI.CAFile,
		"--kafka-sasl-mechanism=SCRAM-SHA-512", "--kafka-username=" + scramUser, "--kafka-password=not-the-password"}, nil)
	topic := topicName(t)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()

	err := consume.EnsureTopics(ctx, conn, 1, 1, topic)
	if err == nil || !consume.AuthError(err) || strings.Contains(err.Error(), "Broker Not Available") {
		t.Errorf("EnsureTopics with a wrong password: %v; want an authentication failure", err)
	}

	c := consume.New(consume.Config{Conn: conn, Topic: topic, Group: topic, DLQTopic: topic + ".dlq"},
		consume.Deps{Store: &consumetest.Sink{}}, testenv.Logger(t))
	rctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { _ = c.Run(rctx) })
	defer func() { stop(); wg.Wait() }()
	for {
		err := c.Ready(ctx)
		if err != nil && strings.Contains(err.Error(), "cannot authenticate to kafka") {
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("readiness within a minute: %v; want it to say cannot authenticate to kafka", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
