// Command gpumeter-collector consumes usage records from Kafka into ClickHouse, and reports on them.
//
//	gpumeter-collector [run] [flags]   consume until SIGTERM
//	gpumeter-collector migrate [flags] create or upgrade the ClickHouse schema, then exit
//	gpumeter-collector report [flags]  the commitment report (table, csv, json or html)
//	gpumeter-collector export [flags]  GPU-hours and commitments as FOCUS CSV/JSONL for FinOps tools
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gpumeter/gpumeter/collector/alert"
	"github.com/gpumeter/gpumeter/collector/commitment"
	"github.com/gpumeter/gpumeter/collector/consume"
	"github.com/gpumeter/gpumeter/collector/evaluate"
	"github.com/gpumeter/gpumeter/collector/export"
	"github.com/gpumeter/gpumeter/collector/figures"
	"github.com/gpumeter/gpumeter/collector/report"
	"github.com/gpumeter/gpumeter/collector/store"
	"github.com/gpumeter/gpumeter/internal/credentials"
	"github.com/gpumeter/gpumeter/internal/flagenv"
	"github.com/gpumeter/gpumeter/internal/kafkaconf"
	"github.com/gpumeter/gpumeter/internal/logging"
	"github.com/gpumeter/gpumeter/internal/telemetry"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	if code := flagenv.ExitCode("gpumeter-collector", err, os.Stderr); code != 0 {
		os.Exit(code)
	}
}

func run(ctx context.Context, args []string) error {
	cmd := "run"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "run":
		return runConsume(ctx, args)
	case "migrate":
		return runMigrate(ctx, args)
	case "report":
		return runReport(ctx, args)
	case "export":
		return runExport(ctx, args)
	}
	return fmt.Errorf("unknown command %q (want run, migrate, report or export)", cmd)
}

// clickhouseFlags are shared by every command.
type clickhouseFlags struct {
	addr         flagenv.List
	database     string
	user         string
	password     string
	passwordFile string
	retentionDay int
	tls          bool
	caFile       string
}

var identifier = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

func (c *clickhouseFlags) register(fs *flag.FlagSet) {
	c.addr = flagenv.List{"127.0.0.1:9000"}
	fs.Var(&c.addr, "clickhouse-addr", "ClickHouse native-protocol addresses, comma-separated")
	fs.StringVar(&c.database, "clickhouse-database", "gpumeter", "ClickHouse database (created when missing)")
	fs.StringVar(&c.user, "clickhouse-user", "default", "ClickHouse user")
	fs.StringVar(&c.password, "clickhouse-password", "", "ClickHouse password; prefer GPUMETER_CLICKHOUSE_PASSWORD or --clickhouse-password-file")
	fs.StringVar(&c.passwordFile, "clickhouse-password-file", "", "file holding the ClickHouse password")
	fs.BoolVar(&c.tls, "clickhouse-tls", false, "connect to ClickHouse over TLS (its secure native port, usually 9440)")
	fs.StringVar(&c.caFile, "clickhouse-ca-file", "", "PEM file of CAs that sign ClickHouse's certificate (default: the system's)")
	fs.IntVar(&c.retentionDay, "raw-retention-days", 0, "expire raw rows after this many days where the server has TTL (19.6+); 0 keeps them")
}

func (c *clickhouseFlags) config() (store.Config, error) {
	var errs []error
	if len(c.addr) == 0 {
		errs = append(errs, errors.New("--clickhouse-addr: empty"))
	}
	if !identifier.MatchString(c.database) {
		errs = append(errs, fmt.Errorf("--clickhouse-database: %q is not a plain identifier", c.database))
	}
	if c.retentionDay < 0 {
		errs = append(errs, fmt.Errorf("--raw-retention-days: must not be negative, got %d", c.retentionDay))
	}
	password, err := credentials.Password("clickhouse", c.password, c.passwordFile)
	if err != nil {
		errs = append(errs, err)
	}
	tlsCfg, err := credentials.TLS{Prefix: "clickhouse", Enabled: c.tls, CAFile: c.caFile}.Config()
	if err != nil {
		errs = append(errs, err)
	}
	return store.Config{Addr: c.addr, Database: c.database, User: c.user, Password: password, TLS: tlsCfg,
		RawRetentionDays: c.retentionDay}, errors.Join(errs...)
}

