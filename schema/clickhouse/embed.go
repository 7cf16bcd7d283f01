// Package clickhouse holds gpumeter's ClickHouse schema: ordered migrations as SQL templates, rendered for the
// server's version (see Features) and applied by the collector.
package clickhouse

import (
	"bytes"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
	"text/template"

	"github.com/gpumeter/gpumeter/internal/cloudprovider"
)

// focusProviders renders cloudprovider.Table for the focus_providers view.
func focusProviders() string {
	rows := make([]string, len(cloudprovider.Table))
	for i, p := range cloudprovider.Table {
		rows[i] = "(" + String(p.ID) + ", " + String(p.FOCUSName) + ", " + String(p.ServiceName) + ")"
	}
	return "[" + strings.Join(rows, ", ") + "]"
}

//go:embed migrations/*.sql
var files embed.FS

// Migration is one numbered step of the schema. Its statements are idempotent, so applying a step twice (two
// collectors starting at once) is harmless.
type Migration struct {
	Version    int
	Name       string
	Statements []string
}

// Params are what the templates may use besides Features.
type Params struct {
	DB               string
	RawRetentionDays int    // 0 keeps raw rows forever
	Cluster          string // the cluster the schema lives on (Layout); empty for one server
}

// Migrations renders every embedded migration for the given server features, in order.
func Migrations(p Params, f Features) ([]Migration, error) {
	names, err := fs.Glob(files, "migrations/*.sql")
	if err != nil {
		return nil, fmt.Errorf("list migrations: %w", err)
	}
	sort.Strings(names)
	funcs := template.FuncMap(Layout{DB: p.DB, Cluster: p.Cluster}.Funcs())
	for name, fn := range map[string]any{
		"lc": f.lowCardinality,
		// A view that is a query of queries/ rendered for "now()", so the view and the report share one text.
		// (Series "": the figures without the charts' series, commitment_figures.sql.)
		"query": func(name, db, at string) (string, error) {
			return Query(name, map[string]string{"DB": db, "At": at, "Series": ""})
		},
		// The provider table (internal/cloudprovider) as an array of (provider, FOCUS name, FOCUS service name)
		// tuples, so SQL names providers as the FOCUS export does.
		"focusProviders": focusProviders,
		// A rollup query of queries/ rendered for all of history, so the migration that creates a rollup backfills it
		// with the same text the collector recomputes it with.
		"backfill": func(name, db string) (string, error) {
			return Query(name, Backfill(db))
		},
	} {
		funcs[name] = fn
	}
	data := struct {
		Params
		Features
		TTL bool
	}{p, f, f.TTL && p.RawRetentionDays > 0}
	var out []Migration
	for _, name := range names {
		base := path.Base(name)
		num, label, ok := strings.Cut(strings.TrimSuffix(base, ".sql"), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil {
			return nil, fmt.Errorf("migration %s: name must be NNNN_label.sql", base)
		}
		src, err := files.ReadFile(name)
		if err != nil {
			return nil, fmt.Errorf("read migration %s: %w", base, err)
		}
		tmpl, err := template.New(base).Funcs(funcs).Option("missingkey=error").Parse(string(src))
		if err != nil {
			return nil, fmt.Errorf("parse migration %s: %w", base, err)
		}
		var buf bytes.Buffer
		if err := tmpl.Execute(&buf, data); err != nil {
			return nil, fmt.Errorf("render migration %s: %w", base, err)
		}
		out = append(out, Migration{Version: v, Name: label, Statements: splitStatements(buf.String())})
	}
	return out, nil
}

// splitStatements cuts a script at semicolons that end a line; our SQL never puts one inside a string literal.
func splitStatements(script string) []string {
	var out []string
	var cur strings.Builder
	for line := range strings.SplitSeq(script, "\n") {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "--") || (trimmed == "" && cur.Len() == 0) {
			continue
		}
		cur.WriteString(line)
		cur.WriteByte('\n')
		if strings.HasSuffix(trimmed, ";") {
			stmt := strings.TrimSuffix(strings.TrimSpace(cur.String()), ";")
			if strings.TrimSpace(stmt) != "" {
				out = append(out, stmt)
			}
			cur.Reset()
		}
	}
	if s := strings.TrimSpace(cur.String()); s != "" {
		out = append(out, s)
	}
	return out
}
