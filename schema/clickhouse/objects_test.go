package clickhouse

import (
	"slices"
	"strings"
	"testing"
)

// Every statement of every migration, as rendered for each server, is one of the idempotent forms, so applying a
// migration again (a dropped table) or twice at once (two collectors) converges.
func TestEveryMigrationStatementIsIdempotent(t *testing.T) {
	for _, v := range []string{"18.16.1", "24.8.1"} {
		f, _ := FeaturesFor(v)
		ms, err := Migrations(Params{DB: "db", RawRetentionDays: 30}, f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range ms {
			if err := m.CheckIdempotent(); err != nil {
				t.Errorf("%s: %v", v, err)
			}
		}
	}
}

func TestCheckIdempotentForms(t *testing.T) {
	for stmt, ok := range map[string]bool{
		"CREATE TABLE IF NOT EXISTS db.t (x UInt8) ENGINE = Memory":                  true,
		"create view if not exists db.v AS SELECT 1":                                 true,
		"CREATE MATERIALIZED VIEW IF NOT EXISTS db.mv TO db.t AS SELECT 1":           true,
		"DROP TABLE IF EXISTS db.v":                                                  true,
		"ALTER TABLE db.t ADD COLUMN IF NOT EXISTS y UInt8":                          true,
		"ALTER TABLE db.t ADD COLUMN IF NOT EXISTS y UInt8, DROP COLUMN IF EXISTS z": true,
		"CREATE TABLE db.t (x UInt8) ENGINE = Memory":                                false,
		"CREATE VIEW db.v AS SELECT 1":                                               false,
		"DROP TABLE db.t":                                                            false,
		"ALTER TABLE db.t ADD COLUMN y UInt8":                                        true, // the migrator takes "exists" as applied
		"ALTER TABLE db.t ADD COLUMN y UInt8, ADD COLUMN z UInt8":                    false,
		"ALTER TABLE db.t ADD COLUMN IF NOT EXISTS y UInt8, DROP COLUMN z":           false,
		"ALTER TABLE db.t DELETE WHERE 1":                                            false,
		"INSERT INTO db.t SELECT 1":                                                  false,
		"RENAME TABLE db.a TO db.b":                                                  false,
	} {
		err := Migration{Version: 9, Name: "x", Statements: []string{stmt}}.CheckIdempotent()
		if (err == nil) != ok {
			t.Errorf("%q: got %v, want idempotent=%v", stmt, err, ok)
		}
	}
}

func TestExpectedObjects(t *testing.T) {
	f, _ := FeaturesFor("18.16.1")
	ms, err := Migrations(Params{DB: "db"}, f)
	if err != nil {
		t.Fatal(err)
	}
	exp := Expected(ms)
	for name, migration := range map[string]string{"usage_raw": "usage_raw", "gpu_usage": "parent_gpu",
		"commitments": "commitments", "commitments_current": "commitments", "commitment_status": "commitment_views"} {
		i, ok := exp[name]
		if !ok || ms[i].Name != migration {
			t.Errorf("%s: expected from %v (ok %v), want migration %s", name, i, ok, migration)
		}
	}
	if !slices.Contains(ms[0].Creates(), "usage_raw") || len(ms[1].Drops()) != 1 {
		t.Errorf("creates %v drops %v", ms[0].Creates(), ms[1].Drops())
	}

	// A later migration that drops an object for good takes it off the list; one that drops and recreates keeps it.
	more := append(slices.Clone(ms),
		Migration{Version: 98, Name: "drop", Statements: []string{"DROP TABLE IF EXISTS db.usage_daily"}},
		Migration{Version: 99, Name: "replace", Statements: []string{"DROP TABLE IF EXISTS db.gpu_usage",
			"CREATE VIEW IF NOT EXISTS db.gpu_usage AS SELECT 1"}})
	exp = Expected(more)
	if _, ok := exp["usage_daily"]; ok {
		t.Error("usage_daily expected after a migration dropped it")
	}
	if i := exp["gpu_usage"]; more[i].Name != "replace" {
		t.Errorf("gpu_usage expected from %s, want the last migration creating it", more[i].Name)
	}
	for name := range exp {
		if strings.Contains(name, ".") {
			t.Errorf("%q keeps its database", name)
		}
	}
}
