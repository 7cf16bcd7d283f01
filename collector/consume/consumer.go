// Package consume moves records from Kafka to ClickHouse: fetch → decode → insert → commit, at least once.
//
// Offsets are committed only after ClickHouse acknowledged the batch and the dead-letter topic acknowledged the bad
// messages, so a crash anywhere redelivers rather than loses. Redelivered records collapse by identity in usage_raw
// (see schema/README.md), so redelivery never changes a total.
//
// Failures are sorted by who can heal them (docs/design.md, permanent errors):
//   - Kafka or ClickHouse away: waited out, however long, with capped backoff; readiness says which and why.
//   - A message that is not a record, or a row ClickHouse refuses for good (found by bisecting the batch): set aside
//     in the dead-letter topic with a pointer to its source offset, so it never blocks the records behind it.
//   - A missing table: the migrations are re-run (Deps.Repair), then the insert is retried.
//   - Credentials or permissions: retried, since nothing may be dropped, while readiness and a metric say so.
//   - A topic deleted and recreated: the partitions whose committed offset lies beyond their end are read again
//     from their start, loudly (log and metric).
//
// A stall (lag and no commit for StallAfter) fails readiness and shows in a metric whatever its cause.
package consume

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/gpumeter/gpumeter/collector/store"
	"github.com/gpumeter/gpumeter/schema"
)

// Inserter stores a batch; *store.Store is the real one, consumetest.Sink a recording fake. It must not keep rows
// (nor Deferrer.WriteRaw) once it returned: the consumer decodes the next batch into their memory.
type Inserter interface {
	Insert(ctx context.Context, rows []store.Row) error
}

// Deferrer is an Inserter that can store raw rows and recompute their rollups separately (*store.Store): the
// consumer then recomputes each node-hour once for all the batches written within RollupInterval (Flush), rather
// than once per batch, and commits those batches' offsets only after the Flush succeeded.
type Deferrer interface {
	Inserter
	WriteRaw(ctx context.Context, rows []store.Row) error
	Flush(ctx context.Context, p *store.Pending) error
}

// maxPendingNodeHours flushes the rollups early when this many node-hours wait (bounds one Flush and its memory).
const maxPendingNodeHours = 100_000

// Deps are what a Consumer talks to. New uses the real Kafka clients for the ones left nil; tests pass fakes.
type Deps struct {
	Store       Inserter                        // required
	Open        func() Fetcher                  // a new consumer-group member; called again after a topic reset
	DeadLetters Writer                          // the dead-letter topic
	Offsets     OffsetSource                    // lag, stalls and resets
	Repair      func(ctx context.Context) error // re-runs the migrations when a table is missing; nil: only retry
}

// Stats are running totals, safe to read while the consumer runs.
type Stats struct {
	Consumed     atomic.Int64
	Inserted     atomic.Int64
	DeadLettered atomic.Int64
	Rejected     atomic.Int64 // dead-lettered because ClickHouse refused the row (included in DeadLettered)
	Batches      atomic.Int64
	InsertErrors atomic.Int64
	CommitErrors atomic.Int64
	FetchErrors  atomic.Int64
	TopicResets  atomic.Int64 // partitions read again from their start after a topic reset
	Repairs      atomic.Int64 // migrations re-run because a table was missing
}

// Consumer is one member of the collector's consumer group.
type Consumer struct {
	cfg  Config
	deps Deps
	log  *slog.Logger

	Stats  Stats
	health health
	watch  watchState
	dead   *limitedLog

	fetcher  Fetcher        // the current member; only Run's goroutine touches it
	dec      schema.Decoder // only the fill in flight (one at a time) touches it
	filling  atomic.Bool    // the fill in flight has its first message (else a backlog may have ended)
	lastFill int            // how many messages the last fill returned; only the fill in flight touches it
	spare    chan decoded   // one processed batch's rows, for the next decode (reuse)

	// Batches stored raw whose rollups and offsets wait for the next flushAndCommit (only with a Deferrer); only
	// Run's goroutine touches them.
	deferrer    Deferrer
	pending     store.Pending
	uncommitted map[int]kafka.Message // the last stored message of each partition
	oldest      time.Time             // when the oldest uncommitted batch was stored

	metrics instruments
	tracer  trace.Tracer
	now     func() time.Time

	// afterInsert, when set, runs between the insert and the commit; an error ends Run without committing. Tests
	// use it to crash the consumer at the worst moment.
	afterInsert func() error
}

