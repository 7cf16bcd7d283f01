package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gpumeter/gpumeter/agent/spool"
	"github.com/gpumeter/gpumeter/internal/fleet"
	"github.com/gpumeter/gpumeter/schema"
)

// Live mode: records produced at a steady rate; sample-to-queryable latency of a record is
//
//	(end of the first gpu_usage query that returns it) − (the moment it was handed to the agent's Kafka producer)
//
// For an agent, handing a record to the producer is what it does the moment it closes the window (after the spool
// append), so this is "window closed → visible to analysts". It is measured on probes (about 20 a second, spread over
// the stream), polled every pollEvery; the figure is an upper bound by at most one poll and one query.
const (
	probesPerSecond = 20
	pollEvery       = 100 * time.Millisecond
	liveGrace       = time.Minute // how long after the last record a probe may still arrive
	notSeen         = time.Duration(1<<63 - 1)
)

type liveResult struct {
	rate             int
	gpus             int
	ran              time.Duration
	sent             int
	probes, seen     int
	p50, p99, max    time.Duration
	drainedAfterStop time.Duration // from the last record produced to every offset committed
	batch            int
}

type probe struct {
	node, uuid string
	window     int64
	sent       time.Time
}

func (b *bench) live(ctx context.Context) (*liveResult, error) {
	res := &liveResult{rate: b.o.liveRate, gpus: b.o.liveRate * 60, batch: b.o.liveBatch}
	// A fleet whose records, one per GPU a minute, come at exactly the rate; its times start a minute before now, so
	// records are current.
	start := time.Now().UTC().Truncate(time.Minute).Add(-time.Minute)
	intervals := int(b.o.liveFor/time.Minute) + 2
	f, err := fleet.New(fleet.Shape{GPUs: res.gpus, Start: start, Duration: time.Duration(intervals) * time.Minute})
	if err != nil {
		return nil, err
	}
	topic, err := b.topic(ctx)
	if err != nil {
		return nil, err
	}
	st, err := b.database(ctx)
	if err != nil {
		return nil, err
	}
	db := st.Database()
	_ = st.Close()
	group := b.name("group")
	p, err := b.startCollector(topic, group, db, b.o.liveBatch)
	if err != nil {
		return nil, err
	}
	defer func() { _ = p.stop() }()
	if err := b.waitStable(ctx, p, group); err != nil {
		return nil, err
	}

	var (
		mu          sync.Mutex
		outstanding = map[string]probe{}
		latencies   []time.Duration
		seen        []probe
	)
	key := func(node, uuid string, window int64) string { return fmt.Sprintf("%s/%s/%d", node, uuid, window) }
	pctx, stopPoll := context.WithCancel(ctx)
	pollDone := make(chan error, 1)
	go func() { pollDone <- b.pollProbes(pctx, db, &mu, outstanding, &latencies, &seen, key) }()
	polling := true
	defer func() {
		if polling {
			stopPoll()
			<-pollDone
		}
	}()

	prod := b.producer(topic)
	probeEvery := max(1, b.o.liveRate/probesPerSecond)
	t0 := time.Now()
	var rec schema.Record
	for k := 0; ; {
		elapsed := time.Since(t0)
		if elapsed >= b.o.liveFor {
			break
		}
		due := int(elapsed.Seconds() * float64(b.o.liveRate))
		var msgs []spool.Entry
		var probes []probe
		for ; k < due; k++ {
			f.Record(k/res.gpus, k%res.gpus, &rec)
			v, err := schema.Encode(&rec)
			if err != nil {
				return nil, err
			}
			msgs = append(msgs, spool.Entry{Key: rec.Key(), Value: v})
			if k%probeEvery == 0 {
				probes = append(probes, probe{node: rec.Node, uuid: rec.GPUUUID, window: rec.WindowStart.Unix()})
			}
		}
		if len(msgs) > 0 {
			sent := time.Now()
			mu.Lock()
			for _, pr := range probes {
				pr.sent = sent
				outstanding[key(pr.node, pr.uuid, pr.window)] = pr
			}
			mu.Unlock()
			res.probes += len(probes)
			if err := prod.Send(ctx, msgs); err != nil {
				return nil, err
			}
			res.sent += len(msgs)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
	_ = prod.Close()
	stoppedAt := time.Now()
	res.ran = stoppedAt.Sub(t0)
	end, err := b.endOffsets(ctx, topic)
	if err != nil {
		return nil, err
	}
	for time.Since(stoppedAt) < liveGrace {
		done, err := b.committedAll(ctx, group, topic, end)
		if err != nil {
			return nil, err
		}
		mu.Lock()
		left := len(outstanding)
		mu.Unlock()
		if done && res.drainedAfterStop == 0 {
			res.drainedAfterStop = time.Since(stoppedAt)
		}
		if done && left == 0 {
			break
		}
		time.Sleep(pollEvery)
	}
	stopPoll()
	polling = false
	if err := <-pollDone; err != nil {
		return nil, err
	}
	if err := b.checkProbes(ctx, db, seen); err != nil {
		return nil, err
	}
	res.seen = len(latencies)
	// A probe never seen counts as slower than any seen, so a collector that falls behind cannot look fast.
	for range res.probes - res.seen {
		latencies = append(latencies, notSeen)
	}
	slices.Sort(latencies)
	if n := len(latencies); n > 0 {
		res.p50, res.p99, res.max = latencies[n/2], latencies[min(n-1, n*99/100)], latencies[n-1]
	}
	return res, nil
}

// pollProbes asks, every pollEvery, which outstanding probes are visible, and records their latency. gpu_usage is
// `SELECT … FROM usage_raw FINAL` (migration 0002), so a row is visible in the view exactly when that expression
// returns it; the poll queries the expression itself with the probes' time bounds, because ClickHouse 18.16 does not
// push a WHERE into the view, and polling the view would scan all of usage_raw ten times a second. checkProbes
// confirms through the view itself at the end.
func (b *bench) pollProbes(ctx context.Context, db string, mu *sync.Mutex, outstanding map[string]probe,
	latencies *[]time.Duration, seen *[]probe, key func(string, string, int64) string) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(pollEvery):
		}
		mu.Lock()
		var tuples []string
		lo, hi := int64(1<<62), int64(0)
		for _, p := range outstanding {
			tuples = append(tuples, fmt.Sprintf("('%s', '%s')", p.node, p.uuid))
			lo, hi = min(lo, p.window), max(hi, p.window)
		}
		mu.Unlock()
		if len(tuples) == 0 {
			continue
		}
		q := fmt.Sprintf(`SELECT node, gpu_uuid, toUInt32(window_start) FROM %s.usage_raw FINAL
WHERE interval_start >= toDateTime(%d) AND interval_start <= toDateTime(%d) AND (node, gpu_uuid) IN (%s)`,
			db, lo, hi, strings.Join(tuples, ", "))
		rows, err := b.ch.Query(ctx, q)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("poll gpu_usage for probes: %w", err)
		}
		var found []string
		for rows.Next() {
			var node, uuid string
			var ws uint32
			if err := rows.Scan(&node, &uuid, &ws); err != nil {
				rows.Close()
				return fmt.Errorf("poll gpu_usage for probes: %w", err)
			}
			found = append(found, key(node, uuid, int64(ws)))
		}
		rows.Close()
		now := time.Now()
		mu.Lock()
		for _, k := range found {
			if p, ok := outstanding[k]; ok {
				*latencies = append(*latencies, now.Sub(p.sent))
				*seen = append(*seen, p)
				delete(outstanding, k)
			}
		}
		mu.Unlock()
	}
}

// checkProbes confirms through gpu_usage itself that it shows every probe that was seen (a thousand at a time, to
// stay under ClickHouse's max_query_size).
func (b *bench) checkProbes(ctx context.Context, db string, seen []probe) error {
	for chunk := range slices.Chunk(seen, 1000) {
		tuples := make([]string, len(chunk))
		for i, p := range chunk {
			tuples[i] = fmt.Sprintf("('%s', '%s', toDateTime(%d))", p.node, p.uuid, p.window)
		}
		var n uint64
		q := fmt.Sprintf("SELECT count() FROM %s.gpu_usage WHERE (node, gpu_uuid, window_start) IN (%s)", db, strings.Join(tuples, ", "))
		if err := b.ch.QueryRow(ctx, q).Scan(&n); err != nil {
			return fmt.Errorf("check probes in gpu_usage: %w", err)
		}
		if n != uint64(len(chunk)) {
			return fmt.Errorf("gpu_usage shows %d of %d probes seen in usage_raw FINAL", n, len(chunk))
		}
	}
	return nil
}
