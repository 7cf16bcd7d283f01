package clickhouse

import (
	"errors"
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
