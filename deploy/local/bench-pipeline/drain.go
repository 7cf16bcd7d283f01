package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/gpumeter/gpumeter/collector/store"
	"github.com/gpumeter/gpumeter/internal/fleet"
	"github.com/gpumeter/gpumeter/internal/procstat"
)

// Drain shapes start on a fixed, aligned day, so runs insert the same rows.
var drainStart = time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)

type drainResult struct {
	shape   shape
	records int
	bytes   int64
	batch   int

	ceiling   float64 // rows/s, native inserts of the same rows
	collector float64 // rows/s, the collector draining the topic
	cpu       time.Duration
	peakRSS   int64
	stored    uint64

	chCeilingCPU, chDrainCPU time.Duration // ClickHouse server CPU over the ceiling's inserts and the drain; -1: unknown
}

// drainShape preloads one topic with the shape's records and measures, per batch size, the ceiling and the drain.
func (b *bench) drainShape(ctx context.Context, s shape, batches []int) ([]drainResult, error) {
	f, err := fleet.New(fleet.Shape{GPUs: s.gpus, Start: drainStart, Duration: s.duration})
	if err != nil {
		return nil, err
	}
	topic, err := b.topic(ctx)
	if err != nil {
		return nil, err
	}
	n, bytes, err := b.preload(ctx, topic, f)
	if err != nil {
		return nil, err
	}
	end, err := b.endOffsets(ctx, topic)
	if err != nil {
		return nil, err
	}
	var out []drainResult
	for _, batch := range batches {
		r := drainResult{shape: s, records: n, bytes: bytes, batch: batch}
		ch := b.serverCPU()
		if r.ceiling, err = b.ceiling(ctx, f, topic, batch); err != nil {
			return out, err
		}
		r.chCeilingCPU = ch()
		ch = b.serverCPU()
		if err := b.drain(ctx, topic, end, &r); err != nil {
			return out, err
		}
		r.chDrainCPU = ch()
		b.log.Info("measured", "shape", s.String(), "batch", batch, "ceiling_rows_per_s", int(r.ceiling),
			"collector_rows_per_s", int(r.collector), "collector_cpu", r.cpu)
		out = append(out, r)
	}
	return out, nil
}

// ceiling inserts the shape's rows, batch by batch, natively (clickhouse-go, the store's raw insert) into a fresh
// usage_raw, and returns rows per second of insert time. Generating the rows is not timed.
func (b *bench) ceiling(ctx context.Context, f *fleet.Fleet, topic string, batch int) (float64, error) {
	st, err := b.database(ctx)
	if err != nil {
		return 0, err
	}
	defer func() { _ = st.Close() }()
	rows := make([]store.Row, 0, batch)
	partitions := make([]int, b.o.partitions)
	for i := range partitions {
		partitions[i] = i
	}
	var (
		took    time.Duration
		n       int
		hash    kafka.Hash
		offsets = make([]int64, b.o.partitions)
	)
	insert := func() error {
		start := time.Now()
		if err := st.WriteRaw(ctx, rows); err != nil {
			return err
		}
		took += time.Since(start)
		n += len(rows)
		rows = rows[:0]
		return nil
	}
	for r := range f.All() {
		p := hash.Balance(kafka.Message{Key: r.Key()}, partitions...)
		rows = append(rows, store.Row{Record: *r, Topic: topic, Partition: p, Offset: offsets[p]})
		offsets[p]++
		if len(rows) == batch {
			if err := insert(); err != nil {
				return 0, err
			}
		}
	}
	if err := insert(); err != nil {
		return 0, err
	}
	return float64(n) / took.Seconds(), nil
}

// collectorProc is a running gpumeter-collector.
type collectorProc struct {
	cmd     *exec.Cmd
	done    chan error
	metrics string
	logPath string
}

// startCollector runs the real collector binary on topic into database db with a fresh group.
func (b *bench) startCollector(topic, group, db string, batch int) (*collectorProc, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	logPath := filepath.Join(b.o.outDir, group+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	args := []string{"run", "--kafka-brokers=" + b.o.kafka, "--topic=" + topic, "--dlq-topic=" + topic + "_dlq",
		"--group=" + group, "--clickhouse-addr=" + b.o.clickhouse, "--clickhouse-database=" + db,
		"--metrics-addr=127.0.0.1:" + strconv.Itoa(port), "--create-topics=false", "--log-level=warn"}
	if batch > 0 {
		args = append(args, "--batch-size="+strconv.Itoa(batch))
	}
	if b.o.cluster != "" {
		args = append(args, "--clickhouse-cluster="+b.o.cluster)
	}
	cmd := exec.Command(b.o.collector, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		_ = logFile.Close()
		return nil, fmt.Errorf("start %s: %w", b.o.collector, err)
	}
	p := &collectorProc{cmd: cmd, done: make(chan error, 1), metrics: "127.0.0.1:" + strconv.Itoa(port), logPath: logPath}
	b.log.Info("collector started", "pid", cmd.Process.Pid, "group", group, "batch", batch, "log", logPath)
	go func() { p.done <- cmd.Wait(); _ = logFile.Close() }()
	return p, nil
}

// stop sends SIGTERM and waits; a collector that does not stop in a minute is killed.
func (p *collectorProc) stop() error {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		p.done <- err
		if err != nil {
			return fmt.Errorf("collector exited: %w (log %s)", err, p.logPath)
		}
		return nil
	case <-time.After(time.Minute):
		_ = p.cmd.Process.Kill()
		return fmt.Errorf("collector did not stop within a minute of SIGTERM (log %s)", p.logPath)
	}
}

