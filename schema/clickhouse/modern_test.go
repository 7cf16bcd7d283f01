package clickhouse

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
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
	hour := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	at, next := DateTime(hour), DateTime(hour.Add(time.Hour))
	// One record, stored, then resent with another team: the rollups must hold only the second team's group.
	for _, team := range []string{"a", "b"} {
		stmts = append(stmts, named{"raw record of team " + team, `INSERT INTO gm.usage_raw (interval_start, interval_end,
			window_start, window_end, provider, node, gpu_uuid, team, provisioned_seconds, allocated_seconds)
			SELECT ` + at + `, ` + at + ` + 60, ` + at + `, ` + at + ` + 60, 'azure', 'n1', 'GPU-1', '` + team + `', 60, 60`})
	}
	for _, q := range []struct {
		name string
		data map[string]string
	}{
		{"rollup_node_hours", map[string]string{"DB": "gm", "From": at, "To": next, "Nodes": "('n1', 'n2')"}},
		{"rollup_hours", map[string]string{"DB": "gm", "Hours": at}},
		{"rollup_days", map[string]string{"DB": "gm", "From": at, "To": next, "Days": Date(hour)}},
		{"commitment_status", map[string]string{"DB": "gm", "At": at}},
	} {
		text, err := Query(q.name, q.data)
		if err != nil {
			t.Fatal(err)
		}
		stmts = append(stmts, named{"queries/" + q.name, text})
	}
	for _, view := range []string{"gpu_usage_hourly", "gpu_usage_daily"} {
		stmts = append(stmts, named{view + " holds the resent record's group only", `SELECT throwIf(groupArray(toString(team)) != ['b']
			OR sum(provisioned_gpu_hours) * 3600 != 60, 'wrong rollup') FROM gm.` + view})
	}
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
