//go:build integration

package commitment

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/gpumeter/gpumeter/internal/teststore"
)

// --- ClickHouse ---

func migrated(t *testing.T) (driver.Conn, string) {
	t.Helper()
	st := teststore.Migrated(t)
	return st.Conn(), st.Database()
}

func sorted(cs []Commitment) []Commitment {
	out := slices.Clone(cs)
	slices.SortFunc(out, func(a, b Commitment) int { return strings.Compare(a.ID, b.ID) })
	return out
}

func mustCurrent(t *testing.T, conn driver.Conn, db string, want []Commitment) {
	t.Helper()
	got, err := Current(t.Context(), conn, db)
	if err != nil {
		t.Fatal(err)
	}
	if want := sorted(want); (len(got) > 0 || len(want) > 0) && !reflect.DeepEqual(got, want) {
		t.Fatalf("Current:\n%s\nwant:\n%s", dump(got), dump(want))
	}
	// No duplicates in the view itself, whatever Current makes of it.
	var rows, ids uint64
	if err := conn.QueryRow(t.Context(), fmt.Sprintf("SELECT count(), uniqExact(id) FROM %s.commitments_current", db)).Scan(&rows, &ids); err != nil {
		t.Fatal(err)
	}
	if rows != uint64(len(want)) || ids != rows {
		t.Fatalf("commitments_current has %d rows, %d ids; want %d", rows, ids, len(want))
	}
}