// New builds a consumer; nothing connects until Run.
func New(cfg Config, deps Deps, log *slog.Logger) *Consumer {
	cfg.setDefaults()
	log = log.With("component", "consume")
	if deps.Open == nil {
		deps.Open = func() Fetcher { return newReader(cfg, log) }
	}
	if deps.DeadLetters == nil {
		deps.DeadLetters = newDeadLetterWriter(cfg)
	}
	if deps.Offsets == nil {
		deps.Offsets = newKafkaOffsets(cfg)
	}
	c := &Consumer{cfg: cfg, deps: deps, log: log, metrics: noInstruments(), tracer: noop.NewTracerProvider().Tracer(""),
		now: time.Now, dead: newLimitedLog(log, "dead letters", 10*time.Second), spare: make(chan decoded, 1)}
	c.watch.lag.Store(-1)
	c.deferrer, _ = deps.Store.(Deferrer)
	return c
}

// SetTracer makes each batch a span (decode, insert, dead letters, commit) in t.
func (c *Consumer) SetTracer(t trace.Tracer) { c.tracer = t }

// Ready is nil while the consumer can do its work, else every reason it cannot (Kafka away, cannot authenticate,
// cannot write, stalled), for /readyz.
func (c *Consumer) Ready(context.Context) error { return c.health.err() }

// Run consumes until ctx is cancelled, then flushes the batch in hand, commits it and returns nil, all within
// FlushTimeout of ctx's end (a close that takes longer is abandoned). Neither Kafka nor ClickHouse being away ends
// it, however long; it returns an error only when an afterInsert hook does (tests).
func (c *Consumer) Run(ctx context.Context) error {
	// fctx is what the work in hand runs under: it outlives ctx by FlushTimeout, so that a shutdown does not abort
	// the insert of the batch in hand, but never waits longer than that for a ClickHouse or Kafka that is away.
	// The last part of FlushTimeout is kept for leaving the group (closing the reader), so that the partitions
	// move to the other members at once rather than after the session timeout.
	closeReserve := min(2*time.Second, c.cfg.FlushTimeout/5)
	fctx, cancel := context.WithCancelCause(context.WithoutCancel(ctx))
	defer cancel(nil)
	cctx, cancelClose := context.WithCancelCause(context.WithoutCancel(ctx))
	defer cancelClose(nil)
	stopTimer := context.AfterFunc(ctx, func() {
		time.AfterFunc(c.cfg.FlushTimeout-closeReserve, func() { cancel(errShutdownTimeout) })
		time.AfterFunc(c.cfg.FlushTimeout, func() { cancelClose(errShutdownTimeout) })
	})
	defer stopTimer()

	c.fetcher = c.deps.Open()
	var wg sync.WaitGroup
	wctx, stopWatch := context.WithCancel(ctx)
	wg.Go(func() { c.watchLoop(wctx) })
	defer func() {
		stopWatch()
		wg.Wait()
		c.closeWithin(cctx)
	}()
	backoff := newBackoff(c.cfg.MaxBackoff)
	// next is the batch being fetched and decoded while the one before it is written: one batch ahead, so at most
	// two batches (each within BatchBytes) are in hand. Only one fill runs at a time, so batches are written and
	// committed in the order they were fetched. It is waited for before the reader is replaced or closed.
	var next <-chan filled
	defer func() {
		if next != nil {
			<-next
		}
	}()
	for {
		if next == nil {
			next = c.fillAhead(ctx)
		}
		f := c.await(fctx, next)
		next = nil
		batch, full, err := f.batch, f.full, f.err
		// A message is proof that Kafka is back; a quiet topic only when the offsets watch reaches the broker too.
		if len(batch) > 0 || err == nil && !c.health.has(condOffsets) {
			c.health.clear(condKafka)
			backoff.reset()
		}
		if len(batch) > 0 {
			if err == nil && ctx.Err() == nil && !c.watch.resetWanted.Load() {
				next = c.fillAhead(ctx)
			}
			perr := c.process(fctx, batch, f.decoded)
			c.reuse(f.decoded)
			if perr != nil {
				return perr
			}
		}
		// Rollups and offsets wait for more batches only while the topic has a backlog (the batch came full):
		// caught up, idle, failing, stopping or resetting, they are stored and committed now.
		if !full || err != nil || ctx.Err() != nil || c.watch.resetWanted.Load() || c.flushDue() {
			c.flushAndCommit(fctx)
		}
		if next != nil && (ctx.Err() != nil || c.watch.resetWanted.Load()) {
			// What it fetched is left uncommitted, to be read again: it comes after everything committed.
			<-next
			next = nil
		}
		if ctx.Err() != nil {
			c.log.Info("consumer stopped", "consumed", c.Stats.Consumed.Load(), "inserted", c.Stats.Inserted.Load(),
				"dead_lettered", c.Stats.DeadLettered.Load())
			return nil
		}
		if next == nil && c.watch.resetWanted.Swap(false) { // never while a fill uses the reader
			c.resetTopic(ctx)
		}
		if err != nil {
			c.fetchFailed(ctx, err, backoff)
		}
	}
}

