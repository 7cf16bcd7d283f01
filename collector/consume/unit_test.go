package consume

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/segmentio/kafka-go"

	"github.com/gpumeter/gpumeter/collector/store"
	"github.com/gpumeter/gpumeter/schema"
)

func goodMessages(t *testing.T, n, from int) []kafka.Message { return goodMessagesTB(t, n, from) }

func goodMessagesB(b *testing.B, n int) []kafka.Message { return goodMessagesTB(b, n, 0) }

func goodMessagesTB(t testing.TB, n, from int) []kafka.Message {
	t.Helper()
	recs := records(from + n)[from:]
	out := make([]kafka.Message, n)
	for i := range recs {
		b, err := schema.Encode(&recs[i])
		if err != nil {
			t.Fatal(err)
		}
		out[i] = kafka.Message{Key: recs[i].Key(), Value: b}
	}
	return out
}

func headerMap(m kafka.Message) map[string]string {
	h := map[string]string{}
	for _, kv := range m.Headers {
		h[kv.Key] = string(kv.Value)
	}
	return h
}

// A Kafka outage of any length is waited out: Run does not return, readiness says why meanwhile, and everything
// produced before, during and after the outage is stored once Kafka is back. (Before: Run returned the first fetch
// error, and the collector exited.)
func TestKafkaOutageIsWaitedOut(t *testing.T) {
	u := newUnit(t, 2, nil)
	u.k.produce(0, goodMessages(t, 10, 0)...)
	u.start(t)
	eventually(t, "first records stored", func() bool { return u.sink.Len() == 10 })

	down := fmt.Errorf("fetch: dial tcp 127.0.0.1:9092: connect: connection refused")
	u.k.mu.Lock()
	u.k.offsetsErr = down
	u.k.mu.Unlock()
	u.k.setFetchErr(down)
	u.k.produce(1, goodMessages(t, 10, 10)...) // produced while the consumer cannot reach the broker
	eventually(t, "readiness says Kafka is away", func() bool {
		err := u.c.Ready(t.Context())
		return err != nil && strings.Contains(err.Error(), "kafka unavailable") && strings.Contains(err.Error(), "connection refused")
	})
	failed := u.c.Stats.FetchErrors.Load()
	eventually(t, "many failed fetches waited out", func() bool { return u.c.Stats.FetchErrors.Load() >= failed+20 })
	select {
	case err := <-u.done:
		t.Fatalf("Run returned during the outage: %v", err)
	default:
	}

	u.k.mu.Lock()
	u.k.offsetsErr = nil
	u.k.mu.Unlock()
	u.k.setFetchErr(nil)
	eventually(t, "every record stored after the outage", func() bool { return u.sink.Len() == 20 })
	eventually(t, "ready again", func() bool { return u.c.Ready(t.Context()) == nil })
	if err := u.stop(t); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if c0, c1 := u.k.committedAt(0), u.k.committedAt(1); c0 != 10 || c1 != 10 {
		t.Errorf("committed %d and %d, want 10 and 10", c0, c1)
	}
}

// A wrong SASL password reads as what it is, on the fetch path and in readiness.
func TestAuthenticationFailureInReadiness(t *testing.T) {
	u := newUnit(t, 1, nil)
	u.k.setFetchErr(fmt.Errorf("could not successfully authenticate to 127.0.0.1:9092 with SASL: %w", kafka.SASLAuthenticationFailed))
	u.start(t)
	eventually(t, "readiness says cannot authenticate", func() bool {
		err := u.c.Ready(t.Context())
		return err != nil && strings.Contains(err.Error(), "cannot authenticate to kafka")
	})
}

