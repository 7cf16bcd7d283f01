// Command gpumeter-collector consumes usage records from Kafka into ClickHouse, and reports on them.
//
//	gpumeter-collector [run] [flags]   consume until SIGTERM
//	gpumeter-collector migrate [flags] create or upgrade the ClickHouse schema, then exit
//	gpumeter-collector report [flags]  the commitment report (table, csv, json or html)
//	gpumeter-collector export [flags]  GPU-hours and commitments as FOCUS 1.2/1.3 CSV/JSONL for FinOps tools
//	gpumeter-collector version         the version stamped at build
//	gpumeter-collector help [command]  the commands, or a command's flags
//
// Help goes to standard output when asked for; usage errors exit with status 2, other failures with 1.
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
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"

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
	"github.com/gpumeter/gpumeter/internal/spelling"
	"github.com/gpumeter/gpumeter/internal/telemetry"
	"github.com/gpumeter/gpumeter/internal/version"
)

const program = "gpumeter-collector"

// stdout receives help and version output (asked for, so not an error); os.Stdout outside tests.
var stdout io.Writer = os.Stdout

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	if code := flagenv.ExitCode(program, err, os.Stderr); code != 0 {
		os.Exit(code)
	}
}

// command is one subcommand: its name, its line in the help, and what runs it.
type command struct {
	name, summary string
	run           func(ctx context.Context, args []string) error
}

func commands() []command {
	return []command{
		{"run", "consume usage records from Kafka into ClickHouse until SIGTERM (the default command)", runConsume},
		{"migrate", "create or upgrade the ClickHouse schema, then exit", runMigrate},
		{"report", "print the commitment report (table, csv, json or html)", runReport},
		{"export", "write GPU-hours and commitments as FOCUS CSV or JSONL for FinOps tools", runExport},
		{"version", "print the version and exit", runVersion},
		{"help", "list the commands, or show one command's flags: help <command>", runHelp},
	}
}

func run(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return runConsume(ctx, nil)
	}
	switch args[0] {
	case "-h", "-help", "--help":
		writeHelp(stdout)
		return flagenv.ErrHelp
	case "-version", "--version":
		return runVersion(ctx, args[1:])
	}
	if strings.HasPrefix(args[0], "-") { // flags of the default command
		return runConsume(ctx, args)
	}
	c, err := lookupCommand(args[0])
	if err != nil {
		return err
	}
	return c.run(ctx, args[1:])
}

func lookupCommand(name string) (command, error) {
	var names []string
	for _, c := range commands() {
		if c.name == name {
			return c, nil
		}
		names = append(names, c.name)
	}
	if best, ok := spelling.Closest(name, names); ok {
		return command{}, flagenv.Usagef("unknown command %q: did you mean %s? (%s help lists the commands)", name, best, program)
	}
	return command{}, flagenv.Usagef("unknown command %q (want %s; %s help lists them)", name, strings.Join(names, ", "), program)
}

// writeHelp lists the commands, one line each.
func writeHelp(w io.Writer) {
	fmt.Fprintf(w, "%s consumes GPU usage records from Kafka into ClickHouse and reports on them.\n\n", program)
	fmt.Fprintf(w, "Usage:\n  %s [command] [flags]\n\nCommands:\n", program)
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-9s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, "\n%s help <command> (or %s <command> --help) shows a command's flags; each flag is also read\n"+
		"from GPUMETER_<FLAG>, e.g. GPUMETER_KAFKA_BROKERS for --kafka-brokers.\n", program, program)
}

func runHelp(ctx context.Context, args []string) error {
	switch len(args) {
	case 0:
		writeHelp(stdout)
		return nil
	case 1:
		c, err := lookupCommand(args[0])
		if err != nil {
			return err
		}
		if c.name == "help" || c.name == "version" {
			fmt.Fprintf(stdout, "%s %s: %s\n", program, c.name, c.summary)
			return nil
		}
		if err := c.run(ctx, []string{"--help"}); !errors.Is(err, flagenv.ErrHelp) {
			return err
		}
		return nil
	}
	return flagenv.Usagef("help takes at most one command, got %q", strings.Join(args, " "))
}