var errShutdownTimeout = errors.New("shutdown timeout passed")

// closeWithin closes the reader and the dead-letter writer, giving up on them when cctx ends (--shutdown-timeout):
// kafka-go's Close waits for the group to be left, which can take as long as the broker is away.
func (c *Consumer) closeWithin(cctx context.Context) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := c.fetcher.Close(); err != nil {
			c.log.Warn("close kafka reader", "err", err)
		}
		if err := c.deps.DeadLetters.Close(); err != nil {
			c.log.Warn("close dead-letter writer", "err", err)
		}
		if closer, ok := c.deps.Offsets.(io.Closer); ok {
			_ = closer.Close()
		}
	}()
	select {
	case <-done:
	case <-cctx.Done():
		c.log.Warn("closing the kafka clients outlasted --shutdown-timeout; leaving them", "err", context.Cause(cctx))
	}
}

// filled is what one fill returned, decoded.
type filled struct {
	batch   []kafka.Message
	decoded decoded
	full    bool
	err     error
}

// fillAhead runs fill and decode in a goroutine of their own, so that the next batch is fetched and decoded while
// the current one is written.
func (c *Consumer) fillAhead(ctx context.Context) <-chan filled {
	out := make(chan filled, 1)
	c.filling.Store(false)
	go func() {
		batch, full, err := c.fill(ctx)
		out <- filled{batch, c.decode(batch), full, err}
	}()
	return out
}

// await waits for the batch being filled. While stored batches wait for their rollups and offsets, it flushes them
// when the topic is caught up (the next batch has had no message for BatchIdle, or has not come within BatchWait) or
// rollupEvery is due.
func (c *Consumer) await(ctx context.Context, next <-chan filled) filled {
	var waited time.Duration
	for len(c.uncommitted) > 0 {
		wait := c.cfg.BatchWait - waited
		if !c.filling.Load() {
			wait = min(wait, c.cfg.BatchIdle)
		}
		if due := c.rollupEvery() - c.now().Sub(c.oldest); due < wait {
			wait = max(due, 0)
		}
		t := time.NewTimer(wait)
		select {
		case f := <-next:
			t.Stop()
			return f
		case <-t.C:
		}
		waited += wait
		if waited >= c.cfg.BatchWait || !c.filling.Load() || c.now().Sub(c.oldest) >= c.rollupEvery() {
			c.flushAndCommit(ctx)
			waited = 0
		}
	}
	return <-next
}