// A poison message with a 2 MB key, a 3 MB invalid value and 2 MB of headers is dead-lettered within the budget that
// always fits (the fake broker refuses what the real one does by default: more than 1 MiB), with a pointer to its
// source and its original sizes, and the good records behind it and on other partitions are stored. (Before: only
// the value was capped, the dead letter never fit, and retry blocked every partition forever.)
func TestHugePoisonIsDeadLetteredWithinLimits(t *testing.T) {
	u := newUnit(t, 2, nil)
	u.k.dlqMaxBytes = 1 << 20
	key := bytes.Repeat([]byte("k"), 2<<20)
	value := bytes.Repeat([]byte("\xff"), 3<<20)
	var headers []kafka.Header
	for i := range 32 {
		headers = append(headers, kafka.Header{Key: "h" + strconv.Itoa(i), Value: bytes.Repeat([]byte("v"), 64<<10)})
	}
	u.k.produce(0, kafka.Message{Key: key, Value: value, Headers: headers})
	u.k.produce(0, goodMessages(t, 10, 0)...)
	u.k.produce(1, goodMessages(t, 10, 10)...)
	u.start(t)
	eventually(t, "good records stored", func() bool { return u.sink.Len() == 20 })
	eventually(t, "poison dead-lettered", func() bool { return len(u.k.deadLetters()) == 1 })
	eventually(t, "partition 0 committed to its end", func() bool { return u.k.committedAt(0) == 11 })

	d := u.k.deadLetters()[0]
	if n := messageBytes(d); n > defaultDeadLetterLimits.total {
		t.Errorf("dead letter has %d bytes, over the %d budget", n, defaultDeadLetterLimits.total)
	}
	h := headerMap(d)
	for k, want := range map[string]string{HeaderTopic: "usage", HeaderPartition: "0", HeaderOffset: "0",
		HeaderKeyTruncated: strconv.Itoa(len(key)), HeaderTruncated: strconv.Itoa(len(value))} {
		if h[k] != want {
			t.Errorf("header %s = %q, want %q", k, h[k], want)
		}
	}
	if !strings.Contains(h[HeaderHeadersDropped], "headers") || h[HeaderError] == "" {
		t.Errorf("headers %s=%q %s=%q: want the dropped headers counted and the reason", HeaderHeadersDropped,
			h[HeaderHeadersDropped], HeaderError, h[HeaderError])
	}
	if !bytes.HasPrefix(key, d.Key) || !bytes.HasPrefix(value, d.Value) || len(d.Value) == 0 {
		t.Errorf("dead letter key (%d bytes) and value (%d bytes) must be prefixes of the originals", len(d.Key), len(d.Value))
	}
}

// A broker whose dead-letter topic takes less than the default budget (max.message.bytes lowered) gets the dead
// letter again on a smaller budget rather than a retry forever.
func TestDeadLetterShrinksForASmallTopic(t *testing.T) {
	u := newUnit(t, 1, nil)
	u.k.dlqMaxBytes = 20 << 10
	u.k.produce(0, kafka.Message{Key: []byte("n"), Value: bytes.Repeat([]byte("x"), 400<<10)})
	u.k.produce(0, goodMessages(t, 3, 0)...)
	u.start(t)
	eventually(t, "dead-lettered", func() bool { return len(u.k.deadLetters()) == 1 })
	eventually(t, "committed", func() bool { return u.k.committedAt(0) == 4 })
	if d := u.k.deadLetters()[0]; headerMap(d)[HeaderOffset] != "0" {
		t.Errorf("dead letter lost its pointer: %v", headerMap(d))
	}
}

// An empty value stays empty in the dead-letter topic, not null.
func TestDeadLetterKeepsEmptyValueEmpty(t *testing.T) {
	d := deadLetter(kafka.Message{Topic: "t", Key: []byte("k")}, errors.New("malformed"), defaultDeadLetterLimits)
	if d.Value == nil || len(d.Value) != 0 {
		t.Errorf("dead letter value %#v, want empty and non-nil (kafka-go writes nil as null)", d.Value)
	}
}

