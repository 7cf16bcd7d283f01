package clickhouse

import (
	"bytes"
	"embed"
	"fmt"
	"strings"
	"text/template"
	"time"
)

//go:embed queries/*.sql
var queryFiles embed.FS

var queries = template.Must(template.New("").Option("missingkey=error").ParseFS(queryFiles, "queries/*.sql"))

// Query renders queries/<name>.sql with data. Values reach the SQL as literals made by DateTime, Date and
// Strings below, because 18.16 has no query parameters.
func Query(name string, data any) (string, error) {
	var buf bytes.Buffer
	if err := queries.ExecuteTemplate(&buf, name+".sql", data); err != nil {
		return "", fmt.Errorf("render query %s: %w", name, err)
	}
	var lines []string
	for line := range strings.SplitSeq(buf.String(), "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), "--") {
			lines = append(lines, line)
		}
	}
	return strings.TrimSpace(strings.Join(lines, "\n")), nil
}

// DateTime is a UTC DateTime literal.
func DateTime(t time.Time) string {
	return "toDateTime('" + t.UTC().Format(time.DateTime) + "', 'UTC')"
}

// Date is a Date literal.
func Date(t time.Time) string { return "toDate('" + t.UTC().Format(time.DateOnly) + "')" }

// String quotes s as a ClickHouse string literal.
func String(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

// Backfill is the data that renders a rollup query (queries/rollup_*.sql) for every period there is.
func Backfill(db string) map[string]string {
	return map[string]string{"DB": db, "From": "", "To": "", "Nodes": "", "Hours": "", "Days": ""}
}