// errIdle ends a fill that found nothing within WatchInterval, so Run looks at resets and shutdown again.
var errIdle = errors.New("idle")

// fill fetches until the batch is full (BatchSize records or BatchBytes bytes) or BatchWait has passed since its
// first message. It returns what it has, whether it is full, and the error that ended it.
func (c *Consumer) fill(ctx context.Context) ([]kafka.Message, bool, error) {
	ictx, cancel := context.WithTimeoutCause(ctx, c.cfg.WatchInterval, errIdle)
	first, err := c.fetcher.FetchMessage(ictx)
	cancel()
	if err != nil {
		if ctx.Err() != nil || errors.Is(context.Cause(ictx), errIdle) && ictx.Err() != nil {
			return nil, false, nil
		}
		return nil, false, err
	}
	c.filling.Store(true)
	// As long as the batch before, so that a backlog's batches do not grow (and copy) their way up to BatchSize.
	batch := make([]kafka.Message, 1, max(min(c.cfg.BatchSize, 4096), c.lastFill))
	defer func() { c.lastFill = len(batch) }()
	batch[0] = first
	size := messageBytes(first)
	wctx, cancel := context.WithTimeout(ctx, c.cfg.BatchWait)
	defer cancel()
	var fetched atomic.Int64
	bctx, stopIdle := c.closeWhenIdle(wctx, &fetched)
	defer stopIdle()
	for len(batch) < c.cfg.BatchSize && size < c.cfg.BatchBytes {
		m, err := c.fetcher.FetchMessage(bctx)
		if err != nil {
			if bctx.Err() != nil {
				return batch, false, nil // the wait is over, the topic caught up (or the consumer): insert what we have
			}
			return batch, false, err
		}
		fetched.Add(1)
		batch = append(batch, m)
		size += messageBytes(m)
	}
	return batch, true, nil
}

// errCaughtUp ends a batch's fill when no message came for BatchIdle.
var errCaughtUp = errors.New("no message for BatchIdle: caught up")

// closeWhenIdle returns ctx, cancelled once fetched has not moved for BatchIdle (checked every BatchIdle/2): the
// reader's queue stayed empty that long, so the topic is caught up and the batch is written now rather than at the
// end of BatchWait. The end of a backlog then costs no BatchWait; steady traffic, which keeps the queue fed, still
// fills batches for BatchWait. stop ends the watch and waits for it.
func (c *Consumer) closeWhenIdle(ctx context.Context, fetched *atomic.Int64) (_ context.Context, stop func()) {
	if c.cfg.BatchIdle >= c.cfg.BatchWait {
		return ctx, func() {}
	}
	ictx, cancel := context.WithCancelCause(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(c.cfg.BatchIdle / 2)
		defer t.Stop()
		last, quiet := int64(-1), 0
		for {
			select {
			case <-ictx.Done():
				return
			case <-t.C:
				if n := fetched.Load(); n != last {
					last, quiet = n, 0
					continue
				}
				if quiet++; quiet >= 2 {
					cancel(errCaughtUp)
					return
				}
			}
		}
	})
	return ictx, func() { cancel(nil); wg.Wait() }
}

func messageBytes(m kafka.Message) int {
	n := len(m.Key) + len(m.Value)
	for _, h := range m.Headers {
		n += len(h.Key) + len(h.Value)
	}
	return n
}