// rowRefusal is what ClickHouse answers for a value it cannot store.
var rowRefusal = &clickhouse.Exception{Code: 53, Name: "DB::Exception", Message: "Type mismatch in column gpu_model"}

// A batch that ClickHouse rejects for good because of some rows is bisected: the offending rows are dead-lettered
// with the server's reason, every other row is stored, and the offsets move on. (Before: the whole batch was retried
// forever.)
func TestRejectedRowsAreBisectedOut(t *testing.T) {
	u := newUnit(t, 1, func(cfg *Config, _ *Deps) { cfg.BatchSize = 64; cfg.BatchWait = time.Second })
	bad := map[string]bool{}
	msgs := goodMessages(t, 64, 0)
	for _, i := range []int{5, 40} {
		rec, _ := schema.Decode(msgs[i].Value)
		bad[rec.GPUUUID+rec.WindowStart.String()+rec.Node] = true
	}
	u.sink.Fail = func(_ context.Context, rows []store.Row) error {
		for _, r := range rows {
			if bad[r.GPUUUID+r.WindowStart.String()+r.Node] {
				return fmt.Errorf("insert %d rows: %w", len(rows), rowRefusal)
			}
		}
		return nil
	}
	u.k.produce(0, msgs...)
	u.start(t)
	eventually(t, "committed", func() bool { return u.k.committedAt(0) == 64 })
	if got := u.sink.Len(); got != 62 {
		t.Errorf("stored %d rows, want the 62 good ones", got)
	}
	dead := u.k.deadLetters()
	if len(dead) != 2 {
		t.Fatalf("%d dead letters, want 2", len(dead))
	}
	for i, want := range []string{"5", "40"} {
		h := headerMap(dead[i])
		if h[HeaderOffset] != want || !strings.Contains(h[HeaderError], "Type mismatch") {
			t.Errorf("dead letter %d: offset %s reason %q, want offset %s and the server's reason", i, h[HeaderOffset], h[HeaderError], want)
		}
	}
	if got := u.c.Stats.Rejected.Load(); got != 2 {
		t.Errorf("Stats.Rejected = %d, want 2", got)
	}
	// Bisecting costs O(bad · log n) inserts, not one per row.
	if calls := u.sink.Calls(); calls > 40 {
		t.Errorf("%d insert calls for 64 rows with 2 bad ones", calls)
	}
}

// A failed rollup recomputation is not the rows' fault: nothing is dead-lettered, it is retried.
func TestRollupFailureIsNotBlamedOnRows(t *testing.T) {
	if got := store.Classify(fmt.Errorf("insert: %w", rowRefusal)); got != store.Rejected {
		t.Errorf("row refusal classified %s", got)
	}
	for _, tc := range []struct {
		err  error
		want store.Failure
	}{
		{&clickhouse.Exception{Code: 60, Message: "Table gpumeter.usage_raw doesn't exist."}, store.Missing},
		{&clickhouse.Exception{Code: 81, Message: "Database gpumeter doesn't exist"}, store.Missing},
		{&clickhouse.Exception{Code: 16, Message: "No such column team in table gpumeter.usage_raw"}, store.Missing},
		{&clickhouse.Exception{Code: 516, Message: "default: Authentication failed"}, store.Refused},
		{errors.New("dial tcp: connection refused"), store.Transient},
		{&clickhouse.Exception{Code: 252, Message: "Too many partitions for single INSERT block"}, store.Rejected},
	} {
		if got := store.Classify(tc.err); got != tc.want {
			t.Errorf("Classify(%v) = %s, want %s", tc.err, got, tc.want)
		}
	}
}

