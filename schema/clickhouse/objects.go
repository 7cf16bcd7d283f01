package clickhouse

import (
	"fmt"
	"regexp"
	"strings"
)

// Statement forms a migration may use. Each is idempotent, alone and with another collector running the same
// statement at the same moment (ClickHouse serialises DDL on one name): applying a migration again, or two at once,
// converges on the same schema. A view is replaced by DROP TABLE IF EXISTS then CREATE VIEW IF NOT EXISTS.
var (
	createStmt = regexp.MustCompile(`(?is)^\s*CREATE\s+(?:OR\s+REPLACE\s+)?(TABLE|VIEW|MATERIALIZED\s+VIEW|DICTIONARY)\s+(IF\s+NOT\s+EXISTS\s+)?(?:\S+\.)?([A-Za-z_][A-Za-z0-9_]*)\b`)
	dropStmt   = regexp.MustCompile(`(?is)^\s*DROP\s+(TABLE|VIEW|DICTIONARY)\s+(IF\s+EXISTS\s+)?(?:\S+\.)?([A-Za-z_][A-Za-z0-9_]*)\b`)
	// An INSERT … SELECT into a rollup table is idempotent by construction: each rollup is a ReplacingMergeTree whose
	// version is deterministic (schema/README.md, "Rollups"), so the same data gives the same rows again.
	idempotentInsert = regexp.MustCompile(`(?is)^\s*INSERT\s+INTO\s+(?:\S+\.)?rollup_(?:node_hour|hour|day)\s*\(.*\bSELECT\b`)
	alterStmt        = regexp.MustCompile(`(?is)^\s*ALTER\s+TABLE\s`)
	alterOp          = regexp.MustCompile(`(?i)\b(?:ADD|DROP|MODIFY|CLEAR|COMMENT)\s+(?:COLUMN|INDEX)\b`)
	alterOpIf        = regexp.MustCompile(`(?i)\b(?:ADD|DROP|MODIFY|CLEAR|COMMENT)\s+(?:COLUMN|INDEX)\s+IF\s+(?:NOT\s+)?EXISTS\b`)
)

// Creates lists the objects (tables, views, dictionaries; names without the database) that the migration's statements
// create, and Drops those they drop, in statement order. Both are read from the SQL itself, so a new migration file
// needs no list of its own.
func (m Migration) Creates() []string { return m.objects(createStmt) }

// Drops: see Creates.
func (m Migration) Drops() []string { return m.objects(dropStmt) }

func (m Migration) objects(re *regexp.Regexp) []string {
	var out []string
	for _, s := range m.Statements {
		if g := re.FindStringSubmatch(s); g != nil {
			out = append(out, g[3])
		}
	}
	return out
}

// CheckIdempotent says which statement of the migration is not one of the idempotent forms: CREATE … IF NOT EXISTS,
// DROP … IF EXISTS, ALTER TABLE whose every clause is ADD/DROP/MODIFY/CLEAR/COMMENT COLUMN (or INDEX) IF [NOT]
// EXISTS.
func (m Migration) CheckIdempotent() error {
	for i, s := range m.Statements {
		if g := createStmt.FindStringSubmatch(s); g != nil && g[2] != "" {
			continue
		}
		if g := dropStmt.FindStringSubmatch(s); g != nil && g[2] != "" {
			continue
		}
		if idempotentInsert.MatchString(s) {
			continue
		}
		if n := len(alterOp.FindAllString(s, -1)); alterStmt.MatchString(s) && n > 0 && n == len(alterOpIf.FindAllString(s, -1)) {
			continue
		}
		if PlainAddColumn(s) {
			continue
		}
		first, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
		return fmt.Errorf("migration %04d_%s statement %d is not idempotent (use CREATE … IF NOT EXISTS, DROP … IF EXISTS, "+
			"ALTER … COLUMN IF [NOT] EXISTS, INSERT … SELECT into a rollup): %s", m.Version, m.Name, i+1, first)
	}
	return nil
}

// plainAddColumn is an ALTER TABLE with a single ADD COLUMN and no IF NOT EXISTS (the form for servers without
// Features.AddColumnIfNotExists).
var plainAddColumn = regexp.MustCompile(`(?is)^\s*ALTER\s+TABLE\s+\S+(?:\s+ON\s+CLUSTER\s+\S+)?\s+ADD\s+COLUMN\s+[A-Za-z_][A-Za-z0-9_]*\s[^,]*$`)

// PlainAddColumn tells a statement that adds one column without IF NOT EXISTS. It is idempotent only because the
// migrator (collector/store) treats the server's "column already exists" answer to it as applied.
func PlainAddColumn(stmt string) bool {
	return plainAddColumn.MatchString(stmt) && !alterOpIf.MatchString(stmt)
}

// Expected walks the migrations in order and returns each object that should exist after all of them, with the
// index (in ms) of the last migration that creates it: an object a later migration drops for good is not expected.
func Expected(ms []Migration) map[string]int {
	out := map[string]int{}
	for i, m := range ms {
		for _, s := range m.Statements {
			if g := createStmt.FindStringSubmatch(s); g != nil {
				out[g[3]] = i
			} else if g := dropStmt.FindStringSubmatch(s); g != nil {
				delete(out, g[3])
			}
		}
	}
	return out
}