// openClickHouse validates the ClickHouse flags, then connects (and migrates when asked).
func openClickHouse(ctx context.Context, c *clickhouseFlags, log *slog.Logger, migrate bool) (*store.Store, error) {
	cfg, err := c.config()
	if err != nil {
		return nil, err
	}
	return openStore(ctx, cfg, log, migrate)
}

func openStore(ctx context.Context, cfg store.Config, log *slog.Logger, migrate bool) (*store.Store, error) {
	st, err := store.Open(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	if migrate {
		if err := st.Migrate(ctx); err != nil {
			_ = st.Close()
			return nil, err
		}
	}
	return st, nil
}

func newFlagSet(name, synopsis string, lo *logging.Options, ch *clickhouseFlags) *flag.FlagSet {
	fs := flag.NewFlagSet("gpumeter-collector "+name, flag.ContinueOnError)
	fs.Usage = flagenv.Usage(fs, synopsis)
	lo.Register(fs)
	ch.register(fs)
	return fs
}

// consumeFlags are the run command's settings, as parsed.
type consumeFlags struct {
	lo     logging.Options
	ch     clickhouseFlags
	cfg    consume.Config
	kf     kafkaconf.Flags
	commit string

	partitions, replication   int
	metricsAddr, otlpEndpoint string
	alertInterval             time.Duration
	alertmanagerURL           string
	createTopics              bool
}

// consumeSetup is what validation produced: everything checked and every file read, before anything connects.
type consumeSetup struct {
	f           *consumeFlags
	cfg         consume.Config
	store       store.Config
	commitments []commitment.Commitment
}

func runConsume(ctx context.Context, args []string) error {
	f, err := parseConsumeFlags(args)
	if err != nil {
		return err
	}
	setup, err := f.validate()
	if err != nil {
		return err
	}
	return setup.run(ctx)
}

func parseConsumeFlags(args []string) (*consumeFlags, error) {
	f := &consumeFlags{cfg: consume.DefaultConfig()}
	cfg := &f.cfg
	fs := newFlagSet("run", "gpumeter-collector run consumes usage records from Kafka into ClickHouse.", &f.lo, &f.ch)
	f.kf.Register(fs)
	fs.StringVar(&f.commit, "commitments", "", "YAML file of commitments, loaded into ClickHouse at start (see deploy/commitments.example.yaml)")
	fs.DurationVar(&f.alertInterval, "alert-interval", 5*time.Minute, "how often commitments are evaluated (figures exported as metrics, alerts sent)")
	fs.StringVar(&f.alertmanagerURL, "alertmanager-url", "", "Alertmanager base URL for commitment alerts, e.g. http://alertmanager:9093; empty: metrics only")
	fs.StringVar(&f.metricsAddr, "metrics-addr", "127.0.0.1:9401", "listen address for /metrics, /healthz and /readyz; empty disables")
	fs.StringVar(&f.otlpEndpoint, "otlp-endpoint", "", "OTLP/gRPC endpoint (host:port) for traces; empty disables")
	fs.StringVar(&cfg.Topic, "topic", cfg.Topic, "Kafka topic of usage records")
	fs.StringVar(&cfg.DLQTopic, "dlq-topic", cfg.DLQTopic, "Kafka topic for records that cannot be stored")
	fs.StringVar(&cfg.Group, "group", cfg.Group, "Kafka consumer group; run more collectors in it to scale out")
	fs.IntVar(&cfg.BatchSize, "batch-size", cfg.BatchSize, "records per ClickHouse insert")
	fs.IntVar(&cfg.BatchBytes, "batch-bytes", cfg.BatchBytes, "bytes of Kafka messages per ClickHouse insert (bounds memory with --batch-size)")
	fs.IntVar(&cfg.FetchMaxBytes, "fetch-max-bytes", cfg.FetchMaxBytes, "most bytes one fetch from one partition returns (a larger single message still comes through)")
	fs.DurationVar(&cfg.BatchWait, "batch-wait", cfg.BatchWait, "longest a record waits for its batch to fill")
	fs.DurationVar(&cfg.StallAfter, "stall-after", cfg.StallAfter, "a partition with lag and no commit for this long is a stall: /readyz fails and gpumeter_collector_consumer_stalled_partitions counts it")
	fs.BoolVar(&f.createTopics, "create-topics", true, "create the topics at start when missing (turn off where an ACL forbids CreateTopics)")
	fs.IntVar(&f.partitions, "topic-partitions", 12, "partitions of the topics when the collector creates them (it never changes existing ones)")
	fs.IntVar(&f.replication, "topic-replication", 1, "replication factor of the topics when the collector creates them")
	fs.DurationVar(&cfg.FlushTimeout, "shutdown-timeout", cfg.FlushTimeout, "how long SIGTERM may spend flushing the last batch and leaving the group")
	if err := flagenv.Parse(fs, args, flagenv.LookupEnv, os.Stderr); err != nil {
		return nil, err
	}
	return f, nil
}

// validate checks every setting and reads every file, reporting all problems at once.
func (f *consumeFlags) validate() (*consumeSetup, error) {
	s := &consumeSetup{f: f, cfg: f.cfg}
	errs := []error{f.cfg.Validate()}
	conn, err := f.kf.Connect()
	errs = append(errs, err)
	s.cfg.Conn = conn
	if f.commit != "" {
		if s.commitments, err = commitment.Load(f.commit); err != nil {
			errs = append(errs, fmt.Errorf("--commitments: %w", err))
		}
	}
	if f.alertInterval <= 0 {
		errs = append(errs, fmt.Errorf("--alert-interval: must be positive, got %s", f.alertInterval))
	}
	if f.alertmanagerURL != "" {
		if u, err := url.Parse(f.alertmanagerURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("--alertmanager-url: %q is not an http(s) URL", f.alertmanagerURL))
		}
	}
	if f.partitions <= 0 || f.replication <= 0 {
		errs = append(errs, fmt.Errorf("--topic-partitions and --topic-replication: must be positive, got %d and %d", f.partitions, f.replication))
	}
	s.store, err = f.ch.config()
	errs = append(errs, err)
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return s, nil
}