// fetchFailed waits out a failed fetch: the reader keeps reconnecting by itself, so there is nothing to give up on.
func (c *Consumer) fetchFailed(ctx context.Context, err error, b *backoff) {
	c.Stats.FetchErrors.Add(1)
	switch {
	case errors.Is(err, kafka.OffsetOutOfRange):
		c.log.Warn("kafka reader: offset out of range; checking for a topic reset", "topic", c.cfg.Topic, "err", err)
		c.resetTopic(ctx)
		return
	case closedReader(err):
		// Not expected while Run holds the reader; a new member replaces it.
		c.log.Warn("kafka reader closed unexpectedly; opening a new one", "err", err)
		c.reopen()
	case AuthError(err):
		c.health.set(condKafka, "cannot authenticate to kafka: "+err.Error())
	default:
		c.health.set(condKafka, "kafka unavailable: "+err.Error())
	}
	wait := b.next()
	c.log.Warn("fetch from kafka failed; waiting for it", "attempt", b.attempt, "backoff", wait, "err", err)
	sleep(ctx, wait)
}

func (c *Consumer) reopen() {
	if err := c.fetcher.Close(); err != nil {
		c.log.Warn("close kafka reader", "err", err)
	}
	c.fetcher = c.deps.Open()
}

// decoded is a batch decoded into rows, and the messages that are not records.
type decoded struct {
	rows   []store.Row
	source []int // rows[i] came from the batch's message source[i]
	dead   []deadLetterSource
}

// decode turns a batch into rows; it runs in the fill's goroutine, ahead of the batch's insert. One fill runs at a
// time, so the consumer's Decoder (which keeps one copy of the values records repeat) is never used concurrently.
func (c *Consumer) decode(batch []kafka.Message) decoded {
	var d decoded
	select {
	case d = <-c.spare:
	default:
	}
	if cap(d.rows) < len(batch) {
		d = decoded{rows: make([]store.Row, 0, len(batch)), source: make([]int, 0, len(batch))}
	}
	now := time.Now() // records more than schema.MaxFuture ahead of it are dead-lettered
	for i, m := range batch {
		rec, err := c.dec.DecodeAt(m.Value, now)
		if err != nil {
			d.dead = append(d.dead, deadLetterSource{m, err})
			continue
		}
		d.rows = append(d.rows, store.Row{Record: rec, Topic: m.Topic, Partition: m.Partition, Offset: m.Offset})
		d.source = append(d.source, i)
	}
	return d
}

// reuse keeps the memory of a processed batch's rows for the next batch to decode into: a backlog's batches of
// 50 000 rows (some 20 MiB) are then not allocated, zeroed by the kernel and collected anew each. Nothing holds the
// rows once process returned (the insert copied them into ClickHouse's columns, Pending kept only their node-hours).
// One is kept, cleared, so it holds no record.
func (c *Consumer) reuse(d decoded) {
	clear(d.rows)
	d = decoded{rows: d.rows[:0], source: d.source[:0]}
	select {
	case c.spare <- d:
	default:
	}
}

func (c *Consumer) process(ctx context.Context, batch []kafka.Message, d decoded) (err error) {
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
	rows, source, dead := d.rows, d.source, d.dead
	start := time.Now()
	rejected, err := c.insert(ctx, rows)
	if err != nil {
		return nil // shutdown: the batch stays uncommitted and is redelivered
	}
	for _, r := range rejected {
		dead = append(dead, deadLetterSource{batch[source[r.row]], r.err})
	}
	stored := len(rows) - len(rejected)
	c.observeBatch(ctx, stored, time.Since(start).Seconds())
	c.log.Debug("batch inserted", "rows", stored, "took", time.Since(start))
	if len(dead) > 0 {
		if err := c.writeDeadLetters(ctx, dead); err != nil {
			return nil // shutdown, as above
		}
	}
	c.Stats.Inserted.Add(int64(stored))
	c.Stats.DeadLettered.Add(int64(len(dead)))
	c.Stats.Rejected.Add(int64(len(rejected)))
	c.Stats.Batches.Add(1)
	if c.afterInsert != nil {
		if err := c.afterInsert(); err != nil {
			return err
		}
	}
	if c.uncommitted == nil {
		c.uncommitted = map[int]kafka.Message{}
	}
	if len(c.uncommitted) == 0 {
		c.oldest = c.now()
	}
	for _, m := range lastPerPartition(batch) {
		c.uncommitted[m.Partition] = m
	}
	if c.deferrer != nil {
		c.pending.Add(rows)
	}
	return nil
}

