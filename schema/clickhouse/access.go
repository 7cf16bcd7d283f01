package clickhouse

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"strings"
	"text/template"
)

//go:embed access/*.sql
var accessFiles embed.FS

var access = template.Must(template.New("").Option("missingkey=error").ParseFS(accessFiles, "access/*.sql"))

// The roles of schema/README.md, "Users and rights": one name on every server, whether a users.xml user (18.16) or
// a SQL role (20.5 and later).
const (
	RoleMigrate = "gpumeter_migrate" // DDL on the database: migrations, and loading commitments
	RoleWriter  = "gpumeter_writer"  // INSERT and SELECT on the database: ingest, rollup recomputes, commitments
	RoleReader  = "gpumeter_reader"  // SELECT on the database: report, export, analysts
)

// ErrNoSQLAccess says the server has no SQL access control: its users and their rights are declared in users.xml.
var ErrNoSQLAccess = errors.New("this ClickHouse has no SQL roles or grants (before 20.5): declare gpumeter's users in users.xml, as deploy/local/clickhouse/users.xml does")

// RoleStatements are the statements that create the three roles and grant them their rights on db, for servers
// with SQL access control; ErrNoSQLAccess for the others (Features.SQLAccess says which). They are idempotent.
func RoleStatements(db string, f Features) ([]string, error) {
	if !f.SQLAccess {
		return nil, fmt.Errorf("clickhouse %s: %w", f.Version, ErrNoSQLAccess)
	}
	var buf bytes.Buffer
	if err := access.ExecuteTemplate(&buf, "roles.sql", map[string]string{"DB": db}); err != nil {
		return nil, fmt.Errorf("render access/roles.sql: %w", err)
	}
	var code []string
	for line := range strings.SplitSeq(buf.String(), "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), "--") {
			code = append(code, line)
		}
	}
	var out []string
	for stmt := range strings.SplitSeq(strings.Join(code, "\n"), ";") {
		if s := strings.TrimSpace(stmt); s != "" {
			out = append(out, s)
		}
	}
	return out, nil
}