// An insert that fails because a table is missing says what is missing in readiness, re-runs the migrations through
// the Repair hook, then stores the batch. (Before: code 60 was retried blindly forever.)
func TestMissingTableRunsMigrations(t *testing.T) {
	var mu sync.Mutex
	missing := true
	var readyDuringRepair error
	u := newUnit(t, 1, nil)
	u.c.deps.Repair = func(context.Context) error {
		mu.Lock()
		defer mu.Unlock()
		readyDuringRepair = u.c.Ready(context.Background())
		missing = false
		return nil
	}
	u.sink.Fail = func(context.Context, []store.Row) error {
		mu.Lock()
		defer mu.Unlock()
		if missing {
			return fmt.Errorf("prepare insert: %w", &clickhouse.Exception{Code: 60, Message: "Table gpumeter.usage_raw doesn't exist."})
		}
		return nil
	}
	u.k.produce(0, goodMessages(t, 5, 0)...)
	u.start(t)
	eventually(t, "stored after the repair", func() bool { return u.sink.Len() == 5 })
	mu.Lock()
	defer mu.Unlock()
	if readyDuringRepair == nil || !strings.Contains(readyDuringRepair.Error(), "cannot write") ||
		!strings.Contains(readyDuringRepair.Error(), "usage_raw doesn't exist") {
		t.Errorf("readiness during the repair = %v, want it to say cannot write and what is missing", readyDuringRepair)
	}
	if u.c.Stats.Repairs.Load() != 1 || len(u.k.deadLetters()) != 0 {
		t.Errorf("repairs %d, dead letters %d; want 1 and 0", u.c.Stats.Repairs.Load(), len(u.k.deadLetters()))
	}
	if err := u.c.Ready(t.Context()); err != nil {
		t.Errorf("still not ready after the repair: %v", err)
	}
}

// A topic deleted and recreated (the group's committed offset now beyond the partition's end) is detected, counted,
// and the new partition read from its start. (Before: kafka-go waited silently until the new topic grew past the old
// offset, and the records before it were never stored.)
func TestRecreatedTopicIsReadFromItsStart(t *testing.T) {
	u := newUnit(t, 2, nil)
	u.k.produce(0, goodMessages(t, 20, 0)...)
	u.k.produce(1, goodMessages(t, 20, 20)...)
	u.start(t)
	eventually(t, "first topic stored", func() bool { return u.sink.Len() == 40 && u.k.committedAt(0) == 20 && u.k.committedAt(1) == 20 })

	u.k.recreate()
	u.k.produce(0, goodMessages(t, 5, 40)...)
	u.k.produce(1, goodMessages(t, 7, 45)...)
	eventually(t, "the new topic stored", func() bool { return u.sink.Len() == 52 })
	eventually(t, "committed on the new topic", func() bool { return u.k.committedAt(0) == 5 && u.k.committedAt(1) == 7 })
	if got := u.c.Stats.TopicResets.Load(); got != 2 {
		t.Errorf("TopicResets = %d, want both partitions counted", got)
	}
}

// The lag is the group's, from the broker's committed offsets (before: kafka-go's group reader reported 0); a
// partition with lag and no commit for StallAfter is a stall, in readiness and the stalled gauge, until it moves.
func TestLagAndStall(t *testing.T) {
	u := newUnit(t, 2, func(cfg *Config, _ *Deps) { cfg.StallAfter = time.Minute })
	now := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	u.c.now = func() time.Time { return now }
	u.k.produce(0, goodMessages(t, 30, 0)...)
	u.k.produce(1, goodMessages(t, 12, 30)...)
	u.k.committed[0] = 10 // partition 1: nothing committed yet
	ctx := t.Context()
	u.c.checkOffsets(ctx)
	if lag := u.c.Lag(); lag != 20+12 {
		t.Errorf("lag %d, want 32", lag)
	}
	now = now.Add(59 * time.Second)
	u.c.checkOffsets(ctx)
	if u.c.watch.stalled.Load() != 0 || u.c.Ready(ctx) != nil {
		t.Errorf("stalled %d before StallAfter (ready: %v)", u.c.watch.stalled.Load(), u.c.Ready(ctx))
	}
	now = now.Add(time.Second)
	u.c.checkOffsets(ctx)
	if got := u.c.watch.stalled.Load(); got != 2 {
		t.Errorf("stalled partitions %d, want 2", got)
	}
	if err := u.c.Ready(ctx); err == nil || !strings.Contains(err.Error(), "stalled") {
		t.Errorf("readiness %v, want stalled", err)
	}
	u.k.committed[0], u.k.committed[1] = 30, 12
	u.c.checkOffsets(ctx)
	if u.c.watch.stalled.Load() != 0 || u.c.Lag() != 0 || u.c.Ready(ctx) != nil {
		t.Errorf("after the commits: stalled %d lag %d ready %v, want 0, 0, nil", u.c.watch.stalled.Load(), u.c.Lag(), u.c.Ready(ctx))
	}
}

