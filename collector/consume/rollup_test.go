package consume

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/segmentio/kafka-go"

	"github.com/gpumeter/gpumeter/collector/consume/consumetest"
	"github.com/gpumeter/gpumeter/collector/store"
	"github.com/gpumeter/gpumeter/internal/testenv"
)

// deferSink is a Deferrer: raw rows are recorded by the Sink, Flush counts its calls and fails while fail says so.
type deferSink struct {
	*consumetest.Sink

	mu        sync.Mutex
	fail      func() error
	flushes   int
	nodeHours int
	read      int64 // the rows each Flush says it read
}

func (d *deferSink) WriteRaw(ctx context.Context, rows []store.Row) error { return d.Insert(ctx, rows) }

func (d *deferSink) Flush(_ context.Context, p *store.Pending) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.fail != nil {
		if err := d.fail(); err != nil {
			return err
		}
	}
	d.flushes++
	d.nodeHours += p.Len()
	p.Done(d.read)
	return nil
}

func (d *deferSink) counts() (flushes, nodeHours int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.flushes, d.nodeHours
}

func newDeferUnit(t *testing.T, fail func() error) (*unit, *deferSink) {
	t.Helper()
	d := &deferSink{Sink: &consumetest.Sink{}, fail: fail}
	u := newUnit(t, 1, func(cfg *Config, deps *Deps) {
		// Only the end of the backlog flushes (an idle fill), never a clock: not RollupInterval, and not a next batch
		// later than BatchWait.
		cfg.RollupInterval, cfg.BatchWait, cfg.BatchIdle = time.Hour, time.Hour, time.Hour
		deps.Store = d
	})
	u.sink = d.Sink
	return u, d
}

// The end of a backlog is written once the reader has had nothing for BatchIdle, not after BatchWait.
func TestCaughtUpBatchClosesAfterBatchIdle(t *testing.T) {
	u := newUnit(t, 1, func(cfg *Config, _ *Deps) {
		cfg.BatchSize, cfg.BatchWait, cfg.BatchIdle = 100, time.Hour, 20*time.Millisecond
	})
	u.k.produce(0, goodMessages(t, 30, 0)...)
	u.start(t)
	eventually(t, "the partial batch stored and committed", func() bool { return u.k.committedAt(0) == 30 })
	if err := u.stop(t); err != nil {
		t.Fatal(err)
	}
	if got := u.sink.Len(); got != 30 {
		t.Errorf("stored %d rows, want 30", got)
	}
}

// A backlog that ends on a full batch is flushed and committed once the next fill has had nothing for BatchIdle, not
// after BatchWait.
func TestBacklogEndingOnAFullBatchFlushesAfterBatchIdle(t *testing.T) {
	u, _ := newDeferUnit(t, nil)
	u.c.cfg.BatchSize, u.c.cfg.BatchIdle, u.c.cfg.WatchInterval = 10, 20*time.Millisecond, time.Hour
	u.k.produce(0, goodMessages(t, 30, 0)...)
	u.start(t)
	eventually(t, "the backlog committed", func() bool { return u.k.committedAt(0) == 30 })
	if err := u.stop(t); err != nil {
		t.Fatal(err)
	}
}

// A backlog drained in full batches is recomputed once, when the topic is caught up, not once per batch; the
// offsets are committed after that.
func TestBacklogRecomputesOnceForManyBatches(t *testing.T) {
	u, d := newDeferUnit(t, nil)
	u.k.produce(0, goodMessages(t, 1000, 0)...)
	u.start(t)
	eventually(t, "the backlog committed", func() bool { return u.k.committedAt(0) == 1000 })
	if err := u.stop(t); err != nil {
		t.Fatal(err)
	}
	flushes, nodeHours := d.counts()
	if batches := u.c.Stats.Batches.Load(); batches != 10 || flushes != 1 {
		t.Errorf("%d batches, %d flushes; want 10 batches and 1 flush", batches, flushes)
	}
	// records: 4 nodes, 16 records a minute, so 1000 records span two hours.
	if nodeHours != 8 {
		t.Errorf("%d node-hours recomputed, want 8", nodeHours)
	}
	if u.sink.Len() != 1000 {
		t.Errorf("%d rows stored, want 1000", u.sink.Len())
	}
}

// A failed recomputation is retried, never dead-letters a row, and holds the offsets back until it succeeds.
func TestFailedFlushHoldsOffsetsBack(t *testing.T) {
	var mu sync.Mutex
	failing := true
	attempts := 0
	u, d := newDeferUnit(t, func() error {
		mu.Lock()
		defer mu.Unlock()
		attempts++
		if failing {
			return &clickhouse.Exception{Code: 6, Message: "Cannot parse text"} // a row code: still no row to blame
		}
		return nil
	})
	u.k.produce(0, goodMessages(t, 300, 0)...)
	u.start(t)
	eventually(t, "flush retried", func() bool { mu.Lock(); defer mu.Unlock(); return attempts >= 3 })
	if got := u.k.committedAt(0); got != -1 {
		t.Errorf("committed %d while the rollups failed", got)
	}
	mu.Lock()
	failing = false
	mu.Unlock()
	eventually(t, "committed after the flush", func() bool { return u.k.committedAt(0) == 300 })
	if err := u.stop(t); err != nil {
		t.Fatal(err)
	}
	if n := len(u.k.deadLetters()); n != 0 || u.c.Stats.Rejected.Load() != 0 {
		t.Errorf("%d dead letters, %d rejected for a rollup failure", n, u.c.Stats.Rejected.Load())
	}
	if flushes, _ := d.counts(); flushes == 0 {
		t.Error("no successful flush")
	}
	if u.sink.Len() != 300 {
		t.Errorf("%d rows stored, want 300", u.sink.Len())
	}
}

