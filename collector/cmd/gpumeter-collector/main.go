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
	certFile     string
	keyFile      string
	serverName   string
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
	fs.StringVar(&c.certFile, "clickhouse-cert-file", "", "PEM client certificate for mutual TLS")
	fs.StringVar(&c.keyFile, "clickhouse-key-file", "", "PEM client key for mutual TLS")
	fs.StringVar(&c.serverName, "clickhouse-tls-server-name", "", "name to verify in ClickHouse's certificate (default: the host dialled)")
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
	tlsCfg, err := credentials.TLS{Prefix: "clickhouse", Enabled: c.tls, CAFile: c.caFile, CertFile: c.certFile,
		KeyFile: c.keyFile, ServerName: c.serverName}.Config()
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

func runConsume(ctx context.Context, args []string) error {
	var (
		lo     logging.Options
		ch     clickhouseFlags
		cfg    consume.Config
		kf     kafkaconf.Flags
		commit string

		partitions, replication   int
		metricsAddr, otlpEndpoint string
		webConfigFile             string
		alertInterval             time.Duration
		am                        alert.Flags
		mig                       migrateFlags
		createTopics              bool
	)
	fs := newFlagSet("run", "gpumeter-collector run consumes usage records from Kafka into ClickHouse.", &lo, &ch)
	kf.Register(fs)
	fs.StringVar(&commit, "commitments", "", "YAML file of commitments, loaded into ClickHouse at start (see deploy/commitments.example.yaml)")
	fs.DurationVar(&alertInterval, "alert-interval", 5*time.Minute, "how often commitments are evaluated (figures exported as metrics, alerts sent)")
	am.Register(fs)
	mig.register(fs)
	fs.StringVar(&metricsAddr, "metrics-addr", "127.0.0.1:9401", "listen address for /metrics, /healthz and /readyz; empty disables")
	fs.StringVar(&webConfigFile, "web-config-file", "", "exporter-toolkit web config (TLS, basic auth) for --metrics-addr, as node_exporter takes")
	fs.StringVar(&otlpEndpoint, "otlp-endpoint", "", "OTLP/gRPC endpoint (host:port) for traces; empty disables")
	fs.StringVar(&cfg.Topic, "topic", "gpumeter.usage.v1", "Kafka topic of usage records")
	fs.StringVar(&cfg.DLQTopic, "dlq-topic", "gpumeter.usage.dlq", "Kafka topic for records that cannot be stored")
	fs.StringVar(&cfg.Group, "group", "gpumeter-collector", "Kafka consumer group; run more collectors in it to scale out")
	fs.IntVar(&cfg.BatchSize, "batch-size", 50000, "records per ClickHouse insert")
	fs.DurationVar(&cfg.BatchWait, "batch-wait", 2*time.Second, "longest a record waits for its batch to fill")
	fs.BoolVar(&createTopics, "create-topics", true, "create the topics at start when missing (turn off where an ACL forbids CreateTopics)")
	fs.IntVar(&partitions, "topic-partitions", 12, "partitions of the topics when the collector creates them (it never changes existing ones)")
	fs.IntVar(&replication, "topic-replication", 1, "replication factor of the topics when the collector creates them")
	fs.DurationVar(&cfg.FlushTimeout, "shutdown-timeout", 30*time.Second, "how long SIGTERM may spend flushing the last batch")
	if err := flagenv.Parse(fs, args, flagenv.LookupEnv, os.Stderr); err != nil {
		return err
	}
	var errs []error
	conn, err := kf.Connect()
	if err != nil {
		errs = append(errs, err)
	}
	var commitments []commitment.Commitment
	if commit != "" {
		if commitments, err = commitment.Load(commit); err != nil {
			errs = append(errs, fmt.Errorf("--commitments: %w", err))
		}
	}
	for name, v := range map[string]string{"topic": cfg.Topic, "dlq-topic": cfg.DLQTopic, "group": cfg.Group} {
		if v == "" {
			errs = append(errs, fmt.Errorf("--%s: empty", name))
		}
	}
	if cfg.Topic == cfg.DLQTopic && cfg.Topic != "" {
		errs = append(errs, errors.New("--dlq-topic: must differ from --topic"))
	}
	if alertInterval <= 0 {
		errs = append(errs, fmt.Errorf("--alert-interval: must be positive, got %s", alertInterval))
	}
	amClient, err := am.Client(nil)
	if err != nil {
		errs = append(errs, err)
	}
	if partitions <= 0 || replication <= 0 {
		errs = append(errs, fmt.Errorf("--topic-partitions and --topic-replication: must be positive, got %d and %d", partitions, replication))
	}
	if cfg.BatchSize <= 0 {
		errs = append(errs, fmt.Errorf("--batch-size: must be positive, got %d", cfg.BatchSize))
	}
	if cfg.BatchWait <= 0 {
		errs = append(errs, fmt.Errorf("--batch-wait: must be positive, got %s", cfg.BatchWait))
	}
	stCfg, err := ch.config()
	if err != nil {
		errs = append(errs, err)
	}
	migCfg, err := mig.config(stCfg)
	if err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	cfg.Conn = conn
	log, err := lo.Logger(os.Stderr)
	if err != nil {
		return err
	}
	tel, err := telemetry.Start(ctx, telemetry.Config{Service: "gpumeter-collector", MetricsAddr: metricsAddr,
		OTLPEndpoint: otlpEndpoint, OTLPInsecure: true, WebConfigFile: webConfigFile}, log)
	if err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = tel.Shutdown(sctx)
	}()
	// Not ready until Kafka and ClickHouse are reachable and the schema is in place.
	var started atomic.Bool
	tel.AddReadiness("startup", func(context.Context) error {
		if !started.Load() {
			return errors.New("waiting for kafka and clickhouse")
		}
		return nil
	})
	if err := waitFor(ctx, log, "kafka", func() error {
		if !createTopics { // an ACL may forbid CreateTopics: only check that they exist
			return conn.CheckTopics(ctx, cfg.Topic, cfg.DLQTopic)
		}
		return consume.EnsureTopics(ctx, conn, partitions, replication, cfg.Topic, cfg.DLQTopic)
	}); err != nil {
		return err
	}
	st, err := openStoreWaiting(ctx, stCfg, migCfg, log)
	if err != nil {
		return err
	}
	defer func() { _ = st.Close() }()
	if commit != "" {
		if err := commitment.Sync(ctx, st.Conn(), st.Database(), commitments); err != nil {
			return fmt.Errorf("--commitments: load into clickhouse: %w", err)
		}
		log.Info("commitments loaded", "file", commit, "count", len(commitments))
	}
	c := consume.New(cfg, st, log)
	if err := c.RegisterMetrics(tel.Meter("gpumeter-collector")); err != nil {
		return fmt.Errorf("register metrics: %w", err)
	}
	c.SetTracer(tel.Tracer("gpumeter-collector"))
	// Ready means able to write: ClickHouse answers.
	tel.AddReadiness("clickhouse", st.Ping)
	started.Store(true)

	var notifier evaluate.Notifier
	if amClient != nil {
		amClient.Log = log
		notifier = alert.NewNotifier(amClient, alertInterval, log)
	}
	ev := evaluate.New(st.Conn(), st.Database(), notifier, log)
	if err := ev.RegisterMetrics(tel.Meter("gpumeter-collector")); err != nil {
		return fmt.Errorf("register metrics: %w", err)
	}
	// Evaluation runs beside ingestion and never blocks it: a dead Alertmanager is only logged.
	evalCtx, stopEval := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { ev.Run(evalCtx, alertInterval) })
	defer func() { stopEval(); wg.Wait() }()

	log.Info("collector consuming", "brokers", conn.Brokers, "topic", cfg.Topic, "group", cfg.Group,
		"database", st.Database(), "alertmanagers", amClient.Targets())
	return c.Run(ctx)
}

