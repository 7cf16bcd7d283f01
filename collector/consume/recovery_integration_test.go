//go:build integration

package consume

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/gpumeter/gpumeter/internal/kafkaconf"
)

// The lag is the group's, read from the broker: before, kafka-go's group reader reported 0 whatever the backlog.
func TestLagFromTheBroker(t *testing.T) {
	f := newFixture(t)
	produce(t, f.brokers, f.topic, encoded(t, records(300))...)
	c := f.consumer(t, "lag")
	c.checkOffsets(t.Context())
	if got := c.Lag(); got != 300 {
		t.Fatalf("lag before consuming = %d, want 300", got)
	}
	if err := runUntil(t, c, func() bool { return c.Stats.Inserted.Load() >= 300 }); err != nil {
		t.Fatal(err)
	}
	c.checkOffsets(t.Context())
	if got := c.Lag(); got != 0 {
		t.Errorf("lag after consuming everything = %d, want 0", got)
	}
}

// A topic deleted and recreated under a running consumer, holding fewer messages than the group had committed, is
// read from its start: every record of the new topic is stored. Whether the consumer meets the old offsets (its
// partition readers kept them: the reset path, TestRecreatedTopicIsReadFromItsStart) or the broker dropped them
// with the topic and a rebalance started the group afresh depends on timing; both must store everything.
func TestRecreatedTopicIsReadFromItsStartOnKafka(t *testing.T) {
	f := newFixture(t)
	first := records(600)
	produce(t, f.brokers, f.topic, encoded(t, first)...)
	c := f.consumer(t, "recreated")
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	var runErr error
	wg.Go(func() { runErr = c.Run(ctx) })
	defer func() { cancel(); wg.Wait() }()
	eventually(t, "the first topic stored", func() bool { return c.Stats.Inserted.Load() >= 600 })
	eventually(t, "the first topic committed", func() bool {
		c.checkOffsets(ctx)
		return c.Lag() == 0
	})

	recreateTopic(t, f.brokers, f.topic, 3)
	second := records(1200)[1100:] // 100 new identities, far fewer than the 600 the group committed
	produce(t, f.brokers, f.topic, encoded(t, second)...)
	eventually(t, "the new topic stored", func() bool {
		got := f.totals(t, "gpu_usage")
		return got.rows == 700
	})
	t.Logf("partitions reset: %d", c.Stats.TopicResets.Load())
	cancel()
	wg.Wait()
	if runErr != nil {
		t.Fatal(runErr)
	}
}

func recreateTopic(t *testing.T, brokers []string, topic string, partitions int) {
	t.Helper()
	transport := &kafka.Transport{}
	defer transport.CloseIdleConnections()
	client := &kafka.Client{Addr: kafka.TCP(brokers...), Transport: transport, Timeout: 30 * time.Second}
	resp, err := client.DeleteTopics(t.Context(), &kafka.DeleteTopicsRequest{Topics: []string{topic}})
	if err != nil || resp.Errors[topic] != nil {
		t.Fatalf("delete topic %s: %v %v", topic, err, resp)
	}
	eventually(t, "topic deleted", func() bool {
		err := EnsureTopics(t.Context(), kafkaconf.Conn{Brokers: brokers}, partitions, 1, topic)
		return err == nil
	})
}

// A usage_raw dropped under a running consumer: the insert fails with ClickHouse's own "doesn't exist" (code 60),
// readiness says what is missing, the repair hook runs and the batch is stored after it.
func TestDroppedTableIsRepaired(t *testing.T) {
	f := newFixture(t)
	c := f.consumer(t, "dropped")
	var mu sync.Mutex
	var readiness error
	c.deps.Repair = func(ctx context.Context) error {
		mu.Lock()
		readiness = c.Ready(ctx)
		mu.Unlock()
		// Until Migrate checks what exists (not only its journal), forget the journal so that it re-applies.
		if err := f.store.Conn().Exec(ctx, fmt.Sprintf("DROP TABLE IF EXISTS %s.schema_migrations", f.store.Database())); err != nil {
			return err
		}
		return f.store.Migrate(ctx)
	}
	if err := f.store.Conn().Exec(t.Context(), fmt.Sprintf("DROP TABLE %s.usage_raw", f.store.Database())); err != nil {
		t.Fatal(err)
	}
	produce(t, f.brokers, f.topic, encoded(t, records(50))...)
	if err := runUntil(t, c, func() bool { return c.Stats.Inserted.Load() >= 50 }); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if readiness == nil || !strings.Contains(readiness.Error(), "usage_raw") || !strings.Contains(readiness.Error(), "cannot write") {
		t.Errorf("readiness during the repair: %v; want cannot write, naming usage_raw", readiness)
	}
	if got := f.totals(t, "gpu_usage"); got.rows != 50 {
		t.Errorf("stored %d rows after the repair, want 50", got.rows)
	}
}