// At shutdown the batches in hand are flushed and committed.
func TestShutdownFlushesPendingRollups(t *testing.T) {
	u, d := newDeferUnit(t, nil)
	u.c.cfg.WatchInterval = time.Hour // no idle fill ends the backlog: only the shutdown does
	u.k.produce(0, goodMessages(t, 300, 0)...)
	u.start(t)
	eventually(t, "stored", func() bool { return u.sink.Len() == 300 })
	if err := u.stop(t); err != nil {
		t.Fatal(err)
	}
	if got := u.k.committedAt(0); got != 300 {
		t.Errorf("committed %d at shutdown, want 300", got)
	}
	if flushes, _ := d.counts(); flushes != 1 {
		t.Errorf("%d flushes, want 1", flushes)
	}
}

// countingFetcher counts the messages fetched through it.
type countingFetcher struct {
	Fetcher
	n *atomic.Int64
}

func (f countingFetcher) FetchMessage(ctx context.Context) (kafka.Message, error) {
	m, err := f.Fetcher.FetchMessage(ctx)
	if err == nil {
		f.n.Add(1)
	}
	return m, err
}

// The next batch is fetched while the current one is written, and batches are still committed in order.
func TestNextBatchIsFetchedDuringTheInsert(t *testing.T) {
	var fetched atomic.Int64
	var first sync.Once
	var ahead atomic.Bool
	u := newUnit(t, 1, func(cfg *Config, deps *Deps) {
		open := deps.Open
		deps.Open = func() Fetcher { return countingFetcher{open(), &fetched} }
	})
	u.sink.Fail = func(context.Context, []store.Row) error {
		first.Do(func() {
			// The first insert ends only once the whole second batch was fetched behind it.
			deadline := time.Now().Add(time.Minute)
			for fetched.Load() < 200 && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
			ahead.Store(fetched.Load() >= 200)
		})
		return nil
	}
	u.k.produce(0, goodMessages(t, 300, 0)...)
	u.start(t)
	eventually(t, "committed", func() bool { return u.k.committedAt(0) == 300 })
	if err := u.stop(t); err != nil {
		t.Fatal(err)
	}
	if !ahead.Load() {
		t.Error("the second batch was not fetched while the first was inserted")
	}
	if got := u.c.Stats.Batches.Load(); got != 3 {
		t.Errorf("%d batches, want 3", got)
	}
	rows := u.sink.Rows()
	if len(rows) != 300 {
		t.Fatalf("%d rows stored, want 300", len(rows))
	}
	for i, r := range rows {
		if r.Offset != int64(i) {
			t.Fatalf("row %d has offset %d: batches stored out of order", i, r.Offset)
		}
	}
}

// Flushes during a backlog wait RollupInterval once the rows stored since the last Flush are at least the rows it
// read, and up to maxRollupWait RollupIntervals until then; what Flush read is what the store noted on the Pending.
func TestRollupEveryFollowsRowsRead(t *testing.T) {
	d := &deferSink{Sink: &consumetest.Sink{}}
	k := newFakeKafka(1)
	c := New(Config{Topic: "usage", Group: "g", DLQTopic: "dlq", RollupInterval: 5 * time.Second, MaxBackoff: 20 * time.Millisecond},
		Deps{Store: d, Open: k.open, DeadLetters: k, Offsets: k}, testenv.Logger(t))
	for _, tt := range []struct {
		read, added int
		want        time.Duration
	}{
		{0, 0, 5 * time.Second}, {0, 10, 5 * time.Second}, {100, 100, 5 * time.Second}, {100, 250, 5 * time.Second},
		{100, 99, time.Minute}, {1 << 30, 1, time.Minute},
	} {
		c.pending = store.Pending{}
		c.pending.Done(int64(tt.read))
		c.pending.Add(make([]store.Row, tt.added))
		if got := c.rollupEvery(); got != tt.want {
			t.Errorf("last flush read %d rows, %d stored since: rollupEvery %s, want %s", tt.read, tt.added, got, tt.want)
		}
	}
	// A Flush that fails first and then succeeds: the rows it read are those of the successful attempt.
	attempt := 0
	d.fail = func() error {
		if attempt++; attempt == 1 {
			return errors.New("dial tcp: connection refused")
		}
		return nil
	}
	d.read = 500
	c.pending = store.Pending{}
	c.pending.Add([]store.Row{{Record: records(1)[0]}})
	c.uncommitted = map[int]kafka.Message{0: {Partition: 0, Offset: 1}}
	c.fetcher = k.open()
	c.flushAndCommit(context.Background())
	if c.pending.Len() != 0 || c.pending.Added() != 0 || c.pending.LastRead() != 500 || c.rollupEvery() != time.Minute {
		t.Errorf("after the flush: %d node-hours, %d rows stored, %d read, rollupEvery %s; want 0, 0, 500 and 1m",
			c.pending.Len(), c.pending.Added(), c.pending.LastRead(), c.rollupEvery())
	}
}
