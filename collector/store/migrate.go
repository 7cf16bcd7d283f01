package store

import (
	"context"
	"fmt"

	chschema "github.com/gpumeter/gpumeter/schema/clickhouse"
)

// Migrate creates the database when it is missing and applies the migrations the schema_migrations table does not
// list yet, in order. Every statement is idempotent, so two collectors migrating at once do no harm.
func (s *Store) Migrate(ctx context.Context) error {
	if err := s.conn.Exec(ctx, fmt.Sprintf("CREATE DATABASE IF NOT EXISTS %s", s.db)); err != nil {
		return fmt.Errorf("create database %s: %w", s.db, err)
	}
	create := fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s.schema_migrations
(version UInt32, name String, applied_at DateTime) ENGINE = ReplacingMergeTree() ORDER BY version`, s.db)
	if err := s.conn.Exec(ctx, create); err != nil {
		return fmt.Errorf("create %s.schema_migrations: %w", s.db, err)
	}
	applied := map[int]bool{}
	rows, err := s.conn.Query(ctx, fmt.Sprintf("SELECT DISTINCT version FROM %s.schema_migrations", s.db))
	if err != nil {
		return fmt.Errorf("read %s.schema_migrations: %w", s.db, err)
	}
	for rows.Next() {
		var v uint32
		if err := rows.Scan(&v); err != nil {
			rows.Close()
			return fmt.Errorf("read %s.schema_migrations: %w", s.db, err)
		}
		applied[int(v)] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read %s.schema_migrations: %w", s.db, err)
	}

	migrations, err := chschema.Migrations(chschema.Params{DB: s.db, RawRetentionDays: s.cfg.RawRetentionDays}, s.features)
	if err != nil {
		return err
	}
	for _, m := range migrations {
		if applied[m.Version] {
			continue
		}
		for i, stmt := range m.Statements {
			if err := s.conn.Exec(ctx, stmt); err != nil {
				return fmt.Errorf("migration %04d_%s statement %d: %w", m.Version, m.Name, i+1, err)
			}
		}
		record := fmt.Sprintf("INSERT INTO %s.schema_migrations (version, name, applied_at) SELECT %d, '%s', now()",
			s.db, m.Version, m.Name)
		if err := s.conn.Exec(ctx, record); err != nil {
			return fmt.Errorf("record migration %04d_%s: %w", m.Version, m.Name, err)
		}
		s.log.Info("applied migration", "database", s.db, "version", m.Version, "name", m.Name)
	}
	return nil
}