// flushDue says whether the batches stored so far have waited long enough for their rollups (rollupEvery), or
// too many node-hours wait.
func (c *Consumer) flushDue() bool {
	return len(c.uncommitted) > 0 && (c.now().Sub(c.oldest) >= c.rollupEvery() || c.pending.Len() >= maxPendingNodeHours)
}

// rollupEvery is how long stored batches wait for their rollups during a backlog. A Flush rebuilds every node-hour
// the batches touched from all of its raw rows, so on a wide fleet, whose every batch touches every node of the hour,
// it reads more the further into the hour. The batches wait RollupInterval once they hold at least as many raw rows
// as the last Flush read, and up to maxRollupWait RollupIntervals until then: a backlog's hour is then rebuilt when it
// has doubled, so recomputing reads at most about twice the rows the drain stores, whatever the fleet's width
// (schema/README.md, "Rollups").
func (c *Consumer) rollupEvery() time.Duration {
	if c.pending.Added() >= c.pending.LastRead() {
		return c.cfg.RollupInterval
	}
	return maxRollupWait * c.cfg.RollupInterval
}

// maxRollupWait caps rollupEvery at this many RollupIntervals (a minute by default).
const maxRollupWait = 12

// flushAndCommit recomputes the rollups of the batches stored since the last call, then commits their offsets: the
// offsets of a batch are committed only once ClickHouse has both its rows and its rollups, so a crash in between
// redelivers the batch and its node-hours are recomputed again. When ctx ends first (shutdown), nothing is committed.
func (c *Consumer) flushAndCommit(ctx context.Context) {
	if len(c.uncommitted) == 0 {
		return
	}
	if c.deferrer != nil && c.pending.Len() > 0 {
		n, added, start := c.pending.Len(), c.pending.Added(), c.now()
		if err := c.retrying(ctx, func(ctx context.Context) error { return c.deferrer.Flush(ctx, &c.pending) }, 0); err != nil {
			return // shutdown: the batches stay uncommitted and are redelivered
		}
		c.log.Debug("rollups recomputed", "node_hours", n, "rows_stored", added, "rows_read", c.pending.LastRead(),
			"took", c.now().Sub(start))
	}
	msgs := make([]kafka.Message, 0, len(c.uncommitted))
	for _, m := range c.uncommitted {
		msgs = append(msgs, m)
	}
	clear(c.uncommitted)
	cctx, cancel := context.WithTimeout(ctx, c.cfg.CommitTimeout)
	defer cancel()
	if err := c.fetcher.CommitMessages(cctx, msgs...); err != nil {
		// Not fatal: the batches are stored, and whoever owns these partitions next re-reads and re-inserts them,
		// which the identity key makes harmless.
		c.Stats.CommitErrors.Add(1)
		c.log.Warn("commit offsets failed; the batches will be redelivered and deduplicated", "err", err)
		return
	}
	c.watch.committed(msgs, c.now())
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

// backoff doubles from 100ms up to a cap.
type backoff struct {
	max, cur time.Duration
	attempt  int
}

func newBackoff(max time.Duration) *backoff { return &backoff{max: max} }

func (b *backoff) next() time.Duration {
	b.attempt++
	if b.cur == 0 {
		b.cur = 100 * time.Millisecond
	} else {
		b.cur = min(2*b.cur, b.max)
	}
	return min(b.cur, b.max)
}

func (b *backoff) reset() { b.cur, b.attempt = 0, 0 }

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
