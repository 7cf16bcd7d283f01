//go:build integration

package consume

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/gpumeter/gpumeter/collector/store"
	"github.com/gpumeter/gpumeter/internal/kafkaconf"
	"github.com/gpumeter/gpumeter/internal/testenv"
	"github.com/gpumeter/gpumeter/internal/teststore"
	"github.com/gpumeter/gpumeter/schema"
)

// fixture is a topic, a dead-letter topic and a migrated database of the test's own.
type fixture struct {
	brokers []string
	topic   string
	dlq     string
	store   *store.Store
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{brokers: []string{testenv.KafkaAddr(t)}, topic: testenv.Topic(t, 3), dlq: testenv.Topic(t, 1)}
	f.store = teststore.Migrated(t)
	return f
}

func (f *fixture) consumer(t *testing.T, group string) *Consumer {
	return New(Config{Conn: kafkaconf.Conn{Brokers: f.brokers}, Topic: f.topic, Group: group, DLQTopic: f.dlq, BatchSize: 500,
		BatchWait: 200 * time.Millisecond}, Deps{Store: f.store}, testenv.Logger(t))
}

func produce(t *testing.T, brokers []string, topic string, msgs ...kafka.Message) {
	t.Helper()
	w := &kafka.Writer{Addr: kafka.TCP(brokers...), Topic: topic, Balancer: &kafka.Hash{}, RequiredAcks: kafka.RequireAll,
		BatchTimeout: 5 * time.Millisecond, Transport: &kafka.Transport{}}
	defer w.Close()
	if err := w.WriteMessages(t.Context(), msgs...); err != nil {
		t.Fatalf("produce %d messages: %v", len(msgs), err)
	}
}

func encoded(t *testing.T, recs []schema.Record) []kafka.Message {
	t.Helper()
	out := make([]kafka.Message, len(recs))
	for i := range recs {
		b, err := schema.Encode(&recs[i])
		if err != nil {
			t.Fatal(err)
		}
		out[i] = kafka.Message{Key: recs[i].Key(), Value: b}
	}
	return out
}

// runUntil runs c until cond holds (checked every 100ms) or a minute passes, then stops it and returns Run's error.
func runUntil(t *testing.T, c *Consumer, cond func() bool) error {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	var err error
	wg.Go(func() { err = c.Run(ctx) })
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	deadline := time.After(time.Minute)
	for !cond() {
		select {
		case <-done:
			cancel()
			return err
		case <-deadline:
			cancel()
			<-done
			t.Fatalf("condition not met within a minute: consumed %d inserted %d dead %d", c.Stats.Consumed.Load(),
				c.Stats.Inserted.Load(), c.Stats.DeadLettered.Load())
		case <-time.After(100 * time.Millisecond):
		}
	}
	cancel()
	<-done
	return err
}

type totals struct {
	rows        uint64
	provisioned float64
	busy        float64
}

func (f *fixture) totals(t *testing.T, table string) totals {
	t.Helper()
	var got totals
	q := fmt.Sprintf("SELECT count(), sum(provisioned_seconds), sum(ifNull(busy_seconds, 0)) FROM %s.%s", f.store.Database(), table)
	if err := f.store.Conn().QueryRow(t.Context(), q).Scan(&got.rows, &got.provisioned, &got.busy); err != nil {
		t.Fatal(err)
	}
	return got
}

func TestRedeliveryAfterCrashBetweenInsertAndCommit(t *testing.T) {
	f := newFixture(t)
	recs := records(1200)
	produce(t, f.brokers, f.topic, encoded(t, recs)...)
	want := totals{rows: 1200, provisioned: 1200 * 60, busy: 1200 * 30}

	// The first collector stores everything it fetches and dies before every commit.
	crashing := f.consumer(t, "redelivery")
	crash := errors.New("simulated crash after insert")
	crashing.afterInsert = func() error { return crash }
	if err := runUntil(t, crashing, func() bool { return false }); !errors.Is(err, crash) {
		t.Fatalf("crashing consumer returned %v, want the simulated crash", err)
	}
	if crashing.Stats.Inserted.Load() == 0 {
		t.Fatal("crashing consumer inserted nothing; the test proves nothing")
	}

	// Its successor in the same group gets the uncommitted batch again and stores it a second time.
	next := f.consumer(t, "redelivery")
	if err := runUntil(t, next, func() bool { return next.Stats.Inserted.Load() >= 1200 }); err != nil {
		t.Fatal(err)
	}
	raw := f.totals(t, "usage_raw")
	if raw.rows <= 1200 {
		t.Fatalf("usage_raw holds %d rows: the batch was not delivered twice, so the test proves nothing", raw.rows)
	}
	if got := f.totals(t, "gpu_usage"); got != want {
		t.Errorf("gpu_usage after redelivery = %+v, want %+v (raw holds %d rows)", got, want, raw.rows)
	}

	// The agent resending everything (spool replay, producer retry) changes nothing either.
	produce(t, f.brokers, f.topic, encoded(t, recs)...)
	again := f.consumer(t, "redelivery")
	if err := runUntil(t, again, func() bool { return again.Stats.Inserted.Load() >= 1200 }); err != nil {
		t.Fatal(err)
	}
	if got := f.totals(t, "gpu_usage"); got != want {
		t.Errorf("gpu_usage after resend = %+v, want %+v", got, want)
	}
}

