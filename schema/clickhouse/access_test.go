package clickhouse

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func TestRoleStatements(t *testing.T) {
	old, err := FeaturesFor("18.16.1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := RoleStatements("gm", old); !errors.Is(err, ErrNoSQLAccess) || !strings.Contains(err.Error(), "users.xml") {
		t.Errorf("18.16: %v, want ErrNoSQLAccess pointing to users.xml", err)
	}
	modern, err := FeaturesFor("24.8.4.13")
	if err != nil {
		t.Fatal(err)
	}
	stmts, err := RoleStatements("gm", modern)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"CREATE ROLE IF NOT EXISTS " + RoleMigrate, "ON gm.* TO " + RoleMigrate,
		"CREATE ROLE IF NOT EXISTS " + RoleWriter, "GRANT SELECT, INSERT ON gm.* TO " + RoleWriter,
		"CREATE ROLE IF NOT EXISTS " + RoleReader, "GRANT SELECT ON gm.* TO " + RoleReader,
	}
	if len(stmts) != len(want) {
		t.Fatalf("%d statements, want %d: %q", len(stmts), len(want), stmts)
	}
	for i, w := range want {
		if !strings.Contains(stmts[i], w) {
			t.Errorf("statement %d %q lacks %q", i+1, stmts[i], w)
		}
	}
	for _, s := range stmts {
		if strings.Contains(s, "DROP") && !strings.Contains(s, RoleMigrate) {
			t.Errorf("a role other than %s may drop: %q", RoleMigrate, s)
		}
	}
}

// TestRoleStatementsParseOnModernClickHouse has chDB (a current ClickHouse, embedded) parse every role statement:
// chDB's own user may not manage access, so EXPLAIN AST proves the syntax and the privilege names, not their effect.
func TestRoleStatementsParseOnModernClickHouse(t *testing.T) {
	_, here, _, _ := runtime.Caller(0)
	python := os.Getenv("GPUMETER_TEST_CHDB_PYTHON")
	if python == "" {
		python = filepath.Join(filepath.Dir(here), "..", "..", ".local", "chdb", "bin", "python")
	}
	if _, err := os.Stat(python); err != nil {
		t.Fatalf("no chDB python at %s (%v): run deploy/local/modern-clickhouse.sh install (make test does)", python, err)
	}
	f, err := FeaturesFor("26.9.1")
	if err != nil {
		t.Fatal(err)
	}
	stmts, err := RoleStatements("gm", f)
	if err != nil {
		t.Fatal(err)
	}
	in, _ := json.Marshal(stmts)
	cmd := exec.Command(python, "-c", `
import json, sys
from chdb import session
s = session.Session()
bad = []
for stmt in json.load(sys.stdin):
    try:
        s.query("EXPLAIN AST " + stmt)
    except Exception as e:
        bad.append([stmt, str(e)[:400]])
print(json.dumps(bad))
`)
	cmd.Stdin = strings.NewReader(string(in))
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("chDB: %v", err)
	}
	var bad [][2]string
	if err := json.Unmarshal(out, &bad); err != nil {
		t.Fatalf("chDB said %s: %v", out, err)
	}
	for _, b := range bad {
		t.Errorf("modern ClickHouse does not parse %q: %s", b[0], b[1])
	}
}