func (p *collectorProc) exited() error {
	select {
	case err := <-p.done:
		p.done <- err
		return fmt.Errorf("collector exited early: %v (log %s)", err, p.logPath)
	default:
		return nil
	}
}

// waitStable waits until the collector's group owns the topic's partitions: the drain's clock starts then, so the
// group join (seconds, and not throughput) is not counted. It does not wait for /readyz: on a fresh broker the
// offsets watch can fail its first look (no group coordinator yet) and readiness then returns only at its next look,
// WatchInterval later, long after the collector started draining; the clock would miss the drain.
func (b *bench) waitStable(ctx context.Context, p *collectorProc, group string) error {
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if err := p.exited(); err != nil {
			return err
		}
		if b.groupStable(ctx, group) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("collector not consuming after 2 minutes (log %s)", p.logPath)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// drain runs the collector with a fresh group into a fresh database until every partition's offset is committed up
// to the end, and measures rows per second, CPU and peak RSS over that time.
func (b *bench) drain(ctx context.Context, topic string, end map[int]int64, r *drainResult) error {
	st, err := b.database(ctx)
	if err != nil {
		return err
	}
	db := st.Database()
	_ = st.Close()
	group := b.name("group")
	p, err := b.startCollector(topic, group, db, r.batch)
	if err != nil {
		return err
	}
	stopped := false
	defer func() {
		if !stopped {
			_ = p.stop()
		}
	}()
	if err := b.waitStable(ctx, p, group); err != nil {
		return err
	}
	start := time.Now()
	cpu0, err := procstat.CPU(p.cmd.Process.Pid)
	if err != nil {
		return err
	}
	for {
		done, err := b.committedAll(ctx, group, topic, end)
		if err != nil {
			return err
		}
		if done {
			break
		}
		if err := p.exited(); err != nil {
			return err
		}
		if time.Since(start) > b.o.drainTimeout {
			return fmt.Errorf("collector did not drain %d records within --drain-timeout %s (log %s)", r.records, b.o.drainTimeout, p.logPath)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	took := time.Since(start)
	cpu1, err := procstat.CPU(p.cmd.Process.Pid)
	if err != nil {
		return err
	}
	if r.peakRSS, err = procstat.PeakRSS(p.cmd.Process.Pid); err != nil {
		return err
	}
	r.cpu = cpu1 - cpu0
	r.collector = float64(r.records) / took.Seconds()
	stopped = true
	if err := p.stop(); err != nil {
		return err
	}
	if err := b.ch.QueryRow(ctx, fmt.Sprintf("SELECT count() FROM %s.usage_raw", db)).Scan(&r.stored); err != nil {
		return fmt.Errorf("count stored rows: %w", err)
	}
	if r.stored < uint64(r.records) {
		return fmt.Errorf("collector committed every offset but stored %d of %d rows (log %s)", r.stored, r.records, p.logPath)
	}
	return nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	addr, ok := l.Addr().(*net.TCPAddr)
	if !ok {
		return 0, fmt.Errorf("find a free port: %v is not TCP", l.Addr())
	}
	return addr.Port, nil
}

// serverCPU starts measuring the ClickHouse servers' CPU time (--clickhouse-pid, summed over a cluster's servers); the
// returned function reads what they used since, or -1 when a pid is not known or not readable.
func (b *bench) serverCPU() func() time.Duration {
	if len(b.o.pids) == 0 {
		return func() time.Duration { return -1 }
	}
	cpu := func() (time.Duration, error) {
		var sum time.Duration
		for _, pid := range b.o.pids {
			c, err := procstat.CPU(pid)
			if err != nil {
				return 0, err
			}
			sum += c
		}
		return sum, nil
	}
	start, err := cpu()
	return func() time.Duration {
		now, err2 := cpu()
		if err != nil || err2 != nil {
			return -1
		}
		return now - start
	}
}
