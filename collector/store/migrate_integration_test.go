//go:build integration

package store

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gpumeter/gpumeter/internal/testenv"
	"github.com/gpumeter/gpumeter/schema"
	chschema "github.com/gpumeter/gpumeter/schema/clickhouse"
)

// minuteRows is one GPU's records for the first n minutes of hour: n GPU-minutes.
func minuteRows(hour time.Time, gpu string, n int) []Row {
	out := make([]Row, n)
	for m := range out {
		is := hour.Add(time.Duration(m) * time.Minute)
		out[m] = Row{Record: schema.Record{Version: 1, Node: "n", Provider: "azure", Region: "eastus", InstanceType: "nd",
			GPUUUID: gpu, GPUModel: "H100", IntervalStart: is, IntervalEnd: is.Add(time.Minute), WindowStart: is,
			WindowEnd: is.Add(time.Minute), ProvisionedSeconds: 60, AllocatedSeconds: 60, Samples: 60}}
	}
	return out
}

func provisioned(t *testing.T, st *Store, table string) float64 {
	t.Helper()
	var v float64
	if err := st.Conn().QueryRow(t.Context(), fmt.Sprintf("SELECT sum(provisioned_seconds) FROM %s.%s", st.Database(), table)).Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

func exec(t *testing.T, st *Store, q string) {
	t.Helper()
	if err := st.Conn().Exec(t.Context(), q); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

// A table or view dropped by hand comes back when the collector migrates (at restart, on `migrate`, or from the
// consumer's hook), although schema_migrations lists every migration; Missing says what is gone meanwhile; what was
// stored elsewhere is kept, and the insert that failed succeeds after it.
func TestMigrateRecreatesDroppedObjects(t *testing.T) {
	hour := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		drop        string // DROP statement, %s = database
		missing     []string
		keepsRaw    bool // usage_raw's rows survive
		insertFails bool // an insert meanwhile fails for a missing object
	}{
		{drop: "DROP TABLE %s.usage_raw", missing: []string{"usage_raw"}, insertFails: true},
		{drop: "DROP TABLE %s.gpu_usage", missing: []string{"gpu_usage"}, keepsRaw: true},
		{drop: "DROP TABLE %s.rollup_node_hour", missing: []string{"rollup_node_hour"}, keepsRaw: true, insertFails: true},
		{drop: "DROP TABLE %s.usage_hourly", missing: []string{"usage_hourly"}, keepsRaw: true}, // a view since 0007
		{drop: "DROP TABLE %s.commitments", missing: []string{"commitments"}, keepsRaw: true},
		{drop: "DROP TABLE %s.commitment_status", missing: []string{"commitment_status"}, keepsRaw: true},
		{drop: "DROP DATABASE %s", insertFails: true},
	} {
		t.Run(tc.drop, func(t *testing.T) {
			st := open(t)
			if err := st.Migrate(t.Context()); err != nil {
				t.Fatal(err)
			}
			if err := st.Insert(t.Context(), minuteRows(hour, "GPU-a", 30)); err != nil {
				t.Fatal(err)
			}
			exec(t, st, fmt.Sprintf(tc.drop, st.Database()))

			missing, err := st.Missing(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			want := tc.missing
			if want == nil { // the whole database
				ms, _ := chschema.Migrations(chschema.Params{DB: st.Database()}, st.Features())
				for name := range chschema.Expected(ms) {
					want = append(want, name)
				}
				slices.Sort(want)
			}
			if !slices.Equal(missing, want) {
				t.Errorf("Missing() = %v, want %v", missing, want)
			}

			late := minuteRows(hour, "GPU-b", 20)
			err = st.Insert(t.Context(), late)
			if tc.insertFails != (err != nil) {
				t.Fatalf("insert while %v is missing: err %v, want failure %v", want, err, tc.insertFails)
			}
			if err != nil && !IsMissingObject(err) {
				t.Errorf("insert error %v is not IsMissingObject", err)
			}

			if err := st.Migrate(t.Context()); err != nil {
				t.Fatal(err)
			}
			if missing, err := st.Missing(t.Context()); err != nil || len(missing) > 0 {
				t.Fatalf("after Migrate: missing %v, err %v", missing, err)
			}
			// The consumer retries the batch that failed: now it is stored.
			if err := st.Insert(t.Context(), late); err != nil {
				t.Fatalf("insert after Migrate: %v", err)
			}
			want30 := 20 * 60.0
			if tc.keepsRaw {
				want30 += 30 * 60
			}
			if got := provisioned(t, st, "gpu_usage"); got != want30 {
				t.Errorf("gpu_usage holds %g provisioned seconds, want %g", got, want30)
			}
			var hourly float64
			q := fmt.Sprintf("SELECT sum(provisioned_gpu_hours) FROM %s.gpu_usage_hourly", st.Database())
			if err := st.Conn().QueryRow(t.Context(), q).Scan(&hourly); err != nil {
				t.Fatal(err)
			}
			if hourly*3600 != want30 && tc.drop != "DROP TABLE %s.usage_raw" {
				t.Errorf("gpu_usage_hourly holds %g GPU-h, want %g", hourly, want30/3600)
			}
		})
	}
}

// Two collectors starting at once on a fresh database both migrate without error and leave the whole schema.
func TestMigrateTwoAtOnceOnAFreshDatabase(t *testing.T) {
	for round := range 3 {
		db := testenv.Database(t)
		var stores [2]*Store
		for i := range stores {
			st, err := Open(t.Context(), Config{Addr: []string{testenv.ClickHouseAddr(t)}, Database: db, User: "default"},
				testenv.Logger(t))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = st.Close() })
			stores[i] = st
		}
		var wg sync.WaitGroup
		errs := make([]error, len(stores))
		for i, st := range stores {
			wg.Go(func() { errs[i] = st.Migrate(t.Context()) })
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		if missing, err := stores[0].Missing(t.Context()); err != nil || len(missing) > 0 {
			t.Fatalf("round %d: missing %v, err %v", round, missing, err)
		}
		if err := stores[1].Insert(t.Context(), minuteRows(time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC), "GPU-a", 5)); err != nil {
			t.Fatalf("round %d: insert: %v", round, err)
		}
	}
}

// Every statement is idempotent on the real server: with the journal emptied, Migrate applies every migration again
// over the existing schema, and the data stays.
func TestMigrateReappliesEverythingOverExistingSchema(t *testing.T) {
	st := open(t)
	if err := st.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := st.Insert(t.Context(), minuteRows(time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC), "GPU-a", 60)); err != nil {
		t.Fatal(err)
	}
	exec(t, st, fmt.Sprintf("DROP TABLE %s.schema_migrations", st.Database()))
	if err := st.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := provisioned(t, st, "gpu_usage"); got != 3600 {
		t.Errorf("gpu_usage holds %g provisioned seconds after re-applying, want 3600", got)
	}
	applied, err := st.journal(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	ms, _ := st.migrations()
	for _, m := range ms {
		if !applied[m.Version] {
			t.Errorf("migration %d not in the journal", m.Version)
		}
	}
}
