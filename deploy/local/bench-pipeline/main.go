// Command bench-pipeline measures gpumeter's pipeline on the local services (deploy/local/services.sh): for each fleet
// shape it preloads a topic with records exactly as agents write them, then measures the native insert ceiling of the
// same rows and the real collector draining the topic; then a steady live rate with sample-to-queryable latency; then
// the commitment report over a 30-day term. It cleans up its topics and databases and prints Markdown tables.
// `make bench-pipeline` runs it; BENCHMARKS.md says what every column means.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/segmentio/kafka-go"

	"github.com/gpumeter/gpumeter/collector/store"
	"github.com/gpumeter/gpumeter/internal/flagenv"
	"github.com/gpumeter/gpumeter/internal/kafkaconf"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout)
	stop()
	if code := flagenv.ExitCode("bench-pipeline", err, os.Stderr); code != 0 {
		os.Exit(code)
	}
}

type options struct {
	kafka, clickhouse, collector, outDir string
	cluster                              string
	shapes, batches                      string
	partitions                           int
	what                                 string
	clickhousePIDs                       string
	pids                                 []int
	drainTimeout                         time.Duration

	liveRate  int
	liveFor   time.Duration
	liveBatch int

	termGPUs     int
	termDays     int
	termInterval time.Duration
	reportRuns   int
	keep         bool
}

// shape is one row group of the drain table: a fleet and the batch sizes it is drained with.
type shape struct {
	gpus     int
	duration time.Duration
}

func (s shape) String() string {
	d := strings.TrimSuffix(strings.TrimSuffix(s.duration.String(), "0s"), "0m")
	return fmt.Sprintf("%d GPUs × %s", s.gpus, d)
}

func parseShapes(v string) ([]shape, error) {
	var out []shape
	for _, f := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' }) {
		g, d, ok := strings.Cut(f, "x")
		gpus, err := strconv.Atoi(g)
		if !ok || err != nil || gpus <= 0 {
			return nil, fmt.Errorf("--shapes: %q is not GPUSxDURATION (e.g. 1000x20h)", f)
		}
		dur, err := time.ParseDuration(d)
		if err != nil || dur < time.Minute || dur%time.Minute != 0 {
			return nil, fmt.Errorf("--shapes: %q: duration must be whole minutes (e.g. 20h, 12m)", f)
		}
		out = append(out, shape{gpus, dur})
	}
	return out, nil
}

func parseInts(flagName, v string) ([]int, error) {
	var out []int
	for _, f := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' }) {
		n, err := strconv.Atoi(f)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("--%s: %q is not a positive number", flagName, f)
		}
		out = append(out, n)
	}
	return out, nil
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	var o options
	fs := flag.NewFlagSet("bench-pipeline", flag.ContinueOnError)
	fs.Usage = flagenv.Usage(fs, "bench-pipeline measures ingest, live latency and the report on the local services (BENCHMARKS.md).")
	fs.StringVar(&o.kafka, "kafka-brokers", "127.0.0.1:19092", "Kafka broker of the local services")
	fs.StringVar(&o.clickhouse, "clickhouse-addr", "127.0.0.1:19000", "ClickHouse native address(es, comma-separated) of the local services")
	fs.StringVar(&o.cluster, "clickhouse-cluster", "", "run against this ClickHouse cluster (deploy/local/services.sh start cluster: gpumeter, with --clickhouse-addr listing its servers); empty: one server")
	fs.StringVar(&o.collector, "collector", "bin/gpumeter-collector", "the collector binary to measure")
	fs.StringVar(&o.outDir, "out", "out/bench", "directory for the collector's logs and the report output")
	fs.StringVar(&o.shapes, "shapes", "1000x20h,20000x1h,100000x12m", "fleet shapes GPUSxDURATION, one record per GPU and minute")
	fs.StringVar(&o.batches, "batches", "50000,5000", "batch sizes each shape is measured at (collector --batch-size)")
	fs.IntVar(&o.partitions, "partitions", 12, "partitions of each preloaded topic (the collector's default)")
	fs.StringVar(&o.clickhousePIDs, "clickhouse-pid", "", "pids of the ClickHouse servers (comma-separated: every server of a cluster), to report their CPU time too (empty or 0: not reported)")
	fs.DurationVar(&o.drainTimeout, "drain-timeout", 30*time.Minute, "give up on a drain (and the run) that takes longer")
	fs.StringVar(&o.what, "run", "drain,live,report", "which parts to run: drain, live, report")
	fs.IntVar(&o.liveRate, "live-rate", 1700, "live: records per second (1 700 is a 100 000-GPU fleet at 1-minute intervals)")
	fs.DurationVar(&o.liveFor, "live-for", 2*time.Minute, "live: how long to produce at that rate")
	fs.IntVar(&o.liveBatch, "live-batch", 0, "live: collector --batch-size (0: the collector's default)")
	fs.IntVar(&o.termGPUs, "term-gpus", 100000, "report: GPUs in the fleet loaded for the commitment term")
	fs.IntVar(&o.termDays, "term-days", 30, "report: days in the term")
	fs.DurationVar(&o.termInterval, "term-interval", time.Hour, "report: the agents' --interval for the loaded term (keeps the raw rows to GPUs × hours)")
	fs.IntVar(&o.reportRuns, "report-runs", 3, "report: timed runs after the first (the median is shown)")
	fs.BoolVar(&o.keep, "keep", false, "keep the databases it made (their names are logged), e.g. to profile the report over the loaded term again")
	if err := flagenv.Parse(fs, args, flagenv.LookupEnv, os.Stderr); err != nil {
		return err
	}
	shapes, err := parseShapes(o.shapes)
	batches, berr := parseInts("batches", o.batches)
	var errs = []error{err, berr}
	if o.clickhousePIDs != "" && o.clickhousePIDs != "0" {
		var perr error
		if o.pids, perr = parseInts("clickhouse-pid", o.clickhousePIDs); perr != nil {
			errs = append(errs, perr)
		}
	}
	parts := map[string]bool{}
	for _, p := range strings.Split(o.what, ",") {
		switch p = strings.TrimSpace(p); p {
		case "drain", "live", "report":
			parts[p] = true
		default:
			errs = append(errs, fmt.Errorf("--run: %q is not drain, live or report", p))
		}
	}
	if o.partitions <= 0 || o.liveRate <= 0 || o.liveFor <= 0 || o.termGPUs <= 0 || o.termDays <= 0 || o.reportRuns <= 0 || o.drainTimeout <= 0 {
		errs = append(errs, errors.New("--partitions, --live-rate, --live-for, --term-gpus, --term-days, --report-runs, --drain-timeout: must be positive"))
	}
	if _, err := os.Stat(o.collector); err != nil {
		errs = append(errs, fmt.Errorf("--collector: %w (make build makes it)", err))
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if err := os.MkdirAll(o.outDir, 0o755); err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo})).With("component", "bench")
	b, err := newBench(ctx, o, log)
	if err != nil {
		return err
	}
	defer b.cleanup()

	info := b.machine(ctx)
	var drains []drainResult
	if parts["drain"] {
		for _, s := range shapes {
			rs, err := b.drainShape(ctx, s, batches)
			drains = append(drains, rs...)
			if err != nil {
				return err
			}
		}
	}
	var live *liveResult
	if parts["live"] {
		if live, err = b.live(ctx); err != nil {
			return err
		}
	}
	var term *termResult
	if parts["report"] {
		if term, err = b.term(ctx); err != nil {
			return err
		}
	}
	printResults(stdout, info, o, drains, live, term)
	return nil
}

