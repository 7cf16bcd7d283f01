//go:build integration

package main

import (
	"context"
	"flag"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gpumeter/gpumeter/collector/figures/figurestest"
	"github.com/gpumeter/gpumeter/collector/store"
	"github.com/gpumeter/gpumeter/internal/flagenv"
	"github.com/gpumeter/gpumeter/internal/kafkaconf"
	"github.com/gpumeter/gpumeter/internal/logging"
	"github.com/gpumeter/gpumeter/internal/testenv"
	"github.com/gpumeter/gpumeter/internal/testpki"
)

// chConfig parses ClickHouse flags as every command does and builds the store configuration.
func chConfig(t *testing.T, args ...string) store.Config {
	t.Helper()
	var lo logging.Options
	var ch clickhouseFlags
	fs := newFlagSet("test", "", &lo, &ch)
	fs.SetOutput(io.Discard)
	if err := flagenv.Parse(fs, args, func(string) (string, bool) { return "", false }, io.Discard); err != nil {
		t.Fatalf("parse %q: %v", args, err)
	}
	cfg, err := ch.config()
	if err != nil {
		t.Fatalf("flags %q: %v", args, err)
	}
	cfg.DialTimeout = 3 * time.Second
	return cfg
}

func passwordFile(t *testing.T, password string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "password")
	if err := os.WriteFile(p, []byte(password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// asUser is the flags of one of the server's gpumeter users on its database.
func asUser(s *testenv.ClickHouseServer, t *testing.T, user string) []string {
	return []string{"--clickhouse-database=" + s.Database, "--clickhouse-user=" + user,
		"--clickhouse-password-file=" + passwordFile(t, s.Passwords[user])}
}

// TestClickHouseTLS connects to real ClickHouse 18.16 servers on their secure native port with the collector's
// flags: server TLS verified against the test's CA; a CA that did not sign the certificate, a server name the
// certificate does not hold and plain TCP are refused; a server that requires client certificates takes only a
// client that presents one its CA signed.
func TestClickHouseTLS(t *testing.T) {
	p := testpki.New(t, "clickhouse.test")
	other := testpki.New(t)
	srv := testenv.StartClickHouse(t, testenv.ClickHouseOptions{CertFile: p.ServerCertFile, KeyFile: p.ServerKeyFile, CAFile: p.CAFile})
	mtls := testenv.StartClickHouse(t, testenv.ClickHouseOptions{CertFile: p.ServerCertFile, KeyFile: p.ServerKeyFile,
		CAFile: p.CAFile, RequireClientCert: true})
	client := []string{"--clickhouse-cert-file=" + p.ClientCertFile, "--clickhouse-key-file=" + p.ClientKeyFile}
	tests := []struct {
		name string
		args []string
		fail string // "" connects; "refused": fails; else a substring of the error
	}{
		{name: "TLS with the CA file", args: []string{"--clickhouse-addr=" + srv.TLSAddr, "--clickhouse-tls", "--clickhouse-ca-file=" + p.CAFile}},
		{name: "TLS with a server name in the certificate", args: []string{"--clickhouse-addr=" + srv.TLSAddr, "--clickhouse-tls",
			"--clickhouse-ca-file=" + p.CAFile, "--clickhouse-tls-server-name=clickhouse.test"}},
		{name: "wrong CA", args: []string{"--clickhouse-addr=" + srv.TLSAddr, "--clickhouse-tls", "--clickhouse-ca-file=" + other.CAFile},
			fail: "certificate"},
		{name: "system CAs", args: []string{"--clickhouse-addr=" + srv.TLSAddr, "--clickhouse-tls"}, fail: "certificate"},
		{name: "wrong server name", args: []string{"--clickhouse-addr=" + srv.TLSAddr, "--clickhouse-tls", "--clickhouse-ca-file=" + p.CAFile,
			"--clickhouse-tls-server-name=clickhouse.example"}, fail: "clickhouse.example"},
		{name: "plain TCP to the secure port", args: []string{"--clickhouse-addr=" + srv.TLSAddr}, fail: "refused"},
		{name: "mutual TLS", args: append([]string{"--clickhouse-addr=" + mtls.TLSAddr, "--clickhouse-tls", "--clickhouse-ca-file=" + p.CAFile}, client...)},
		{name: "mutual TLS without a client certificate", args: []string{"--clickhouse-addr=" + mtls.TLSAddr, "--clickhouse-tls",
			"--clickhouse-ca-file=" + p.CAFile}, fail: "refused"},
		{name: "mutual TLS with another CA's client certificate", args: []string{"--clickhouse-addr=" + mtls.TLSAddr, "--clickhouse-tls",
			"--clickhouse-ca-file=" + p.CAFile, "--clickhouse-cert-file=" + other.ClientCertFile, "--clickhouse-key-file=" + other.ClientKeyFile}, fail: "refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
			defer cancel()
			st, err := store.Open(ctx, chConfig(t, tt.args...), testenv.Logger(t))
			if tt.fail == "" {
				if err != nil {
					t.Fatalf("connect: %v", err)
				}
				defer st.Close()
				if err := st.Ping(ctx); err != nil {
					t.Fatalf("ping: %v", err)
				}
				return
			}
			if err == nil {
				st.Close()
				t.Fatal("connected")
			}
			if tt.fail != "refused" && !strings.Contains(err.Error(), tt.fail) {
				t.Errorf("error %q, want it to say %q", err, tt.fail)
			}
			t.Logf("refused: %v", err)
		})
	}
}

// TestLeastPrivilege runs the collector's commands against a real ClickHouse 18.16 with the three users of
// deploy/local/clickhouse/users.xml: the migration user creates the schema and loads commitments; the collector
// migrates under it and ingests as the writer, which inserts and recomputes rollups but can neither migrate nor
// drop, alter or truncate a table; report and export run as the reader, which cannot insert.
func TestLeastPrivilege(t *testing.T) {
	srv := testenv.StartClickHouse(t, testenv.ClickHouseOptions{})
	addr := "--clickhouse-addr=" + srv.Addr
	ctx := t.Context()
	log := testenv.Logger(t)
	example := filepath.Join(testenv.RepoRoot(t), "deploy", "commitments.example.yaml")

	// The run command's start: migrations as the migration user, then a connection as the writer.
	writerCfg := chConfig(t, append(asUser(srv, t, testenv.WriterUser), addr)...)
	var mig migrateFlags
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	mig.register(fs)
	if err := fs.Parse([]string{"--clickhouse-migrate-user=" + testenv.MigrateUser,
		"--clickhouse-migrate-password-file=" + passwordFile(t, srv.Passwords[testenv.MigrateUser])}); err != nil {
		t.Fatal(err)
	}
	migCfg, err := mig.config(writerCfg)
	if err != nil {
		t.Fatal(err)
	}
	st, err := openStoreWaiting(ctx, writerCfg, migCfg, log, func(string) {})
	if err != nil {
		t.Fatalf("migrate as %s, then connect as %s: %v", testenv.MigrateUser, testenv.WriterUser, err)
	}
	defer st.Close()
	if err := runMigrate(ctx, append(asUser(srv, t, testenv.MigrateUser), addr, "--commitments="+example)); err != nil {
		t.Fatalf("migrate --commitments as %s: %v", testenv.MigrateUser, err)
	}

	// 18.16 has no SQL roles: --create-roles says where its users come from instead.
	if err := runMigrate(ctx, append(asUser(srv, t, testenv.MigrateUser), addr, "--create-roles")); err == nil ||
		!strings.Contains(err.Error(), "users.xml") {
		t.Errorf("migrate --create-roles on 18.16: %v, want a pointer to users.xml", err)
	}

	// The writer ingests: raw rows in, rollups recomputed.
	rows := figurestest.GPUHours("azure", "eastus", "Standard_ND96isr_H100_v5", 0, 4, "w")
	if err := st.Insert(ctx, rows); err != nil {
		t.Fatalf("insert as %s: %v", testenv.WriterUser, err)
	}
	var n uint64
	if err := st.Conn().QueryRow(ctx, "SELECT count() FROM "+srv.Database+".usage_hourly").Scan(&n); err != nil || n == 0 {
		t.Fatalf("hourly rollup after the writer's insert: %d rows, %v", n, err)
	}
	// ...but has no DDL: not a table dropped, altered, truncated or created, no migration.
	for _, stmt := range []string{
		"DROP TABLE " + srv.Database + ".usage_raw",
		"TRUNCATE TABLE " + srv.Database + ".usage_raw",
		"ALTER TABLE " + srv.Database + ".usage_raw DELETE WHERE 1",
		"CREATE TABLE " + srv.Database + ".x (a UInt8) ENGINE = Memory",
		"DROP DATABASE " + srv.Database,
		"SET allow_ddl = 1",
	} {
		if err := st.Conn().Exec(ctx, stmt); err == nil {
			t.Errorf("%s ran %q", testenv.WriterUser, stmt)
		} else {
			t.Logf("%s refused %q: %v", testenv.WriterUser, stmt, err)
		}
	}
	if w, err := openStore(ctx, writerCfg, log, true); err == nil {
		w.Close()
		t.Errorf("%s could migrate", testenv.WriterUser)
	}
	if err := openStoreCheck(ctx, writerCfg); err != nil {
		t.Errorf("--migrate=false as %s: %v", testenv.WriterUser, err)
	}

	// The reader reports and exports...
	reader := append(asUser(srv, t, testenv.ReaderUser), addr)
	out := filepath.Join(t.TempDir(), "report.json")
	if err := runReport(ctx, append(reader, "--format=json", "--out="+out, "--at="+figurestest.TermStart.Add(time.Hour).Format(time.RFC3339))); err != nil {
		t.Fatalf("report as %s: %v", testenv.ReaderUser, err)
	}
	if b, _ := os.ReadFile(out); !strings.Contains(string(b), "azure-ndh100-eastus-2026") {
		t.Errorf("report as %s lacks the commitments: %s", testenv.ReaderUser, b)
	}
	focus := filepath.Join(t.TempDir(), "focus.csv")
	if err := runExport(ctx, append(reader, "--from=2026-11-01", "--to=2026-11-02", "--out="+focus)); err != nil {
		t.Fatalf("export as %s: %v", testenv.ReaderUser, err)
	}
	if b, _ := os.ReadFile(focus); !strings.Contains(string(b), "ChargePeriodStart") {
		t.Errorf("export as %s: %s", testenv.ReaderUser, b)
	}
	// ...and refuses --commitments before connecting: report only reads.
	if err := runReport(ctx, append(reader, "--commitments="+example)); err == nil || !strings.Contains(err.Error(), "read") {
		t.Errorf("report --commitments: %v, want a refusal", err)
	}
	// ...but cannot write.
	r, err := store.Open(ctx, chConfig(t, reader...), log)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := r.Insert(ctx, rows); err == nil {
		t.Errorf("%s inserted rows", testenv.ReaderUser)
	} else {
		t.Logf("%s refused the insert: %v", testenv.ReaderUser, err)
	}
	for _, stmt := range []string{
		"INSERT INTO " + srv.Database + ".usage_hourly SELECT * FROM " + srv.Database + ".usage_hourly",
		"DROP TABLE " + srv.Database + ".usage_raw",
		"SET readonly = 0",
	} {
		if err := r.Conn().Exec(ctx, stmt); err == nil {
			t.Errorf("%s ran %q", testenv.ReaderUser, stmt)
		}
	}
	// No gpumeter user sees another database.
	if err := r.Conn().Exec(ctx, "SELECT 1 FROM default.nonexistent"); err == nil || !strings.Contains(err.Error(), "ccess") {
		t.Errorf("%s reading database default: %v, want access denied", testenv.ReaderUser, err)
	}
}

// openStoreCheck is the run command's start with --migrate=false: connect and check the schema is current.
func openStoreCheck(ctx context.Context, cfg store.Config) error {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	st, err := openStoreWaiting(ctx, cfg, nil, slog.New(slog.DiscardHandler), func(string) {})
	if err != nil {
		return err
	}
	return st.Close()
}

// TestRunWithoutCreateTopics: with --create-topics=false the run command creates nothing; it waits for missing
// topics, naming each, until stopped (the ACL case is internal/kafkaconf's TestCheckTopicsUnderACLs).
func TestRunWithoutCreateTopics(t *testing.T) {
	broker := testenv.KafkaAddr(t)
	missing := strings.ReplaceAll(testenv.Name(t, "gpumeter_absent"), "_", ".")
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Second)
	defer cancel()
	err := runConsume(ctx, []string{"--kafka-brokers=" + broker, "--create-topics=false", "--topic=" + missing,
		"--dlq-topic=" + missing + ".dlq", "--metrics-addr=127.0.0.1:0", "--clickhouse-addr=127.0.0.1:1"})
	if err == nil || !strings.Contains(err.Error(), "topic "+missing+" does not exist") || !strings.Contains(err.Error(), "--create-topics=false") {
		t.Fatalf("run --create-topics=false with missing topics: %v", err)
	}
	// Nothing was created behind its back.
	if err := (kafkaconf.Conn{Brokers: []string{broker}}).CheckTopics(t.Context(), missing); err == nil {
		t.Errorf("topic %s exists after run --create-topics=false", missing)
	}
}