func runVersion(_ context.Context, args []string) error {
	if len(args) > 0 {
		return flagenv.Usagef("version takes no arguments, got %q", strings.Join(args, " "))
	}
	fmt.Fprintln(stdout, version.Line(program))
	return nil
}

// clickhouseFlags are shared by every command.
type clickhouseFlags struct {
	addr         flagenv.List
	database     string
	cluster      string
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

// register adds the --clickhouse-* flags, their defaults taken from store.DefaultConfig.
func (c *clickhouseFlags) register(fs *flag.FlagSet) {
	d := store.DefaultConfig()
	c.addr = flagenv.List(d.Addr)
	fs.Var(&c.addr, "clickhouse-addr", "ClickHouse native-protocol addresses, comma-separated")
	fs.StringVar(&c.database, "clickhouse-database", d.Database, "ClickHouse database (created when missing)")
	fs.StringVar(&c.cluster, "clickhouse-cluster", d.Cluster, "ClickHouse cluster (remote_servers name) to keep the schema on: replicated, sharded tables, DDL ON CLUSTER; empty: one server")
	fs.StringVar(&c.user, "clickhouse-user", d.User, "ClickHouse user")
	fs.StringVar(&c.password, "clickhouse-password", "", "ClickHouse password; prefer GPUMETER_CLICKHOUSE_PASSWORD or --clickhouse-password-file")
	fs.StringVar(&c.passwordFile, "clickhouse-password-file", "", "file holding the ClickHouse password")
	fs.BoolVar(&c.tls, "clickhouse-tls", false, "connect to ClickHouse over TLS (its secure native port, usually 9440)")
	fs.StringVar(&c.caFile, "clickhouse-ca-file", "", "PEM file of CAs that sign ClickHouse's certificate (default: the system's)")
	fs.StringVar(&c.certFile, "clickhouse-cert-file", "", "PEM client certificate for mutual TLS")
	fs.StringVar(&c.keyFile, "clickhouse-key-file", "", "PEM client key for mutual TLS")
	fs.StringVar(&c.serverName, "clickhouse-tls-server-name", "", "name to verify in ClickHouse's certificate (default: the host dialled)")
	fs.IntVar(&c.retentionDay, "raw-retention-days", d.RawRetentionDays, "expire raw rows after this many days where the server has TTL (19.6+); 0 keeps them")
}

// config checks the flags (store.Config.Validate) and reads the files they name, reporting every problem at once.
func (c *clickhouseFlags) config() (store.Config, error) {
	cfg := store.DefaultConfig()
	cfg.Addr, cfg.Database, cfg.User, cfg.RawRetentionDays, cfg.Cluster = c.addr, c.database, c.user, c.retentionDay, c.cluster
	errs := []error{cfg.Validate()}
	password, err := credentials.Password("clickhouse", c.password, c.passwordFile)
	if err != nil {
		errs = append(errs, err)
	}
	tlsCfg, err := credentials.TLS{Prefix: "clickhouse", Enabled: c.tls, CAFile: c.caFile, CertFile: c.certFile,
		KeyFile: c.keyFile, ServerName: c.serverName}.Config()
	if err != nil {
		errs = append(errs, err)
	}
	cfg.Password, cfg.TLS = password, tlsCfg
	return cfg, errors.Join(errs...)
}

// openClickHouse validates the ClickHouse flags, then connects (and migrates when asked).
func openClickHouse(ctx context.Context, c *clickhouseFlags, log *slog.Logger, migrate bool) (*store.Store, error) {
	cfg, err := c.config()
	if err != nil {
		return nil, err
	}
	return openStore(ctx, cfg, log.With("component", "store"), migrate)
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
	fs := flag.NewFlagSet(program+" "+name, flag.ContinueOnError)
	fs.Usage = flagenv.Usage(fs, synopsis)
	lo.Register(fs)
	ch.register(fs)
	return fs
}

// runOptions are the run command's flags, registered from the components' default configurations.
type runOptions struct {
	log         logging.Options
	clickhouse  clickhouseFlags
	kafka       kafkaconf.Flags
	consume     consume.Config // Conn is filled in from kafka by validate
	evaluate    evaluate.Config
	commitments string

	partitions, replication   int
	metricsAddr, otlpEndpoint string
	webConfigFile             string
	createTopics              bool
	am                        alert.Flags
	mig                       migrateFlags
}

// runConfig is what validate made of runOptions: everything checked, files read.
type runConfig struct {
	log         *slog.Logger
	store       store.Config
	conn        kafkaconf.Conn
	consume     consume.Config
	evaluate    evaluate.Config
	commitments commitment.File

	partitions, replication   int
	metricsAddr, otlpEndpoint string
	webConfigFile             string
	createTopics              bool
	commitmentsFile           string
	alerts                    *alert.Client // nil: metrics only
	migrate                   *store.Config // the migration connection; nil: only check the schema is current
}

func runConsume(ctx context.Context, args []string) error {
	o, err := parseRunFlags(args)
	if err != nil {
		return err
	}
	cfg, err := o.validate()
	if err != nil {
		return err
	}
	return serve(ctx, cfg)
}

// parseRunFlags registers the run command's flags, their defaults taken from the components' DefaultConfig, and
// parses args (and GPUMETER_ variables).
func parseRunFlags(args []string) (*runOptions, error) {
	o := &runOptions{consume: consume.DefaultConfig(), evaluate: evaluate.DefaultConfig()}
	fs := newFlagSet("run", "gpumeter-collector run consumes usage records from Kafka into ClickHouse.", &o.log, &o.clickhouse)
	o.kafka.Register(fs)
	fs.StringVar(&o.commitments, "commitments", "", "YAML file of commitments, loaded into ClickHouse at start (see deploy/commitments.example.yaml)")
	fs.DurationVar(&o.evaluate.Interval, "alert-interval", o.evaluate.Interval, "how often commitments are evaluated (figures exported as metrics, alerts sent)")
	o.am.Register(fs)
	o.mig.register(fs)
	fs.StringVar(&o.webConfigFile, "web-config-file", "", "exporter-toolkit web config (TLS, basic auth) for --metrics-addr, as node_exporter takes")
	fs.StringVar(&o.metricsAddr, "metrics-addr", "127.0.0.1:9401", "listen address for /metrics, /healthz and /readyz; empty disables")
	fs.StringVar(&o.otlpEndpoint, "otlp-endpoint", "", "OTLP/gRPC endpoint (host:port) for traces; empty disables")
	c := &o.consume
	fs.StringVar(&c.Topic, "topic", c.Topic, "Kafka topic of usage records")
	fs.StringVar(&c.DLQTopic, "dlq-topic", c.DLQTopic, "Kafka topic for records that cannot be stored")
	fs.StringVar(&c.Group, "group", c.Group, "Kafka consumer group; run more collectors in it to scale out")
	fs.IntVar(&c.BatchSize, "batch-size", c.BatchSize, "records per ClickHouse insert")
	fs.IntVar(&c.BatchBytes, "batch-bytes", c.BatchBytes, "bytes of Kafka messages per ClickHouse insert (bounds memory with --batch-size)")
	fs.IntVar(&c.FetchMaxBytes, "fetch-max-bytes", c.FetchMaxBytes, "most bytes one fetch from one partition returns (a larger single message still comes through)")
	fs.DurationVar(&c.BatchWait, "batch-wait", c.BatchWait, "longest a record waits for its batch to fill")
	fs.DurationVar(&c.RollupInterval, "rollup-interval", c.RollupInterval, "while a backlog drains, how long the rollups of stored batches wait, so each node-hour is recomputed once for many batches (offsets are committed after); longer, up to 12 times this, until the batches stored since the last recomputation hold as many raw rows as it read")
	fs.DurationVar(&c.StallAfter, "stall-after", c.StallAfter, "a partition with lag and no commit for this long is a stall: /readyz fails and gpumeter_collector_consumer_stalled_partitions counts it")
	fs.DurationVar(&c.FlushTimeout, "shutdown-timeout", c.FlushTimeout, "how long SIGTERM may spend flushing the last batch and leaving the group")
	fs.BoolVar(&o.createTopics, "create-topics", true, "create the topics at start when missing (turn off where an ACL forbids CreateTopics)")
	fs.IntVar(&o.partitions, "topic-partitions", 12, "partitions of the topics when the collector creates them (it never changes existing ones)")
	fs.IntVar(&o.replication, "topic-replication", 1, "replication factor of the topics when the collector creates them")
	if err := flagenv.Parse(fs, args, flagenv.LookupEnv, stdout); err != nil {
		return nil, err
	}
	return o, nil
}

// validate checks every flag and reads every file they name, and reports all problems at once, each naming its flag.
func (o *runOptions) validate() (runConfig, error) {
	cfg := runConfig{consume: o.consume, evaluate: o.evaluate, partitions: o.partitions, replication: o.replication,
		metricsAddr: o.metricsAddr, otlpEndpoint: o.otlpEndpoint, webConfigFile: o.webConfigFile,
		createTopics: o.createTopics, commitmentsFile: o.commitments}
	var errs []error
	var err error
	if cfg.conn, err = o.kafka.Connect(); err != nil {
		errs = append(errs, err)
	}
	if o.commitments != "" {
		if cfg.commitments, err = commitment.Load(o.commitments); err != nil {
			errs = append(errs, fmt.Errorf("--commitments: %w", err))
		}
	}
	errs = append(errs, o.consume.Validate(), o.evaluate.Validate())
	if o.partitions <= 0 || o.replication <= 0 {
		errs = append(errs, fmt.Errorf("--topic-partitions and --topic-replication: must be positive, got %d and %d", o.partitions, o.replication))
	}
	if cfg.store, err = o.clickhouse.config(); err != nil {
		errs = append(errs, err)
	}
	if cfg.migrate, err = o.mig.config(cfg.store); err != nil {
		errs = append(errs, err)
	}
	if cfg.alerts, err = o.am.Client(nil); err != nil {
		errs = append(errs, err)
	}
	if cfg.log, err = o.log.Logger(os.Stderr); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return runConfig{}, err
	}
	cfg.consume.Conn = cfg.conn
	return cfg, nil
}