// bench holds the connections and what must be removed at the end.
type bench struct {
	o        options
	log      *slog.Logger
	id       string
	n        int
	kconn    kafkaconf.Conn
	kafka    *kafka.Client
	ch       driver.Conn
	topics   []string
	dbs      []string
	chConfig store.Config
}

func newBench(ctx context.Context, o options, log *slog.Logger) (*bench, error) {
	id := make([]byte, 3)
	_, _ = rand.Read(id)
	b := &bench{o: o, log: log, id: hex.EncodeToString(id), kconn: kafkaconf.Conn{Brokers: []string{o.kafka}}}
	b.kafka = &kafka.Client{Addr: kafka.TCP(o.kafka), Transport: b.kconn.Transport(), Timeout: 30 * time.Second}
	if _, err := b.kafka.Metadata(ctx, &kafka.MetadataRequest{}); err != nil {
		return nil, fmt.Errorf("kafka at %s (start the services: deploy/local/services.sh start): %w", o.kafka, err)
	}
	conn, err := clickhouse.Open(&clickhouse.Options{Addr: strings.Split(o.clickhouse, ","), DialTimeout: 5 * time.Second,
		MaxOpenConns: 4, Compression: &clickhouse.Compression{Method: clickhouse.CompressionLZ4}})
	if err == nil {
		err = conn.Ping(ctx)
	}
	if err != nil {
		return nil, fmt.Errorf("clickhouse at %s (start the services: deploy/local/services.sh start): %w", o.clickhouse, err)
	}
	b.ch = conn
	b.chConfig = store.Config{Addr: strings.Split(o.clickhouse, ","), User: "default", Cluster: o.cluster}
	return b, nil
}

// name makes a fresh name for this run's topic, database or group.
func (b *bench) name(kind string) string {
	b.n++
	return fmt.Sprintf("gpumeter_bench_%s_%s_%d", b.id, kind, b.n)
}

// database opens a store on a fresh, migrated database, dropped at the end.
func (b *bench) database(ctx context.Context) (*store.Store, error) {
	cfg := b.chConfig
	cfg.Database = b.name("db")
	b.dbs = append(b.dbs, cfg.Database)
	st, err := store.Open(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		return nil, err
	}
	if err := st.Migrate(ctx); err != nil {
		_ = st.Close()
		return nil, err
	}
	return st, nil
}

func (b *bench) cleanup() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if len(b.topics) > 0 {
		if _, err := b.kafka.DeleteTopics(ctx, &kafka.DeleteTopicsRequest{Topics: b.topics}); err != nil {
			b.log.Warn("delete topics", "topics", b.topics, "err", err)
		}
	}
	for _, db := range b.dbs {
		if b.o.keep {
			b.log.Info("database kept (--keep)", "database", db)
			continue
		}
		if err := b.ch.Exec(ctx, "DROP DATABASE IF EXISTS "+db+b.chConfig.Layout().OnCluster()); err != nil {
			b.log.Warn("drop database", "database", db, "err", err)
		}
	}
	_ = b.ch.Close()
	b.log.Info("cleaned up", "topics", len(b.topics), "databases", len(b.dbs))
}