// waitFor retries op with backoff until it succeeds or ctx ends: a dependency that is not up yet is waited for, not
// crash-looped on.
func waitFor(ctx context.Context, log *slog.Logger, what string, op func() error) error {
	backoff := time.Second
	for {
		err := op()
		if err == nil {
			return nil
		}
		log.Warn(what+" not ready; retrying", "backoff", backoff, "err", err)
		select {
		case <-ctx.Done():
			return fmt.Errorf("stopped while waiting for %s: %w", what, err)
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 30*time.Second)
	}
}

// openStoreWaiting waits until ClickHouse answers and the schema is in place: a collector that starts before its
// database should wait for it, not crash-loop. With migCfg it migrates first under migCfg's user (its own
// connection, closed again), then connects as cfg's; without, it only checks that the schema is current.
func openStoreWaiting(ctx context.Context, cfg store.Config, migCfg *store.Config, log *slog.Logger) (*store.Store, error) {
	var st *store.Store
	err := waitFor(ctx, log, "clickhouse", func() (err error) {
		if migCfg != nil && migCfg.User == cfg.User {
			st, err = openStore(ctx, cfg, log, true)
			return err
		}
		if migCfg != nil {
			m, err := openStore(ctx, *migCfg, log, true)
			if err != nil {
				return fmt.Errorf("as migration user %s: %w", migCfg.User, err)
			}
			_ = m.Close()
		}
		if st, err = openStore(ctx, cfg, log, false); err != nil {
			return err
		}
		if err := st.CheckMigrated(ctx); err != nil {
			_ = st.Close()
			return err
		}
		return nil
	})
	return st, err
}

