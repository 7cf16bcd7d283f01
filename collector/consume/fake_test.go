package consume

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/goleak"

	"github.com/gpumeter/gpumeter/collector/consume/consumetest"
	"github.com/gpumeter/gpumeter/internal/testenv"
	"github.com/gpumeter/gpumeter/schema"
)

// fakeKafka is one topic and its dead-letter topic in memory, with one consumer group. Each member (Fetcher) reads
// every partition from the group's committed offset, as a lone group member does.
type fakeKafka struct {
	topic string

	mu        sync.Mutex
	logs      map[int][]kafka.Message // per partition, offsets first..end-1
	first     map[int]int64
	committed map[int]int64
	dead      []kafka.Message
	changed   chan struct{} // closed and replaced on every change
	opened    int

	// fetchErr, when set, is returned by every fetch (Kafka away); offsetsErr by every Offsets call.
	fetchErr, offsetsErr error
	// dlqMaxBytes, when > 0, refuses dead letters larger than this with MessageSizeTooLarge (the broker's limit).
	dlqMaxBytes int
	// closeBlock, when set, makes Close wait for it.
	closeBlock chan struct{}
}

func newFakeKafka(partitions int) *fakeKafka {
	k := &fakeKafka{topic: "usage", logs: map[int][]kafka.Message{}, first: map[int]int64{}, committed: map[int]int64{},
		changed: make(chan struct{})}
	for p := range partitions {
		k.logs[p] = nil
		k.committed[p] = -1
	}
	return k
}

func (k *fakeKafka) changedLocked() {
	close(k.changed)
	k.changed = make(chan struct{})
}

func (k *fakeKafka) produce(p int, msgs ...kafka.Message) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, m := range msgs {
		m.Topic, m.Partition, m.Offset = k.topic, p, k.first[p]+int64(len(k.logs[p]))
		k.logs[p] = append(k.logs[p], m)
	}
	k.changedLocked()
}

// recreate deletes and recreates the topic: empty partitions from offset 0, the group's offsets left as they were.
func (k *fakeKafka) recreate() {
	k.mu.Lock()
	defer k.mu.Unlock()
	for p := range k.logs {
		k.logs[p], k.first[p] = nil, 0
	}
	k.changedLocked()
}

func (k *fakeKafka) setFetchErr(err error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.fetchErr = err
	k.changedLocked()
}

func (k *fakeKafka) end(p int) int64 { return k.first[p] + int64(len(k.logs[p])) }

func (k *fakeKafka) committedAt(p int) int64 {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.committed[p]
}

func (k *fakeKafka) deadLetters() []kafka.Message {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]kafka.Message(nil), k.dead...)
}

func (k *fakeKafka) open() Fetcher {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.opened++
	m := &fakeMember{k: k, next: map[int]int64{}, stopped: map[int]bool{}}
	for p := range k.logs {
		m.next[p] = k.committed[p]
		if m.next[p] < 0 {
			m.next[p] = k.first[p]
		}
	}
	return m
}

func (k *fakeKafka) Offsets(context.Context) ([]PartitionOffsets, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.offsetsErr != nil {
		return nil, k.offsetsErr
	}
	var out []PartitionOffsets
	for p := range k.logs {
		out = append(out, PartitionOffsets{Partition: p, First: k.first[p], End: k.end(p), Committed: k.committed[p], CommittedReadable: true})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Partition < out[j].Partition })
	return out, nil
}

// WriteMessages is the dead-letter topic.
func (k *fakeKafka) WriteMessages(_ context.Context, msgs ...kafka.Message) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.fetchErr != nil {
		return k.fetchErr
	}
	for _, m := range msgs {
		if k.dlqMaxBytes > 0 && messageBytes(m) > k.dlqMaxBytes {
			return fmt.Errorf("write dead letter: %w", kafka.MessageSizeTooLarge)
		}
	}
	k.dead = append(k.dead, msgs...)
	return nil
}

func (k *fakeKafka) Close() error { return nil }

// fakeMember is one group member: it reads every partition of the topic.
type fakeMember struct {
	k       *fakeKafka
	next    map[int]int64
	stopped map[int]bool // partitions whose reader met an out-of-range offset and stopped, as kafka-go's do
	closed  bool
}