func count(t *testing.T, conn driver.Conn, q string) uint64 {
	t.Helper()
	var n uint64
	if err := conn.QueryRow(t.Context(), q).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

func TestSync(t *testing.T) {
	conn, db := migrated(t)
	ctx := t.Context()
	all, err := commitmentsOf(Load("testdata/good.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	rawRows := func() uint64 { return count(t, conn, fmt.Sprintf("SELECT count() FROM %s.commitments", db)) }

	// Load, read back equal (labels, rate cards in order, thresholds, times, empty scope fields).
	if err := Sync(ctx, conn, db, all); err != nil {
		t.Fatal(err)
	}
	mustCurrent(t, conn, db, all)

	// Again: nothing changes and nothing is written.
	before := rawRows()
	if err := Sync(ctx, conn, db, all); err != nil {
		t.Fatal(err)
	}
	mustCurrent(t, conn, db, all)
	if after := rawRows(); after != before {
		t.Errorf("an unchanged sync wrote %d rows", after-before)
	}
	// The file's order does not matter.
	reversed := slices.Clone(all)
	slices.Reverse(reversed)
	if err := Sync(ctx, conn, db, reversed); err != nil {
		t.Fatal(err)
	}
	if after := rawRows(); after != before {
		t.Errorf("a reordered sync wrote %d rows", after-before)
	}

	// Remove one (a spend commitment with a rate card): gone from the view and from Current, rates included.
	without := slices.DeleteFunc(slices.Clone(all), func(c Commitment) bool { return c.ID == "aws-p5-spend" })
	if err := Sync(ctx, conn, db, without); err != nil {
		t.Fatal(err)
	}
	mustCurrent(t, conn, db, without)
	if n := count(t, conn, fmt.Sprintf("SELECT count() FROM %s.commitment_rates_current WHERE commitment_id = 'aws-p5-spend'", db)); n != 0 {
		t.Errorf("commitment_rates_current still has %d lines of a removed commitment", n)
	}
	var deleted uint8
	if err := conn.QueryRow(ctx, fmt.Sprintf("SELECT deleted FROM %s.commitments FINAL WHERE id = 'aws-p5-spend'", db)).Scan(&deleted); err != nil || deleted != 1 {
		t.Errorf("tombstone: deleted=%d, %v", deleted, err)
	}

	// Change a rate card (drop a line, reprice one) and a threshold: the old lines do not linger.
	changed := slices.Clone(all)
	for i := range changed {
		if changed[i].ID == "aws-p5-spend" {
			changed[i].RateCard = []Rate{{InstanceType: "p5.48xlarge", PricePerGPUHour: 6.88}}
			changed[i].Alerts.MinUtilizationPct = 70
			changed[i].Labels = map[string]string{"b": "2", "a": "1"}
		}
	}
	if err := Sync(ctx, conn, db, changed); err != nil {
		t.Fatal(err)
	}
	mustCurrent(t, conn, db, changed)
	if n := count(t, conn, fmt.Sprintf("SELECT count() FROM %s.commitment_rates_current", db)); n != 3 {
		t.Errorf("commitment_rates_current has %d lines, want 3 (1 AWS, 1 per CoreWeave)", n)
	}

	// Nothing in the file: everything goes.
	if err := Sync(ctx, conn, db, nil); err != nil {
		t.Fatal(err)
	}
	mustCurrent(t, conn, db, nil)
	before = rawRows()
	if err := Sync(ctx, conn, db, nil); err != nil {
		t.Fatal(err)
	}
	if after := rawRows(); after != before {
		t.Errorf("an unchanged empty sync wrote %d rows", after-before)
	}

	// And back.
	if err := Sync(ctx, conn, db, all); err != nil {
		t.Fatal(err)
	}
	mustCurrent(t, conn, db, all)

	// Versions only grow, and are the same for every row of one load.
	var versions uint64
	var top uint64
	if err := conn.QueryRow(ctx, fmt.Sprintf("SELECT uniqExact(version), max(version) FROM %s.commitments_current", db)).Scan(&versions, &top); err != nil {
		t.Fatal(err)
	}
	if versions != 1 || top>>32 != 5 {
		t.Errorf("live rows have %d versions, generation %d; want 1 version of the 5th load", versions, top>>32)
	}
}

// TestSyncDuplicatesCollapse writes the same load twice, as two collectors starting together do, and checks that the
// table holds the duplicates while the view and Current do not.
func TestSyncDuplicatesCollapse(t *testing.T) {
	conn, db := migrated(t)
	all, err := commitmentsOf(Load("testdata/good.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	sum := setHash(all, nil)
	hash := fmt.Sprintf("%x", sum)
	for range 2 {
		if err := write(t.Context(), conn, db, all, nil, hash, 1<<32|42); err != nil {
			t.Fatal(err)
		}
	}
	if n := count(t, conn, fmt.Sprintf("SELECT count() FROM %s.commitments", db)); n != uint64(2*len(all)) {
		t.Fatalf("raw table has %d rows, want %d duplicates", n, 2*len(all))
	}
	mustCurrent(t, conn, db, all)
	// And Sync sees the duplicated load as current.
	if err := Sync(t.Context(), conn, db, all); err != nil {
		t.Fatal(err)
	}
	if n := count(t, conn, fmt.Sprintf("SELECT count() FROM %s.commitments", db)); n != uint64(2*len(all)) {
		t.Errorf("Sync rewrote a current load: %d rows", n)
	}
}

func TestSyncConcurrent(t *testing.T) {
	conn, db := migrated(t)
	all, err := commitmentsOf(Load("testdata/good.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := Sync(t.Context(), conn, db, all[:2]); err != nil {
		t.Fatal(err)
	}

	// Collectors starting together with the same file.
	run := func(sets ...[]Commitment) {
		t.Helper()
		var wg sync.WaitGroup
		errs := make([]error, len(sets))
		for i, cs := range sets {
			wg.Go(func() { errs[i] = Sync(context.Background(), conn, db, cs) })
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatal(err)
		}
	}
	run(all, all, all, all)
	mustCurrent(t, conn, db, all)

	// Collectors with different files (a rolling change): whatever mix results, the next sync settles it.
	run(all[1:], all[:3], all[2:])
	got, err := Current(t.Context(), conn, db)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("after a racing change: %d commitments", len(got))
	if err := Sync(t.Context(), conn, db, all[:3]); err != nil {
		t.Fatal(err)
	}
	mustCurrent(t, conn, db, all[:3])
}

func TestSyncRejects(t *testing.T) {
	c := Commitment{ID: "a", Start: hour("2026-11-01T00:00:00Z"), End: hour("2027-11-01T00:00:00Z")}
	for name, cs := range map[string][]Commitment{
		"no id":        {{Start: c.Start, End: c.End}},
		"duplicate id": {c, c},
		"before 1970":  {{ID: "a", Start: hour("1969-01-01T00:00:00Z"), End: c.End}},
	} {
		// Rejected before any query: a nil connection is never used.
		if err := Sync(t.Context(), nil, "db", cs); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}