// serve wires the components and consumes until ctx ends: telemetry, topics, ClickHouse, commitments, the consumer
// and, beside it, the evaluator.
func serve(ctx context.Context, cfg runConfig) error {
	log := cfg.log
	tel, err := telemetry.Start(ctx, telemetry.Config{Service: program, MetricsAddr: cfg.metricsAddr,
		OTLPEndpoint: cfg.otlpEndpoint, OTLPInsecure: true, WebConfigFile: cfg.webConfigFile}, log.With("component", "telemetry"))
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
	if err := waitFor(ctx, log, "kafka", setWaiting, func() error {
		if !cfg.createTopics { // an ACL may forbid CreateTopics: only check that they exist
			return cfg.conn.CheckTopics(ctx, cfg.consume.Topic, cfg.consume.DLQTopic)
		}
		err := consume.EnsureTopics(ctx, cfg.conn, cfg.partitions, cfg.replication, cfg.consume.Topic, cfg.consume.DLQTopic)
		if err != nil {
			// Say why, broker by broker: refused, DNS, TLS, SASL rather than only "Broker Not Available".
			if why := cfg.conn.Diagnose(ctx); why != nil {
				return fmt.Errorf("%v; %w", why, err)
			}
		}
		return err
	}); err != nil {
		return err
	}
	st, err := openStoreWaiting(ctx, cfg.store, cfg.migrate, log.With("component", "store"), setWaiting)
	if err != nil {
		return err
	}
	defer func() { _ = st.Close() }()
	if cfg.commitmentsFile != "" {
		if err := commitment.SyncFile(ctx, st.Conn(), st.Database(), cfg.commitments); err != nil {
			return fmt.Errorf("--commitments: load into clickhouse: %w", err)
		}
		log.Info("commitments loaded", "file", cfg.commitmentsFile, "count", len(cfg.commitments.Commitments),
			"prices", len(cfg.commitments.Prices), "requests", len(cfg.commitments.Requests))
	}
	// A table dropped under the running collector is recreated by the migrations (they check what exists).
	c := consume.New(cfg.consume, consume.Deps{Store: st, Repair: st.Migrate}, log.With("component", "consume"))
	if err := c.RegisterMetrics(tel.Meter("gpumeter-collector")); err != nil {
		return fmt.Errorf("register metrics: %w", err)
	}
	c.SetTracer(tel.Tracer("gpumeter-collector"))
	// Ready means able to work: ClickHouse answers, and the consumer is neither blocked nor stalled.
	tel.AddReadiness("clickhouse", st.Ping)
	tel.AddReadiness("consumer", c.Ready)
	waiting.Store(nil)

	var notifier evaluate.Notifier
	if cfg.alerts != nil {
		alog := log.With("component", "alert")
		cfg.alerts.Log = alog
		notifier = alert.NewNotifier(cfg.alerts, cfg.evaluate.Interval, alog)
	}
	ev := evaluate.New(st.Conn(), st.Database(), notifier, log.With("component", "evaluate"))
	if err := ev.RegisterMetrics(tel.Meter("gpumeter-collector")); err != nil {
		return fmt.Errorf("register metrics: %w", err)
	}
	// Evaluation runs beside ingestion and never blocks it: a dead Alertmanager is only logged.
	evalCtx, stopEval := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { ev.Run(evalCtx, cfg.evaluate.Interval) })
	defer func() { stopEval(); wg.Wait() }()

	log.Info("collector consuming", "brokers", cfg.conn.Brokers, "topic", cfg.consume.Topic, "group", cfg.consume.Group,
		"database", st.Database(), "alertmanagers", cfg.alerts.Targets())
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
// database should wait for it, not crash-loop. With migCfg it migrates first under migCfg's user (its own
// connection, closed again), then connects as cfg's; without, it only checks that the schema is current.
func openStoreWaiting(ctx context.Context, cfg store.Config, migCfg *store.Config, log *slog.Logger, setWaiting func(string)) (*store.Store, error) {
	var st *store.Store
	err := waitFor(ctx, log, "clickhouse", setWaiting, func() (err error) {
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
	if err := flagenv.Parse(fs, args, flagenv.LookupEnv, stdout); err != nil {
		return err
	}
	var commitments commitment.File
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
		if err := commitment.SyncFile(ctx, st.Conn(), st.Database(), commitments); err != nil {
			return fmt.Errorf("--commitments: load into clickhouse: %w", err)
		}
		log.Info("commitments loaded", "file", commit, "count", len(commitments.Commitments), "prices", len(commitments.Prices),
			"requests", len(commitments.Requests))
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
	fs.StringVar(&format, "format", "table", "table, csv, json, html, or rofr-csv (the right-of-first-refusal classification per hour)")
	fs.StringVar(&output, "out", "", "write to this file instead of standard output (csv: the commitments there, the daily and team sections beside it as FILE-daily.csv and FILE-teams.csv; standard output gets the commitments only)")
	if err := flagenv.Parse(fs, args, flagenv.LookupEnv, stdout); err != nil {
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
		"rofr-csv": report.WriteROFRCSV,
	}
	write, ok := writers[format]
	if !ok {
		errs = append(errs, fmt.Errorf("--format: %q is not table, csv, json, html or rofr-csv", format))
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
	from, to := figures.DailyPeriod(when, days)
	// The sections are independent statements: they run side by side, so the report takes about as long as its
	// longest statement, the commitment figures (schema/README.md, "Reading the allocation").
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() (err error) {
		r.Commitments, r.Series, err = figures.CommitmentsAndSeries(gctx, st.Conn(), st.Database(), when)
		return err
	})
	g.Go(func() (err error) { r.Daily, err = figures.Daily(gctx, st.Conn(), st.Database(), from, to); return err })
	g.Go(func() (err error) { r.Teams, err = figures.Teams(gctx, st.Conn(), st.Database(), from, to); return err })
	g.Go(func() (err error) { r.ROFR, err = reportROFR(gctx, st.Conn(), st.Database(), when); return err })
	if err := g.Wait(); err != nil {
		return err
	}
	if format == "csv" && output != "" {
		return writeCSVFiles(output, r)
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

// writeCSVFiles writes the CSV report as one file per section: out (the commitments) and, beside it, out with
// -daily and -teams before its .csv.
func writeCSVFiles(out string, r report.Report) error {
	base := strings.TrimSuffix(out, ".csv")
	for _, f := range report.CSVFiles {
		path := out
		if f.Suffix != "" {
			path = base + f.Suffix + ".csv"
		}
		file, err := os.Create(path)
		if err != nil {
			return fmt.Errorf("--out: %w", err)
		}
		if err := f.Write(file, r); err != nil {
			_ = file.Close()
			return fmt.Errorf("write csv report %s: %w", path, err)
		}
		if err := file.Close(); err != nil {
			return fmt.Errorf("--out: %w", err)
		}
	}
	return nil
}

func runExport(ctx context.Context, args []string) error {
	var (
		lo                     logging.Options
		ch                     clickhouseFlags
		format, outFormat, out string
		from, to               string
		version, dataset       string
		billingAccounts        string
	)
	fs := newFlagSet("export", "gpumeter-collector export writes GPU-hours and commitments for FinOps tools (FOCUS 1.2, or 1.3).", &lo, &ch)
	lo.Level = "warn"
	fs.StringVar(&format, "format", "focus", "export schema: focus (FinOps FOCUS)")
	fs.StringVar(&version, "focus-version", export.DefaultVersion, "FOCUS version: "+export.Version12+" or "+export.Version13)
	fs.StringVar(&dataset, "dataset", export.DatasetCostAndUsage, "FOCUS dataset: "+export.DatasetCostAndUsage+
		" (usage and unused commitments) or, with --focus-version "+export.Version13+", "+export.DatasetContractCommitment+" (one row per commitment)")
	fs.StringVar(&billingAccounts, "billing-account", "", "each provider's billing account, provider=id[,provider=id...] "+
		"(BillingAccountId; a provider not named bills to a stand-in account named after it)")
	fs.StringVar(&outFormat, "output-format", export.FormatCSV, "csv or jsonl")
	fs.StringVar(&from, "from", "", "first hour, inclusive: RFC 3339 on a whole UTC hour, 2026-11-01T13 or 2026-11-01 (default: 24 h before --to)")
	fs.StringVar(&to, "to", "", "end hour, exclusive, same forms (default: the start of the current UTC hour)")
	fs.StringVar(&out, "out", "-", "file to write, replaced only when the export succeeds; - for stdout")
	if err := flagenv.Parse(fs, args, flagenv.LookupEnv, stdout); err != nil {
		return err
	}
	if format != "focus" {
		return fmt.Errorf("--format: %q is not supported (want focus)", format)
	}
	opt := export.Options{Format: outFormat, Version: version, Dataset: dataset, To: time.Now().UTC().Truncate(time.Hour)}
	var err error
	if opt.BillingAccounts, err = export.ParseBillingAccounts(billingAccounts); err != nil {
		return fmt.Errorf("--billing-account: %w", err)
	}
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