func (m *fakeMember) FetchMessage(ctx context.Context) (kafka.Message, error) {
	k := m.k
	for {
		k.mu.Lock()
		if k.fetchErr != nil {
			err := k.fetchErr
			k.mu.Unlock()
			return kafka.Message{}, err
		}
		parts := make([]int, 0, len(k.logs))
		for p := range k.logs {
			parts = append(parts, p)
		}
		sort.Ints(parts)
		for _, p := range parts {
			if m.stopped[p] {
				continue
			}
			next, end := m.next[p], k.end(p)
			if next > end {
				m.stopped[p] = true
				k.mu.Unlock()
				return kafka.Message{}, fmt.Errorf("kafka reader: partition %d: %w", p, kafka.OffsetOutOfRange)
			}
			if next < end {
				msg := k.logs[p][next-k.first[p]]
				msg.HighWaterMark = end
				m.next[p] = next + 1
				k.mu.Unlock()
				return msg, nil
			}
		}
		changed := k.changed
		k.mu.Unlock()
		select {
		case <-ctx.Done():
			return kafka.Message{}, ctx.Err()
		case <-changed:
		}
	}
}

func (m *fakeMember) CommitMessages(_ context.Context, msgs ...kafka.Message) error {
	m.k.mu.Lock()
	defer m.k.mu.Unlock()
	if m.k.fetchErr != nil {
		return m.k.fetchErr
	}
	for _, msg := range msgs {
		m.k.committed[msg.Partition] = msg.Offset + 1
	}
	return nil
}

func (m *fakeMember) Close() error {
	m.k.mu.Lock()
	block := m.k.closeBlock
	m.closed = true
	m.k.mu.Unlock()
	if block != nil {
		<-block
	}
	return nil
}

// unit is a consumer on fakes only: no Kafka, no ClickHouse.
type unit struct {
	k    *fakeKafka
	sink *consumetest.Sink
	c    *Consumer

	cancel context.CancelFunc
	done   chan error
}

func newUnit(t *testing.T, partitions int, tweak func(*Config, *Deps)) *unit {
	t.Helper()
	// Goroutines of other tests' real Kafka clients may still be winding down; this test's own must all end.
	before := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, before) })
	u := &unit{k: newFakeKafka(partitions), sink: &consumetest.Sink{}}
	cfg := Config{Topic: "usage", Group: "g", DLQTopic: "dlq", BatchSize: 100, BatchWait: 20 * time.Millisecond,
		MaxBackoff: 20 * time.Millisecond, WatchInterval: 50 * time.Millisecond, FlushTimeout: time.Second}
	deps := Deps{Store: u.sink, Open: u.k.open, DeadLetters: u.k, Offsets: u.k}
	if tweak != nil {
		tweak(&cfg, &deps)
	}
	u.c = New(cfg, deps, testenv.Logger(t))
	return u
}

func (u *unit) start(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	u.cancel, u.done = cancel, make(chan error, 1)
	go func() { u.done <- u.c.Run(ctx) }()
	t.Cleanup(func() { u.stop(t) })
}

// stop ends Run (once) and returns its error.
func (u *unit) stop(t *testing.T) error {
	t.Helper()
	if u.cancel == nil {
		return nil
	}
	u.cancel()
	u.cancel = nil
	select {
	case err := <-u.done:
		return err
	case <-time.After(time.Minute):
		t.Fatal("Run did not return within a minute of its context's end")
		return nil
	}
}

// eventually waits until cond holds, failing after a minute (a hang, never a timing assertion).
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within a minute", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// records makes n distinct valid records: nodes × GPUs × one-minute windows.
func records(n int) []schema.Record {
	start := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	out := make([]schema.Record, n)
	for i := range out {
		is := start.Add(time.Duration(i/16) * time.Minute)
		out[i] = schema.Record{
			Version: schema.Version, Node: fmt.Sprintf("node-%d", i%4), Provider: []string{"azure", "oracle_cloud"}[i%2],
			Region: "r", InstanceType: "t", GPUUUID: fmt.Sprintf("GPU-%d", i%16/4), GPUModel: "H100",
			IntervalStart: is, IntervalEnd: is.Add(time.Minute), WindowStart: is, WindowEnd: is.Add(time.Minute),
			ProvisionedSeconds: 60, BusySeconds: schema.Float(30), Samples: 60,
		}
	}
	return out
}