// run wires the collector: telemetry, topics, ClickHouse, commitments, the consumer and the evaluator.
func (s *consumeSetup) run(ctx context.Context) error {
	f, cfg := s.f, s.cfg
	log, err := f.lo.Logger(os.Stderr)
	if err != nil {
		return err
	}
	tel, err := telemetry.Start(ctx, telemetry.Config{Service: "gpumeter-collector", MetricsAddr: f.metricsAddr,
		OTLPEndpoint: f.otlpEndpoint, OTLPInsecure: true}, log)
	if err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = tel.Shutdown(sctx)
	}()
	// Not ready until Kafka and ClickHouse are reachable and the schema is in place; meanwhile readiness says
	// what is awaited and why (a wrong password reads as one).
	var waiting atomic.Pointer[string]
	setWaiting := func(why string) { waiting.Store(&why) }
	setWaiting("waiting for kafka and clickhouse")
	tel.AddReadiness("startup", func(context.Context) error {
		if w := waiting.Load(); w != nil {
			return errors.New(*w)
		}
		return nil
	})
	if f.createTopics {
		if err := waitFor(ctx, log, "kafka", setWaiting, func() error {
			return consume.EnsureTopics(ctx, cfg.Conn, f.partitions, f.replication, cfg.Topic, cfg.DLQTopic)
		}); err != nil {
			return err
		}
	}
	st, err := openStoreWaiting(ctx, s.store, log, setWaiting)
	if err != nil {
		return err
	}
	defer func() { _ = st.Close() }()
	if f.commit != "" {
		if err := commitment.Sync(ctx, st.Conn(), st.Database(), s.commitments); err != nil {
			return fmt.Errorf("--commitments: load into clickhouse: %w", err)
		}
		log.Info("commitments loaded", "file", f.commit, "count", len(s.commitments))
	}
	// A table dropped under the running collector is recreated by the migrations (they check what exists).
	c := consume.New(cfg, consume.Deps{Store: st, Repair: st.Migrate}, log)
	if err := c.RegisterMetrics(tel.Meter("gpumeter-collector")); err != nil {
		return fmt.Errorf("register metrics: %w", err)
	}
	c.SetTracer(tel.Tracer("gpumeter-collector"))
	// Ready means able to work: ClickHouse answers, and the consumer is neither blocked nor stalled.
	tel.AddReadiness("clickhouse", st.Ping)
	tel.AddReadiness("consumer", c.Ready)
	waiting.Store(nil)

	var notifier evaluate.Notifier
	if f.alertmanagerURL != "" {
		notifier = alert.NewNotifier(&alert.Client{URL: f.alertmanagerURL, Log: log}, f.alertInterval, log)
	}
	ev := evaluate.New(st.Conn(), st.Database(), notifier, log)
	if err := ev.RegisterMetrics(tel.Meter("gpumeter-collector")); err != nil {
		return fmt.Errorf("register metrics: %w", err)
	}
	// Evaluation runs beside ingestion and never blocks it: a dead Alertmanager is only logged.
	evalCtx, stopEval := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { ev.Run(evalCtx, f.alertInterval) })
	defer func() { stopEval(); wg.Wait() }()

	log.Info("collector consuming", "brokers", cfg.Conn.Brokers, "topic", cfg.Topic, "group", cfg.Group,
		"database", st.Database(), "alertmanager", f.alertmanagerURL)
	return c.Run(ctx)
}

