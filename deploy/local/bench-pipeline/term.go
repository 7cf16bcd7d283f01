package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync/atomic"
	"time"

	"github.com/gpumeter/gpumeter/collector/commitment"
	"github.com/gpumeter/gpumeter/collector/store"
	"github.com/gpumeter/gpumeter/internal/fleet"
)

// The commitment term the report is timed on starts on a fixed day.
var termStart = time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)

type termResult struct {
	gpus        int
	days        int
	interval    time.Duration
	rawRows     int
	loadRaw     time.Duration // store.WriteRaw
	loadRollups time.Duration // store.Recompute
	first       time.Duration // the first report (cold caches)
	median      time.Duration // of the runs after it
	runs        int
	reportOut   string
}

// term loads a commitment term's worth of a fleet through the store's public API (raw rows, then the rollups
// recomputed from them), then times `gpumeter-collector report` over it.
func (b *bench) term(ctx context.Context) (*termResult, error) {
	res := &termResult{gpus: b.o.termGPUs, days: b.o.termDays, interval: b.o.termInterval, runs: b.o.reportRuns}
	f, err := fleet.New(fleet.Shape{GPUs: res.gpus, Start: termStart, Duration: time.Duration(res.days) * 24 * time.Hour,
		Interval: res.interval})
	if err != nil {
		return nil, fmt.Errorf("--term-*: %w", err)
	}
	st, err := b.database(ctx)
	if err != nil {
		return nil, err
	}
	defer func() { _ = st.Close() }()
	if res.loadRaw, res.loadRollups, res.rawRows, err = loadTerm(ctx, st, f); err != nil {
		return nil, err
	}
	b.log.Info("term loaded", "raw_rows", res.rawRows, "raw_insert", res.loadRaw.Round(time.Millisecond),
		"rollups", res.loadRollups.Round(time.Millisecond))

	commitments := filepath.Join(b.o.outDir, "term-commitments.yaml")
	if err := os.WriteFile(commitments, []byte(termCommitments(res.gpus, res.days)), 0o644); err != nil {
		return nil, err
	}
	// Loaded as `migrate --commitments` loads them: report only reads.
	cs, err := commitment.Load(commitments)
	if err != nil {
		return nil, err
	}
	if err := commitment.SyncFile(ctx, st.Conn(), st.Database(), cs); err != nil {
		return nil, err
	}
	res.reportOut = filepath.Join(b.o.outDir, "term-report.txt")
	at := termStart.Add(time.Duration(res.days) * 24 * time.Hour)
	report := func(extra ...string) (time.Duration, error) {
		args := append([]string{"report", "--clickhouse-addr=" + b.o.clickhouse, "--clickhouse-database=" + st.Database(),
			"--at=" + at.Format(time.RFC3339), "--format=table", "--out=" + res.reportOut, "--clickhouse-cluster=" + b.o.cluster}, extra...)
		cmd := exec.CommandContext(ctx, b.o.collector, args...)
		start := time.Now()
		out, err := cmd.CombinedOutput()
		if err != nil {
			return 0, fmt.Errorf("%s report: %w\n%s", b.o.collector, err, out)
		}
		return time.Since(start), nil
	}
	if res.first, err = report(); err != nil {
		return nil, err
	}
	var runs []time.Duration
	for range res.runs {
		d, err := report()
		if err != nil {
			return nil, err
		}
		runs = append(runs, d)
	}
	slices.Sort(runs)
	res.median = runs[len(runs)/2]
	return res, nil
}

// loadTerm stores the fleet through the store's public API, as the collector's writes leave it: raw rows with
// store.WriteRaw in batches of at most 100 000, and the rollups recomputed from them once per day loaded (not once per
// batch, so a day is not recomputed 24 times over while it fills). The next batch is generated while the last one is
// written (one writer, in order), so the load takes the inserts' time rather than the inserts' and the generator's.
func loadTerm(ctx context.Context, st *store.Store, f *fleet.Fleet) (raw, rollups time.Duration, n int, err error) {
	const batch = 100000
	type work struct {
		rows    []store.Row
		endsDay bool // recompute the rollups of what was written so far after this batch
	}
	todo := make(chan work, 1)
	free := make(chan []store.Row, 2)
	free <- make([]store.Row, 0, batch)
	free <- make([]store.Row, 0, batch)
	done := make(chan error, 1)
	var stop atomic.Bool // the writer failed: generate no more
	go func() {
		var pending rollupQueue
		var failed error
		for w := range todo {
			if failed == nil && len(w.rows) > 0 {
				start := time.Now()
				failed = st.WriteRaw(ctx, w.rows)
				raw += time.Since(start)
				pending.add(w.rows)
			}
			if failed == nil && w.endsDay {
				start := time.Now()
				failed = pending.flush(ctx, st)
				rollups += time.Since(start)
			}
			stop.Store(failed != nil)
			free <- w.rows[:0]
		}
		done <- failed
	}()
	rows := <-free
	send := func(endsDay bool) {
		todo <- work{rows, endsDay}
		rows = <-free
	}
	day := f.Shape().Start.Add(24 * time.Hour)
	for r := range f.All() {
		if stop.Load() {
			break
		}
		if !r.IntervalStart.Before(day) {
			send(true)
			day = day.Add(24 * time.Hour)
		}
		rows = append(rows, store.Row{Record: *r, Topic: "gpumeter.usage.v1", Offset: int64(n)})
		n++
		if len(rows) == batch {
			send(false)
		}
	}
	send(true)
	close(todo)
	err = <-done // raw and rollups are the writer's, read after it ended
	return raw, rollups, n, err
}

// rollupQueue gathers what rows written with WriteRaw touched, until flush recomputes those rollups through the store.
type rollupQueue struct{ pending store.Pending }

func (q *rollupQueue) add(rows []store.Row) { q.pending.Add(rows) }

func (q *rollupQueue) flush(ctx context.Context, st *store.Store) error {
	return st.Flush(ctx, &q.pending)
}

// termCommitments are the three kinds over the term, sized to the fleet (internal/fleet puts half the nodes on
// Azure, 30 % on OCI, 20 % on AWS): an Azure capacity reservation a little above the Azure GPUs, an OCI usage
// commitment, and an AWS spend commitment with a rate card.
func termCommitments(gpus, days int) string {
	end := termStart.Add(time.Duration(days) * 24 * time.Hour)
	term := fmt.Sprintf("{start: %s, end: %s}", termStart.Format(time.RFC3339), end.Format(time.RFC3339))
	hours := float64(days * 24)
	return fmt.Sprintf(`currency: USD
commitments:
  - id: bench-azure-capacity
    name: Azure ND H100 v5 capacity reservation (benchmark)
    provider: azure
    scope: {region: eastus, instance_type: Standard_ND96isr_H100_v5}
    kind: capacity
    quantity: %d
    unit: gpu
    term: %s
    team: platform
  - id: bench-oci-usage
    name: OCI BM.GPU.H100.8 usage commitment (benchmark)
    provider: oracle_cloud
    scope: {region: us-ashburn-1}
    kind: usage
    quantity: %.0f
    unit: gpu_hour
    term: %s
    team: research
  - id: bench-aws-spend
    name: AWS GPU spend commitment (benchmark)
    provider: aws
    scope: {region: us-east-1}
    kind: spend
    quantity: %.0f
    unit: USD
    term: %s
    team: finops
    rate_card:
      - {instance_type: p5.48xlarge, price_per_gpu_hour: 6.88}
`, max(1, gpus*55/100), term, max(1, float64(gpus)*0.3*hours), term, max(1, float64(gpus)*0.2*hours*6.88*1.1), term)
}
