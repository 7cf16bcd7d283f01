// Package store writes usage records to ClickHouse and keeps the schema there current.
package store

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/gpumeter/gpumeter/schema"
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
	conn, err := clickhouse.Open(&clickhouse.Options{
		Addr:        cfg.Addr,
		Auth:        clickhouse.Auth{Database: "default", Username: cfg.User, Password: cfg.Password},
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
	log.Info("connected to clickhouse", "addr", cfg.Addr, "version", version,
		"low_cardinality", s.features.LowCardinality, "ttl", s.features.TTL)
	return s, nil
}

// Database is the database the store writes to.
func (s *Store) Database() string { return s.db }

// Conn exposes the connection for reports and tests that read what was stored.
func (s *Store) Conn() driver.Conn { return s.conn }

// Ping checks that the server answers.
func (s *Store) Ping(ctx context.Context) error { return s.conn.Ping(ctx) }

// Close closes the connection.
func (s *Store) Close() error { return s.conn.Close() }

// Row is a record with where it came from in Kafka, kept on the raw row for audits.
type Row struct {
	schema.Record
	Topic     string
	Partition int
	Offset    int64
}

const insertUsage = `INSERT INTO %s.usage_raw (interval_start, interval_end, window_start, window_end, provider, region,
zone, instance_type, account, node, gpu_uuid, gpu_index, gpu_model, mig_profile, namespace, pod, team,
provisioned_seconds, allocated_seconds, busy_seconds, memory_used_avg_bytes, memory_used_max_bytes, memory_total_bytes,
energy_joules, power_avg_watts, samples, schema_version, kafka_topic, kafka_partition, kafka_offset)`

// Insert writes rows as one INSERT, then recomputes the rollups of the hours they touched. It returns only after
// ClickHouse acknowledged both; on error nothing can be assumed about what was stored, and the caller retries the
// same rows (duplicates collapse by identity, and recomputation is idempotent).
func (s *Store) Insert(ctx context.Context, rows []Row) error {
	if len(rows) == 0 {
		return nil
	}
	batch, err := s.conn.PrepareBatch(ctx, fmt.Sprintf(insertUsage, s.db))
	if err != nil {
		return fmt.Errorf("prepare insert of %d rows into %s.usage_raw: %w", len(rows), s.db, err)
	}
	defer func() { _ = batch.Abort() }()
	for i := range rows {
		r := &rows[i]
		err := batch.Append(r.IntervalStart, r.IntervalEnd, r.WindowStart, r.WindowEnd, r.Provider, r.Region,
			r.Zone, r.InstanceType, r.Account, r.Node, r.GPUUUID, uint16(r.GPUIndex), r.GPUModel, r.MIGProfile,
			r.Namespace, r.Pod, r.Team, r.ProvisionedSeconds, r.AllocatedSeconds, r.BusySeconds,
			r.MemoryUsedAvgBytes, r.MemoryUsedMaxBytes, r.MemoryTotalBytes, r.EnergyJoules, r.PowerAvgWatts,
			r.Samples, uint8(r.Version), r.Topic, int32(r.Partition), r.Offset)
		if err != nil {
			return fmt.Errorf("append row %d (node %s gpu %s): %w", i, r.Node, r.GPUUUID, err)
		}
	}
	if err := batch.Send(); err != nil {
		return fmt.Errorf("insert %d rows into %s.usage_raw: %w", len(rows), s.db, err)
	}
	hours := make([]time.Time, len(rows))
	for i := range rows {
		hours[i] = rows[i].IntervalStart
	}
	return s.Recompute(ctx, hours)
}

// IsRetryable tells a failed insert caused by the server or network (retry later) from one caused by the rows
// themselves. Validated records should never produce the latter; it is logged loudly if they do.
func IsRetryable(err error) bool {
	var ex *clickhouse.Exception
	if errors.As(err, &ex) {
		// Type mismatches and syntax errors will not heal by retrying.
		switch ex.Code {
		case 6, 27, 41, 53, 62, 70: // CANNOT_PARSE_TEXT, CANNOT_PARSE_INPUT..., CANNOT_PARSE_DATETIME, TYPE_MISMATCH, SYNTAX_ERROR, CANNOT_CONVERT_TYPE
			return false
		}
	}
	return true
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
