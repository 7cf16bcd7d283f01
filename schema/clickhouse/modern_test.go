//go:build integration

package clickhouse

import (
	"bytes"
	"encoding/json"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// chdbScript runs statements through chDB, an embedded current ClickHouse, and reports each failure.
const chdbScript = `
import json, sys
from chdb import session
s = session.Session()
failures = []
for name, stmt in json.load(sys.stdin):
    try:
        s.query(stmt)
    except Exception as e:
        failures.append([name, str(e)[:600]])
print(json.dumps({"version": str(s.query("SELECT version()", "CSV")).strip(), "failures": failures}))
`

// TestModernClickHouse applies every migration, rendered for a modern server, and runs every query of queries/ and
// of schema/QUERIES.md on chDB: CI's server is 18.16, production's is current, and both must take our SQL.
func TestModernClickHouse(t *testing.T) {
	_, here, _, _ := runtime.Caller(0)
	repo := filepath.Join(filepath.Dir(here), "..", "..")
	python := os.Getenv("GPUMETER_TEST_CHDB_PYTHON")
	if python == "" {
		python = filepath.Join(repo, ".local", "chdb", "bin", "python")
	}
	if _, err := os.Stat(python); err != nil {
		t.Fatalf("no chDB python at %s (%v): run deploy/local/modern-clickhouse.sh install (make test does)", python, err)
	}
	f, err := FeaturesFor("26.9.1")
	if err != nil {
		t.Fatal(err)
	}
	ms, err := Migrations(Params{DB: "gm", RawRetentionDays: 400}, f)
	if err != nil {
		t.Fatal(err)
	}
	type named [2]string
	stmts := []named{{"create database", "CREATE DATABASE IF NOT EXISTS gm"}}
	for _, m := range ms {
		for i, s := range m.Statements {
			stmts = append(stmts, named{m.Name + " #" + strconv.Itoa(i+1), s})
		}
	}
	at := DateTime(time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC))
	day := Date(time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC))
	// Sample parameters for every query of queries/: a new query needs a line here, or the test fails.
	params := map[string]map[string]string{
		"rollup_node_hours":               {"From": at, "To": at, "Nodes": "('n1', 'n2')"},
		"rollup_hours":                    {"Hours": at},
		"rollup_days":                     {"From": at, "To": at, "Days": day},
		"commitment_status":               {"At": at},
		"commitment_figures":              {"At": at, "Series": "1"},
		"commitment_money":                {"At": at, "Series": ""},
		"commitment_overflow_by_provider": {"At": at},
		"commitment_unused_hourly":        {"From": at, "To": at, "Eps": "1e-09"},
		"usage_allocated_hourly":          {"From": at, "To": at},
		"usage_daily":                     {"From": at, "To": at},
		"usage_by_team":                   {"From": at, "To": at},
		"commitments_live":                {},
		"commitments_latest_version":      {},
		"commitment_rates_of_versions":    {"Versions": "1, 2"},
		"commitment_settings_of_versions": {"Versions": "1, 2"},
		"insert_commitment_settings":      {},
		"insert_rofr_requests":            {},
		"rofr_latest_load":                {},
		"rofr_primary":                    {},
		"rofr_overflow_hourly":            {"From": at, "To": at},
		"rofr_releases":                   {"At": at},
		"insert_price_cards":              {},
		"price_cards_of_versions":         {"Versions": "1, 2"},
		"insert_commitments":              {},
		"insert_commitment_rates":         {},
		"server_version":                  {},
		"migrations_create_database":      {"OnCluster": ""},
		"migrations_table":                {"OnCluster": "", "Engine": "ReplacingMergeTree()"},
		"migrations_applied":              {},
		"tables_in_database":              {},
		"migration_record":                {"Version": "999", "Name": String("modern_test")},
	}
	names, err := fs.Glob(queryFiles, "queries/*.sql")
	if err != nil {
		t.Fatal(err)
	}
	// What the collector runs before the others: the database and the schema_migrations table.
	first := map[string]int{"migrations_create_database": -2, "migrations_table": -1}
	slices.SortStableFunc(names, func(a, b string) int {
		return first[strings.TrimSuffix(path.Base(a), ".sql")] - first[strings.TrimSuffix(path.Base(b), ".sql")]
	})
	for _, file := range names {
		name := strings.TrimSuffix(path.Base(file), ".sql")
		data, ok := params[name]
		if !ok {
			t.Errorf("queries/%s.sql has no sample parameters in TestModernClickHouse", name)
			continue
		}
		data["DB"] = "gm"
		q, err := Query(name, data)
		if err != nil {
			t.Fatal(err)
		}
		stmts = append(stmts, named{"queries/" + name, runnable(t, q)})
	}
	// One record, stored, then resent with another team, and the rollups recomputed in the collector's order: they
	// must hold only the second team's group (schema/README.md, "Rollups").
	hour := time.Date(2026, 11, 25, 13, 0, 0, 0, time.UTC)
	start, next := DateTime(hour), DateTime(hour.Add(time.Hour))
	for _, team := range []string{"a", "b"} {
		stmts = append(stmts, named{"raw record of team " + team, `INSERT INTO gm.usage_raw (interval_start, interval_end,
			window_start, window_end, provider, node, gpu_uuid, team, provisioned_seconds, allocated_seconds)
			SELECT ` + start + `, ` + start + ` + 60, ` + start + `, ` + start + ` + 60, 'azure', 'n1', 'GPU-1', '` + team + `', 60, 60`})
	}
	for _, q := range []struct {
		name string
		data map[string]string
	}{
		{"rollup_node_hours", map[string]string{"DB": "gm", "From": start, "To": next, "Nodes": "('n1', 'n2')"}},
		{"rollup_hours", map[string]string{"DB": "gm", "Hours": start}},
		{"rollup_days", map[string]string{"DB": "gm", "From": start, "To": next, "Days": Date(hour)}},
	} {
		text, err := Query(q.name, q.data)
		if err != nil {
			t.Fatal(err)
		}
		stmts = append(stmts, named{"queries/" + q.name + " of the resent record", text})
	}
	for _, view := range []string{"gpu_usage_hourly", "gpu_usage_daily"} {
		stmts = append(stmts, named{view + " holds the resent record's group only", `SELECT throwIf(groupArray(toString(team)) != ['b']
			OR sum(provisioned_gpu_hours) * 3600 != 60, 'wrong rollup') FROM gm.` + view})
	}
	// The allocation (schema/README.md, "Allocation: one GPU-hour, one commitment") on the same record, 1/60 GPU-h of
	// azure: reservation c-a (priority 1, 0.01 GPU-h per hour) takes its 0.01 first, reservation c-b the rest in the
	// second pass, and the usage commitment u-c nothing.
	for _, c := range []string{"'c-a', 'capacity', 0.01", "'c-b', 'capacity', 1", "'u-c', 'usage', 100"} {
		stmts = append(stmts, named{"commitment " + c, `INSERT INTO gm.commitments (id, name, provider, scope_account,
			scope_region, scope_instance_type, scope_gpu_model, kind, quantity, unit, currency, term_start, term_end,
			team, label_keys, label_values, alert_projected_shortfall_pct, alert_min_utilization_pct,
			alert_max_leakage_gpu_hours_24h, deleted, set_hash, version)
			SELECT tupleElement(t, 1), '', 'azure', '', '', '', '', tupleElement(t, 2), tupleElement(t, 3), '', '',
				toDateTime('2026-11-25 00:00:00'), toDateTime('2026-11-26 00:00:00'), '', [], [], 5, 80, 10, 0, 'h', 1
			FROM (SELECT (` + c + `) AS t)`})
	}
	stmts = append(stmts, named{"priority of c-a", "INSERT INTO gm.commitment_settings (commitment_id, version, priority, alert_exhaustion_days) SELECT 'c-a', 1, 1, 14"},
		named{"the allocation covers each GPU-hour once, capacity first, in two passes", `SELECT throwIf(
			abs(sumIf(gpu_hours, commitment_id = 'c-a') - 0.01) > 1e-9
			OR abs(sumIf(gpu_hours, commitment_id = 'c-b') - (1 / 60 - 0.01)) > 1e-9
			OR sumIf(gpu_hours, commitment_id NOT IN ('c-a', 'c-b')) > 1e-9
			OR abs(sum(gpu_hours) - 1 / 60) > 1e-9, 'wrong allocation') FROM gm.commitment_allocation_hourly`})
	cookbook, err := os.ReadFile(filepath.Join(repo, "schema", "QUERIES.md"))
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```sql\n(.*?)```").FindAllStringSubmatch(string(cookbook), -1)
	for i, b := range blocks {
		stmts = append(stmts, named{"QUERIES.md block " + strconv.Itoa(i+1), strings.ReplaceAll(b[1], "gpumeter.", "gm.")})
	}
	in, _ := json.Marshal(stmts)
	cmd := exec.CommandContext(t.Context(), python, "-c", chdbScript)
	cmd.Stdin = bytes.NewReader(in)
	cmd.Dir = t.TempDir() // chDB keeps its data in the working directory
	out, err := cmd.Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("chDB: %v\n%s", err, stderr)
	}
	var res struct {
		Version  string      `json:"version"`
		Failures [][2]string `json:"failures"`
	}
	if err := json.Unmarshal(bytes.TrimSpace(out[bytes.LastIndexByte(bytes.TrimSpace(out), '\n')+1:]), &res); err != nil {
		t.Fatalf("chDB output %q: %v", out, err)
	}
	t.Logf("ClickHouse %s ran %d statements (%d migrations, %d cookbook queries)", res.Version, len(stmts), len(ms), len(blocks))
	for _, f := range res.Failures {
		t.Errorf("%s fails on ClickHouse %s: %s", f[0], res.Version, f[1])
	}
}

// batchInsert is the head of a batch INSERT as clickhouse-go takes it: INSERT INTO table (columns).
var batchInsert = regexp.MustCompile(`(?s)^INSERT INTO (\S+) \(([^()]*)\)$`)

// runnable makes a batch insert's head a statement a server can run: it inserts no rows, selected by the same
// columns from the same table, so the table and every column name are checked.
func runnable(t *testing.T, q string) string {
	t.Helper()
	m := batchInsert.FindStringSubmatch(strings.TrimSpace(q))
	if m == nil {
		return q
	}
	return q + " SELECT " + m[2] + " FROM " + m[1] + " LIMIT 0"
}
