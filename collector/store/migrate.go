package store

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"

	chschema "github.com/gpumeter/gpumeter/schema/clickhouse"
)

// Migrate makes the schema the one the migrations describe, whatever state the database is in: it creates the
// database when missing, applies the migrations schema_migrations does not list, and also re-applies a listed
// migration whose objects are gone (a dropped usage_raw), with every migration after it, because those may alter or
// read what it creates. Which objects a migration owns is read from its SQL (chschema.Expected). Every statement is
// idempotent (chschema.Migration.CheckIdempotent), so re-applying is harmless, and two collectors migrating at once
// converge: a statement that fails because the other one changed the schema under it (a view it reads was being
// replaced) starts a new pass, up to a few times. Migrate is also the hook for a consumer whose insert found a table
// missing (IsMissingObject).
func (s *Store) Migrate(ctx context.Context) error {
	backoff := 100 * time.Millisecond
	for pass := 1; ; pass++ {
		err := s.migrateOnce(ctx)
		if err == nil || !isConcurrentDDL(err) || pass == migratePasses || ctx.Err() != nil {
			return err
		}
		s.log.Info("schema changed under a migration, as when another collector migrates at the same time; trying again",
			"database", s.db, "pass", pass, "err", err)
		// Jittered, so two collectors that collided do not collide again in step: the one that waits less finishes
		// while the other sleeps, and the other's next pass finds the schema complete.
		select {
		case <-ctx.Done():
			return err
		case <-time.After(backoff/2 + rand.N(backoff)):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// migratePasses bounds Migrate's passes when other migrators keep changing the schema under it.
const migratePasses = 10

func (s *Store) migrateOnce(ctx context.Context) error {
	layout := s.Layout()
	if err := s.exec(ctx, "migrations_create_database", map[string]string{"DB": s.db, "OnCluster": layout.OnCluster()}); err != nil {
		return fmt.Errorf("create database %s: %w", s.db, err)
	}
	engine, err := layout.EverywhereEngine("schema_migrations", "ReplacingMergeTree()")
	if err != nil {
		return err
	}
	if err := s.exec(ctx, "migrations_table", map[string]string{"DB": s.db, "OnCluster": layout.OnCluster(), "Engine": engine}); err != nil {
		return fmt.Errorf("create %s.schema_migrations: %w", s.db, err)
	}
	applied, err := s.journal(ctx)
	if err != nil {
		return err
	}
	migrations, err := s.migrations()
	if err != nil {
		return err
	}
	missing, err := s.missing(ctx, migrations)
	if err != nil {
		return err
	}
	if len(missing) > 0 && len(applied) > 0 {
		// Another collector replacing a view (DROP, then CREATE) makes it missing for a moment: look again before
		// concluding that something was dropped.
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(settle):
		}
		if missing, err = s.missing(ctx, migrations); err != nil {
			return err
		}
	}
	// The first migration to (re-)apply: the earliest not in the journal, or the earliest owning a missing object.
	from := len(migrations)
	for i, m := range migrations {
		if !applied[m.Version] {
			from = i
			break
		}
	}
	expected := chschema.Expected(migrations)
	var lost []string // missing although the journal says their migration ran: dropped by hand
	for _, name := range missing {
		i := expected[name]
		from = min(from, i)
		if applied[migrations[i].Version] {
			lost = append(lost, name)
		}
	}
	if len(lost) > 0 {
		s.log.Warn("schema incomplete: objects that applied migrations created are missing; re-applying from the "+
			"migration that creates the first of them", "database", s.db, "missing", lost,
			"from_version", migrations[from].Version)
	}
	for _, m := range migrations[from:] {
		for i, stmt := range m.Statements {
			if err := s.conn.Exec(ctx, stmt); err != nil && !(chschema.PlainAddColumn(stmt) && columnExists(err)) {
				return fmt.Errorf("migration %04d_%s statement %d: %w", m.Version, m.Name, i+1, err)
			}
		}
		record := map[string]string{"DB": s.db, "Version": strconv.Itoa(m.Version), "Name": chschema.String(m.Name)}
		if err := s.exec(ctx, "migration_record", record); err != nil {
			return fmt.Errorf("record migration %04d_%s: %w", m.Version, m.Name, err)
		}
		s.log.Info("applied migration", "database", s.db, "version", m.Version, "name", m.Name)
	}
	if from == len(migrations) {
		return nil
	}
	still, err := s.missing(ctx, migrations)
	if err != nil {
		return err
	}
	if len(still) > 0 {
		return &MissingError{Database: s.db, Objects: still}
	}
	return nil
}

// settle is how long Migrate waits to look again at objects it found missing (see migrateOnce).
const settle = 250 * time.Millisecond

func (s *Store) migrations() ([]chschema.Migration, error) {
	return chschema.Migrations(chschema.Params{DB: s.db, RawRetentionDays: s.cfg.RawRetentionDays, Cluster: s.cfg.Cluster}, s.features)
}

func (s *Store) journal(ctx context.Context) (map[int]bool, error) {
	applied := map[int]bool{}
	q, err := chschema.Query("migrations_applied", map[string]string{"DB": s.db})
	if err != nil {
		return nil, err
	}
	rows, err := s.conn.Query(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("read %s.schema_migrations: %w", s.db, err)
	}
	defer rows.Close()
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
	return applied, nil
}

// Missing lists the tables and views the migrations create that the database lacks (none once Migrate succeeded),
// sorted. A collector says with it what is missing when an insert fails for a missing table.
func (s *Store) Missing(ctx context.Context) ([]string, error) {
	migrations, err := s.migrations()
	if err != nil {
		return nil, err
	}
	return s.missing(ctx, migrations)
}

func (s *Store) missing(ctx context.Context, migrations []chschema.Migration) ([]string, error) {
	q, err := chschema.Query("tables_in_database", map[string]string{"DB": s.db})
	if err != nil {
		return nil, err
	}
	rows, err := s.conn.Query(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("list the tables of %s: %w", s.db, err)
	}
	defer rows.Close()
	present := map[string]bool{}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, fmt.Errorf("list the tables of %s: %w", s.db, err)
		}
		present[name] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list the tables of %s: %w", s.db, err)
	}
	var out []string
	for name := range chschema.Expected(migrations) {
		if !present[name] {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out, nil
}

// MissingError says which objects of the schema are missing.
type MissingError struct {
	Database string
	Objects  []string
}

func (e *MissingError) Error() string {
	return fmt.Sprintf("clickhouse database %s lacks %v after migrating", e.Database, e.Objects)
}

// IsMissingObject tells an error caused by a missing table, view or database (dropped by hand, or not migrated yet):
// Migrate heals it, retrying alone does not.
func IsMissingObject(err error) bool {
	var ex *clickhouse.Exception
	return errors.As(err, &ex) && (ex.Code == codeUnknownTable || ex.Code == codeUnknownDatabase)
}

// columnExists tells the server's answer to ADD COLUMN of a column the table has (ILLEGAL_COLUMN): the migration
// step was applied before.
func columnExists(err error) bool {
	var ex *clickhouse.Exception
	return errors.As(err, &ex) && ex.Code == codeIllegalColumn
}

// isConcurrentDDL tells an error another migrator's DDL can cause mid-pass: an object that was there a moment ago is
// gone (a view being replaced), one a check found missing now exists, or a view this pass just replaced was created
// again by the other migrator's older migration (a column of the new definition is then unknown until the other one
// reaches the same migration; the next pass replaces it again).
func isConcurrentDDL(err error) bool {
	var ex *clickhouse.Exception
	var me *MissingError // a view the other collector was replacing when this one checked
	return IsMissingObject(err) || errors.As(err, &me) ||
		(errors.As(err, &ex) && (ex.Code == codeTableExists || ex.Code == codeDatabaseExists || ex.Code == codeTableIsDropped ||
			ex.Code == codeUnknownIdent))
}

// CheckMigrated reports an error unless every migration is applied and every object they create exists: for a
// collector whose user may not run DDL (migrations left to `gpumeter-collector migrate` under a user that may). It
// only reads.
func (s *Store) CheckMigrated(ctx context.Context) error {
	applied, err := s.journal(ctx)
	if err != nil {
		return err
	}
	migrations, err := s.migrations()
	if err != nil {
		return err
	}
	var pending []string
	for _, m := range migrations {
		if !applied[m.Version] {
			pending = append(pending, fmt.Sprintf("%04d_%s", m.Version, m.Name))
		}
	}
	if len(pending) > 0 {
		return fmt.Errorf("schema of %s not current: migrations %v not applied (run gpumeter-collector migrate)", s.db, pending)
	}
	missing, err := s.missing(ctx, migrations)
	if err != nil {
		return err
	}
	if len(missing) > 0 {
		return fmt.Errorf("schema of %s incomplete: %v missing (run gpumeter-collector migrate)", s.db, missing)
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
