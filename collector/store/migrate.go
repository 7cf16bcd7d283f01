package store

import (
	"context"
	"fmt"
	"strconv"

	chschema "github.com/gpumeter/gpumeter/schema/clickhouse"
)

// Migrate creates the database when it is missing and applies the migrations the schema_migrations table does not
// list yet, in order. Every statement is idempotent, so two collectors migrating at once do no harm.
func (s *Store) Migrate(ctx context.Context) error {
	db := map[string]string{"DB": s.db}
	q, err := chschema.Query("migrations_create_database", db)
	if err != nil {
		return err
	}
	if err := s.conn.Exec(ctx, q); err != nil {
		return fmt.Errorf("create database %s: %w", s.db, err)
	}
	if q, err = chschema.Query("migrations_table", db); err != nil {
		return err
	}
	if err := s.conn.Exec(ctx, q); err != nil {
		return fmt.Errorf("create %s.schema_migrations: %w", s.db, err)
	}
	applied := map[int]bool{}
	if q, err = chschema.Query("migrations_applied", db); err != nil {
		return err
	}
	rows, err := s.conn.Query(ctx, q)
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
		record, err := chschema.Query("migration_record", map[string]string{"DB": s.db,
			"Version": strconv.Itoa(m.Version), "Name": chschema.String(m.Name)})
		if err != nil {
			return err
		}
		if err := s.conn.Exec(ctx, record); err != nil {
			return fmt.Errorf("record migration %04d_%s: %w", m.Version, m.Name, err)
		}
		s.log.Info("applied migration", "database", s.db, "version", m.Version, "name", m.Name)
	}
	return nil
}