func TestPoisonMessagesAreDeadLettered(t *testing.T) {
	f := newFixture(t)
	good := records(100)
	bad := records(1)[0]
	bad.WindowEnd = bad.WindowEnd.Add(time.Hour) // outside its interval
	badValue, _ := schema.Encode(&bad)
	poison := []struct {
		value  []byte
		reason string
	}{
		{[]byte("\x00\xffnot a record"), "malformed record"},
		{[]byte(`{"v":99,"node":"future"}`), "unknown schema version 99"},
		{[]byte(`{"node":"n"}`), `missing schema version field "v"`},
		{badValue, "window_start"},
		{nil, "malformed record"},
	}
	msgs := encoded(t, good[:50])
	for _, p := range poison {
		msgs = append(msgs, kafka.Message{Key: []byte("node-0"), Value: p.value})
	}
	msgs = append(msgs, encoded(t, good[50:])...)
	produce(t, f.brokers, f.topic, msgs...)

	c := f.consumer(t, "poison")
	if err := runUntil(t, c, func() bool { return c.Stats.Consumed.Load() >= int64(len(msgs)) }); err != nil {
		t.Fatal(err)
	}
	if got, want := f.totals(t, "gpu_usage"), (totals{rows: 100, provisioned: 6000, busy: 3000}); got != want {
		t.Errorf("stored %+v, want every good record: %+v", got, want)
	}
	if got := c.Stats.DeadLettered.Load(); got != int64(len(poison)) {
		t.Errorf("dead-lettered %d, want %d", got, len(poison))
	}

	r := kafka.NewReader(kafka.ReaderConfig{Brokers: f.brokers, Topic: f.dlq, Partition: 0, MaxWait: 100 * time.Millisecond})
	defer r.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	for i, p := range poison {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			t.Fatalf("dead letter %d: %v", i, err)
		}
		headers := map[string]string{}
		for _, h := range m.Headers {
			headers[h.Key] = string(h.Value)
		}
		if string(m.Value) != string(p.value) {
			t.Errorf("dead letter %d value %q, want the original %q", i, m.Value, p.value)
		}
		if reason := headers[HeaderError]; !strings.Contains(reason, p.reason) {
			t.Errorf("dead letter %d reason %q, want it to mention %q", i, reason, p.reason)
		}
		if headers[HeaderTopic] != f.topic || headers[HeaderOffset] == "" {
			t.Errorf("dead letter %d does not say where it came from: %v", i, headers)
		}
	}
}

func TestOversizedPoisonIsDeadLetteredTruncated(t *testing.T) {
	f := newFixture(t)
	big := make([]byte, 3<<20)
	for i := range big {
		big[i] = 'x'
	}
	msgs := append(encoded(t, records(10)), kafka.Message{Key: []byte("node-0"), Value: big})
	w := &kafka.Writer{Addr: kafka.TCP(f.brokers...), Topic: f.topic, RequiredAcks: kafka.RequireAll,
		BatchTimeout: 5 * time.Millisecond, BatchBytes: 8 << 20, Transport: &kafka.Transport{}}
	defer w.Close()
	if err := w.WriteMessages(t.Context(), msgs...); err != nil {
		t.Fatalf("produce: %v", err)
	}
	c := f.consumer(t, "oversized")
	if err := runUntil(t, c, func() bool {
		return c.Stats.Consumed.Load() >= 11 && c.Stats.Batches.Load() > 0 && c.Stats.DeadLettered.Load() == 1
	}); err != nil {
		t.Fatal(err)
	}
	if got := f.totals(t, "gpu_usage"); got.rows != 10 {
		t.Errorf("stored %d records, want 10", got.rows)
	}
}