// A batch is bounded by bytes as well as by records.
func TestBatchIsBoundedByBytes(t *testing.T) {
	u := newUnit(t, 1, func(cfg *Config, _ *Deps) {
		cfg.BatchSize = 1000
		cfg.BatchBytes = 8 << 10
		cfg.BatchWait = time.Second
	})
	msgs := goodMessages(t, 100, 0)
	u.k.produce(0, msgs...)
	u.start(t)
	eventually(t, "stored", func() bool { return u.sink.Len() == 100 })
	per := messageBytes(msgs[0])
	if want := (8<<10)/per + 1; u.sink.Batches() < 100/want {
		t.Errorf("%d batches for 100 records of %d bytes with an 8 KiB batch budget, want at least %d", u.sink.Batches(), per, 100/want)
	}
}

// Shutdown honours FlushTimeout whatever hangs: an insert that never succeeds and a reader whose Close never
// returns. (Before: Close was waited for without bound.)
func TestShutdownTimeoutBoundsEverything(t *testing.T) {
	release := make(chan struct{})
	u := newUnit(t, 1, func(cfg *Config, _ *Deps) { cfg.FlushTimeout = 100 * time.Millisecond })
	u.k.closeBlock = release
	defer close(release) // lets the abandoned Close end before goleak looks
	u.sink.Fail = func(context.Context, []store.Row) error { return errors.New("dial tcp: connection refused") }
	u.k.produce(0, goodMessages(t, 3, 0)...)
	u.start(t)
	eventually(t, "insert failing", func() bool { return u.sink.Calls() > 0 })
	if err := u.stop(t); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if u.k.committedAt(0) != -1 {
		t.Errorf("committed %d with nothing stored", u.k.committedAt(0))
	}
}

// countingHandler counts log records by message.
type countingHandler struct {
	mu   sync.Mutex
	msgs map[string]int
}

func (h *countingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *countingHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.msgs[r.Message]++
	return nil
}
func (h *countingHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *countingHandler) WithGroup(string) slog.Handler      { return h }

// Dead letters are counted, not logged one line each.
func TestDeadLettersAreNotLoggedPerRecord(t *testing.T) {
	u := newUnit(t, 1, nil)
	h := &countingHandler{msgs: map[string]int{}}
	u.c = New(u.c.cfg, u.c.deps, slog.New(h))
	for range 200 {
		u.k.produce(0, kafka.Message{Key: []byte("n"), Value: []byte("not json")})
	}
	u.start(t)
	eventually(t, "dead-lettered", func() bool { return u.c.Stats.DeadLettered.Load() == 200 })
	h.mu.Lock()
	defer h.mu.Unlock()
	if n := h.msgs["dead-lettered a record"]; n > 2 {
		t.Errorf("%d log lines for 200 dead letters", n)
	}
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Errorf("defaults: %v", err)
	}
	bad := DefaultConfig()
	bad.DLQTopic, bad.BatchBytes, bad.StallAfter = bad.Topic, 0, -time.Second
	err := bad.Validate()
	for _, want := range []string{"--dlq-topic", "--batch-bytes", "--stall-after"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v, want it to name %s", err, want)
		}
	}
}