// migrateFlags say whether and as whom the run command migrates at start: least privilege gives the ingest user
// (--clickhouse-user) no DDL rights, and migrations their own user or their own job (schema/README.md, "Users and
// rights").
type migrateFlags struct {
	enabled           bool
	user              string
	password, pwdFile string
}

func (m *migrateFlags) register(fs *flag.FlagSet) {
	fs.BoolVar(&m.enabled, "migrate", true, "apply the schema migrations at start; false: `gpumeter-collector migrate` does, and the collector waits until the schema is current")
	fs.StringVar(&m.user, "clickhouse-migrate-user", "", "ClickHouse user for the migrations at start (DDL rights); empty: --clickhouse-user")
	fs.StringVar(&m.password, "clickhouse-migrate-password", "", "its password; prefer GPUMETER_CLICKHOUSE_MIGRATE_PASSWORD or --clickhouse-migrate-password-file")
	fs.StringVar(&m.pwdFile, "clickhouse-migrate-password-file", "", "file holding the migration user's password")
}

// config is the migration connection (ingest's with another user), or nil when the collector does not migrate.
func (m *migrateFlags) config(ingest store.Config) (*store.Config, error) {
	password, err := credentials.Password("clickhouse-migrate", m.password, m.pwdFile)
	if err != nil {
		return nil, err
	}
	switch {
	case m.user == "" && password != "":
		return nil, errors.New("--clickhouse-migrate-password: given without --clickhouse-migrate-user")
	case !m.enabled && m.user != "":
		return nil, errors.New("--clickhouse-migrate-user: given with --migrate=false")
	case !m.enabled:
		return nil, nil
	case m.user == "":
		return &ingest, nil
	}
	c := ingest
	c.User, c.Password = m.user, password
	return &c, nil
}

func runMigrate(ctx context.Context, args []string) error {
	var (
		lo     logging.Options
		ch     clickhouseFlags
		commit string
		roles  bool
	)
	fs := newFlagSet("migrate", "gpumeter-collector migrate creates or upgrades the ClickHouse schema.", &lo, &ch)
	fs.StringVar(&commit, "commitments", "", "YAML file of commitments to load into ClickHouse after migrating")
	fs.BoolVar(&roles, "create-roles", false, "also create the roles gpumeter_migrate, gpumeter_writer and gpumeter_reader with their grants (servers with SQL access control, 20.5+; 18.16 takes users.xml)")
	if err := flagenv.Parse(fs, args, flagenv.LookupEnv, os.Stderr); err != nil {
		return err
	}
	var commitments []commitment.Commitment
	if commit != "" {
		var err error
		if commitments, err = commitment.Load(commit); err != nil {
			return fmt.Errorf("--commitments: %w", err)
		}
	}
	log, err := lo.Logger(os.Stderr)
	if err != nil {
		return err
	}
	st, err := openClickHouse(ctx, &ch, log, true)
	if err != nil {
		return err
	}
	defer func() { _ = st.Close() }()
	if roles {
		if err := st.CreateRoles(ctx); err != nil {
			return fmt.Errorf("--create-roles: %w", err)
		}
	}
	if commit != "" {
		if err := commitment.Sync(ctx, st.Conn(), st.Database(), commitments); err != nil {
			return fmt.Errorf("--commitments: load into clickhouse: %w", err)
		}
		log.Info("commitments loaded", "file", commit, "count", len(commitments))
	}
	return nil
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
	fs.StringVar(&commit, "commitments", "", "refused: report only reads (a read-only user suffices); load commitments with `migrate --commitments` or `run --commitments`")
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
	if commit != "" {
		errs = append(errs, errors.New("--commitments: report only reads ClickHouse (it runs as a read-only user); load the file with `gpumeter-collector migrate --commitments` or `run --commitments`"))
	}
	if err := errors.Join(errs...); err != nil {
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
