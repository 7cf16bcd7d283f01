// Package store writes usage records to ClickHouse and keeps the schema there current.
package store

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	chschema "github.com/gpumeter/gpumeter/schema/clickhouse"
)

// Config says how to reach ClickHouse.
type Config struct {
	Addr             []string // host:port of the native protocol (clickhouse-go does not speak HTTP to 18.16)
	Database         string
	User             string
	Password         string
	TLS              *tls.Config // nil for plain TCP
	DialTimeout      time.Duration
	RawRetentionDays int // 0 keeps raw rows forever; honoured only where the server has TTL
	// Cluster is the ClickHouse cluster (remote_servers name) the schema lives on: Replicated local tables with
	// Distributed tables over them, DDL ON CLUSTER (schema/clickhouse.Layout). Empty: one server.
	Cluster string
}

// clusterSettings are the session settings of a collector on a cluster (schema/README.md, "Clusters"): an insert
// returns once every shard stored its rows (not when they are queued on the server's disk), so an acknowledged batch
// is stored and the rollups recomputed after it see it. The rest of what a collector on a cluster needs is in the
// servers' profile, because clickhouse-go cannot send string settings to 18.16 (README.md, "Running on a ClickHouse
// cluster"): load_balancing = in_order, distributed_product_mode = global, and prefer_localhost_replica left on.
func clusterSettings() clickhouse.Settings {
	return clickhouse.Settings{"insert_distributed_sync": 1}
}

// Store is a connection to ClickHouse with the server's features already probed.
type Store struct {
	conn     driver.Conn
	db       string
	cfg      Config
	features chschema.Features
	log      *slog.Logger
}

// Open connects and asks the server for its version. The database need not exist yet (see Migrate).
func Open(ctx context.Context, cfg Config, log *slog.Logger) (*Store, error) {
	if cfg.DialTimeout == 0 {
		cfg.DialTimeout = DefaultConfig().DialTimeout
	}
	var settings clickhouse.Settings
	if cfg.Cluster != "" {
		settings = clusterSettings()
	}
	conn, err := clickhouse.Open(&clickhouse.Options{
		Addr: cfg.Addr,
		// With several addresses, a server that does not answer is skipped for the next (a replica down).
		ConnOpenStrategy: clickhouse.ConnOpenInOrder,
		Settings:         settings,
		// The session's database is system: it exists before migrations create ours, and 18.16 lets every user in
		// (gpumeter's users see only their own database besides it; every statement names its database).
		Auth:        clickhouse.Auth{Database: "system", Username: cfg.User, Password: cfg.Password},
		TLS:         cfg.TLS,
		DialTimeout: cfg.DialTimeout,
		// Large batches: compress on the wire; LZ4 is cheap on both ends and 18.16 understands it.
		Compression: &clickhouse.Compression{Method: clickhouse.CompressionLZ4},
	})
	if err != nil {
		return nil, fmt.Errorf("clickhouse %v: %w", cfg.Addr, err)
	}
	s := &Store{conn: conn, db: cfg.Database, cfg: cfg, log: log}
	var version string
	q, err := chschema.Query("server_version", nil)
	if err != nil {
		_ = conn.Close()
		return nil, err
	}
	if err := conn.QueryRow(ctx, q).Scan(&version); err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("clickhouse %v: ask server version: %w%s", cfg.Addr, err, httpPortHint(ctx, cfg))
	}
	if s.features, err = chschema.FeaturesFor(version); err != nil {
		_ = conn.Close()
		return nil, err
	}
	log.Info("connected to clickhouse", "addr", cfg.Addr, "version", version, "cluster", cfg.Cluster,
		"low_cardinality", s.features.LowCardinality, "ttl", s.features.TTL)
	return s, nil
}

// Features are what the connected server supports (schema/clickhouse/features.go).
func (s *Store) Features() chschema.Features { return s.features }

// Layout is how the schema is laid out: one server or the cluster (schema/clickhouse/cluster.go).
func (s *Store) Layout() chschema.Layout { return s.cfg.Layout() }

// Layout is the layout of the configured database (schema/clickhouse/cluster.go).
func (c Config) Layout() chschema.Layout { return chschema.Layout{DB: c.Database, Cluster: c.Cluster} }

// Database is the database the store writes to.
func (s *Store) Database() string { return s.db }

// Conn exposes the connection for reports and tests that read what was stored.
func (s *Store) Conn() driver.Conn { return s.conn }

// Ping checks that the server answers.
func (s *Store) Ping(ctx context.Context) error { return s.conn.Ping(ctx) }

// Close closes the connection.
func (s *Store) Close() error { return s.conn.Close() }

// Insert writes rows as one INSERT, then recomputes the rollups of the node-hours they touched. It returns only after
// ClickHouse acknowledged both; on error nothing can be assumed about what was stored, and the caller retries the
// same rows (duplicates collapse by identity, and recomputation is idempotent).
func (s *Store) Insert(ctx context.Context, rows []Row) error {
	if err := s.WriteRaw(ctx, rows); err != nil {
		return err
	}
	if err := s.Recompute(ctx, Touched(rows)); err != nil {
		return rollupError{err}
	}
	return nil
}

// httpPortHint explains a failed handshake with an address that answers ClickHouse's HTTP /ping: clickhouse-go speaks
// the native protocol only, which waits for a handshake the HTTP interface never sends (the error is a read timeout).
func httpPortHint(ctx context.Context, cfg Config) string {
	if cfg.TLS != nil {
		return ""
	}
	client := &http.Client{Timeout: time.Second}
	for _, addr := range cfg.Addr {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/ping", nil)
		if err != nil {
			continue
		}
		resp, err := client.Do(req)
		if err != nil {
			continue
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 64))
		_ = resp.Body.Close()
		if strings.TrimSpace(string(body)) == "Ok." {
			return fmt.Sprintf(" (%s is ClickHouse's HTTP interface; --clickhouse-addr wants the native protocol port, "+
				"9000 by default, 9440 with TLS)", addr)
		}
	}
	return ""
}
