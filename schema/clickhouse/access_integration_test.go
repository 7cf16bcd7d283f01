//go:build integration

package clickhouse

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

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