// waitFor retries op with backoff until it succeeds or ctx ends: a dependency that is not up yet is waited for, not
// crash-looped on.
func waitFor(ctx context.Context, log *slog.Logger, what string, setWaiting func(string), op func() error) error {
	backoff := time.Second
	for {
		err := op()
		if err == nil {
			return nil
		}
		setWaiting(waitingReason(what, err))
		log.Warn(what+" not ready; retrying", "backoff", backoff, "err", err)
		select {
		case <-ctx.Done():
			return fmt.Errorf("stopped while waiting for %s: %w", what, err)
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 30*time.Second)
	}
}

// waitingReason says in readiness what a dependency's failure means: a failure of credentials is not an outage.
func waitingReason(what string, err error) string {
	if consume.AuthError(err) {
		return "cannot authenticate to " + what + ": " + err.Error()
	}
	if store.Classify(err) == store.Refused {
		return what + " refuses the collector: " + err.Error()
	}
	return "waiting for " + what + ": " + err.Error()
}

// openStoreWaiting waits until ClickHouse answers and the schema is in place: a collector that starts before its
// database should wait for it, not crash-loop.
func openStoreWaiting(ctx context.Context, cfg store.Config, log *slog.Logger, setWaiting func(string)) (*store.Store, error) {
	var st *store.Store
	err := waitFor(ctx, log, "clickhouse", setWaiting, func() (err error) {
		st, err = openStore(ctx, cfg, log, true)
		return err
	})
	return st, err
}

func runMigrate(ctx context.Context, args []string) error {
	var (
		lo logging.Options
		ch clickhouseFlags
	)
	fs := newFlagSet("migrate", "gpumeter-collector migrate creates or upgrades the ClickHouse schema.", &lo, &ch)
	if err := flagenv.Parse(fs, args, flagenv.LookupEnv, os.Stderr); err != nil {
		return err
	}
	log, err := lo.Logger(os.Stderr)
	if err != nil {
		return err
	}
	st, err := openClickHouse(ctx, &ch, log, true)
	if err != nil {
		return err
	}
	return st.Close()
}

