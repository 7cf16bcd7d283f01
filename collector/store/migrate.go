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
	pending, err := s.pending(ctx)
	if err != nil {
		return err
	}
	for _, m := range pending {
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

// pending is the migrations schema_migrations does not list yet, in order.
func (s *Store) pending(ctx context.Context) ([]chschema.Migration, error) {
	q, err := chschema.Query("migrations_applied", map[string]string{"DB": s.db})
	if err != nil {
		return nil, err
	}
	rows, err := s.conn.Query(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("read %s.schema_migrations: %w", s.db, err)
	}
	defer rows.Close()
	applied := map[int]bool{}
	for rows.Next() {
		var v uint32
		if err := rows.Scan(&v); err != nil {
			return nil, fmt.Errorf("read %s.schema_migrations: %w", s.db, err)
		}
		applied[int(v)] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read %s.schema_migrations: %w", s.db, err)
	}
	migrations, err := chschema.Migrations(chschema.Params{DB: s.db, RawRetentionDays: s.cfg.RawRetentionDays}, s.features)
	if err != nil {
		return nil, err
	}
	var out []chschema.Migration
	for _, m := range migrations {
		if !applied[m.Version] {
			out = append(out, m)
		}
	}
	return out, nil
}

// CheckMigrated reports an error unless every migration is applied: for a collector whose user may not run DDL
// (migrations left to `gpumeter-collector migrate` under a user that may). It only reads.
func (s *Store) CheckMigrated(ctx context.Context) error {
	pending, err := s.pending(ctx)
	if err != nil {
		return err
	}
	if len(pending) > 0 {
		m := pending[0]
		return fmt.Errorf("schema of %s not current: migration %04d_%s and %d more not applied (run gpumeter-collector migrate)",
			s.db, m.Version, m.Name, len(pending)-1)
	}
	return nil
}

// CreateRoles creates gpumeter's three roles (migrate, writer, reader) with their rights on the database, on a
// server with SQL access control; the connection's user must be allowed to manage access. On 18.16 it fails with
// chschema.ErrNoSQLAccess: declare the users in users.xml instead (schema/README.md, "Users and rights").
func (s *Store) CreateRoles(ctx context.Context) error {
	stmts, err := chschema.RoleStatements(s.db, s.features)
	if err != nil {
		return err
	}
	for _, stmt := range stmts {
		if err := s.conn.Exec(ctx, stmt); err != nil {
			return fmt.Errorf("create roles: %s: %w", stmt, err)
		}
	}
	s.log.Info("roles created", "database", s.db, "roles", []string{chschema.RoleMigrate, chschema.RoleWriter, chschema.RoleReader})
	return nil
}