func runReport(ctx context.Context, args []string) error {
	var (
		lo             logging.Options
		ch             clickhouseFlags
		commit, at     string
		format, output string
		days           int
	)
	fs := newFlagSet("report", "gpumeter-collector report prints the commitment report: figures per commitment and GPU-hours per provider and day.", &lo, &ch)
	lo.Level = "warn"
	fs.StringVar(&commit, "commitments", "", "YAML file of commitments to load before reporting (default: those already in ClickHouse)")
	fs.StringVar(&at, "at", "", "report as of this time, RFC 3339, not later than now (default: now); figures cover the complete hours before it")
	fs.IntVar(&days, "days", 31, "days the GPU-hours per provider and day cover, ending with the day of --at (cut at its complete hours)")
	fs.StringVar(&format, "format", "table", "table, csv, json or html")
	fs.StringVar(&output, "out", "", "write to this file instead of standard output")
	if err := flagenv.Parse(fs, args, flagenv.LookupEnv, os.Stderr); err != nil {
		return err
	}
	var errs []error
	now := time.Now().UTC()
	when := now
	if at != "" {
		t, err := time.Parse(time.RFC3339, at)
		if err == nil {
			err = figures.CheckAt(t, now)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("--at: %w", err))
		}
		when = t.UTC()
	}
	if days < 1 || days > 3660 {
		errs = append(errs, fmt.Errorf("--days: %d is not between 1 and 3660", days))
	}
	writers := map[string]func(io.Writer, report.Report) error{
		"table": report.WriteTable, "csv": report.WriteCSV, "json": report.WriteJSON, "html": report.WriteHTML,
	}
	write, ok := writers[format]
	if !ok {
		errs = append(errs, fmt.Errorf("--format: %q is not table, csv, json or html", format))
	}
	var commitments []commitment.Commitment
	if commit != "" {
		var err error
		if commitments, err = commitment.Load(commit); err != nil {
			errs = append(errs, fmt.Errorf("--commitments: %w", err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	log, err := lo.Logger(os.Stderr)
	if err != nil {
		return err
	}
	st, err := openClickHouse(ctx, &ch, log, commit != "")
	if err != nil {
		return err
	}
	defer func() { _ = st.Close() }()
	if commit != "" {
		if err := commitment.Sync(ctx, st.Conn(), st.Database(), commitments); err != nil {
			return fmt.Errorf("--commitments: load into clickhouse: %w", err)
		}
	}
	r := report.Report{At: when, Database: st.Database()}
	if r.Commitments, err = figures.Commitments(ctx, st.Conn(), st.Database(), when); err != nil {
		return err
	}
	if r.Series, err = figures.CommitmentSeries(ctx, st.Conn(), st.Database(), when); err != nil {
		return err
	}
	from, to := figures.DailyPeriod(when, days)
	if r.Daily, err = figures.Daily(ctx, st.Conn(), st.Database(), from, to); err != nil {
		return err
	}
	var w io.Writer = os.Stdout
	if output != "" {
		f, err := os.Create(output)
		if err != nil {
			return fmt.Errorf("--out: %w", err)
		}
		defer f.Close()
		w = f
	}
	if err := write(w, r); err != nil {
		return fmt.Errorf("write %s report: %w", format, err)
	}
	if f, ok := w.(*os.File); ok && f != os.Stdout {
		return f.Close()
	}
	return nil
}

func runExport(ctx context.Context, args []string) error {
	var (
		lo                     logging.Options
		ch                     clickhouseFlags
		format, outFormat, out string
		from, to               string
	)
	fs := newFlagSet("export", "gpumeter-collector export writes GPU-hours and commitments for FinOps tools (FOCUS 1.1 columns).", &lo, &ch)
	lo.Level = "warn"
	fs.StringVar(&format, "format", "focus", "export schema: focus (FinOps FOCUS 1.1 column names)")
	fs.StringVar(&outFormat, "output-format", export.FormatCSV, "csv or jsonl")
	fs.StringVar(&from, "from", "", "first hour, inclusive: RFC 3339 on a whole UTC hour, 2026-11-01T13 or 2026-11-01 (default: 24 h before --to)")
	fs.StringVar(&to, "to", "", "end hour, exclusive, same forms (default: the start of the current UTC hour)")
	fs.StringVar(&out, "out", "-", "file to write, replaced only when the export succeeds; - for stdout")
	if err := flagenv.Parse(fs, args, flagenv.LookupEnv, os.Stderr); err != nil {
		return err
	}
	if format != "focus" {
		return fmt.Errorf("--format: %q is not supported (want focus)", format)
	}
	opt := export.Options{Format: outFormat, To: time.Now().UTC().Truncate(time.Hour)}
	var err error
	if to != "" {
		if opt.To, err = export.ParseTime(to); err != nil {
			return fmt.Errorf("--to: %w", err)
		}
	}
	opt.From = opt.To.Add(-24 * time.Hour)
	if from != "" {
		if opt.From, err = export.ParseTime(from); err != nil {
			return fmt.Errorf("--from: %w", err)
		}
	}
	if err := opt.Validate(); err != nil { // before connecting anywhere
		return err
	}
	log, err := lo.Logger(os.Stderr)
	if err != nil {
		return err
	}
	st, err := openClickHouse(ctx, &ch, log, false)
	if err != nil {
		return err
	}
	defer func() { _ = st.Close() }()
	if out == "-" {
		n, err := export.FOCUS(ctx, st.Conn(), st.Database(), opt, os.Stdout)
		log.Info("exported", "rows", n, "from", opt.From, "to", opt.To)
		return err
	}
	// Write beside the target and rename, so a failed or interrupted export never leaves a truncated file.
	tmp, err := os.CreateTemp(filepath.Dir(out), "."+filepath.Base(out)+".*.tmp")
	if err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	_ = tmp.Chmod(0o644) // CreateTemp makes 0600
	n, err := export.FOCUS(ctx, st.Conn(), st.Database(), opt, tmp)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), out)
	}
	if err != nil {
		_ = os.Remove(tmp.Name())
		return err
	}
	log.Info("exported", "rows", n, "file", out, "from", opt.From, "to", opt.To)
	return nil
}
