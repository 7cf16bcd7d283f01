//go:build integration

package store_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"

	"github.com/gpumeter/gpumeter/collector/store"
	"github.com/gpumeter/gpumeter/internal/testenv"
	"github.com/gpumeter/gpumeter/internal/teststore"
	"github.com/gpumeter/gpumeter/schema"
	chschema "github.com/gpumeter/gpumeter/schema/clickhouse"
)

var day = time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)

// rec is one minute of one GPU, fully used, with the attributes a test varies.
func rec(node, gpu string, start time.Time, team, provider string) store.Row {
	return store.Row{Record: schema.Record{Version: 1, Node: node, Provider: provider, Region: "eastus",
		InstanceType: "nd", GPUUUID: gpu, GPUModel: "H100", Team: team, IntervalStart: start,
		IntervalEnd: start.Add(time.Minute), WindowStart: start, WindowEnd: start.Add(time.Minute),
		ProvisionedSeconds: 60, AllocatedSeconds: 45, BusySeconds: schema.Float(30), EnergyJoules: schema.Float(36000)}}
}

// minutes makes one record per minute from..to-1 of hour h for one GPU.
func minutes(node, gpu string, h time.Time, from, to int, team, provider string) []store.Row {
	var out []store.Row
	for m := from; m < to; m++ {
		out = append(out, rec(node, gpu, h.Add(time.Duration(m)*time.Minute), team, provider))
	}
	return out
}

// Every group of the rollups, as one comparable line, beside the same figures computed from the deduplicated raw
// data (the gpu_usage view). Equal lines mean the rollups hold exactly what the raw data says, no stale group left.
const (
	groupKey = "provider, region, instance_type, account, gpu_model, team"
	figures  = `toString(round(provisioned_gpu_hours, 9)), toString(round(allocated_gpu_hours, 9)),
		toString(round(busy_gpu_hours, 9)), toString(round(busy_known_gpu_hours, 9)), toString(round(energy_kwh, 9))`
	truthHourly = `SELECT toStartOfHour(interval_start) AS hour, ` + groupKey + `, uniqExact(gpu_uuid) AS gpus,
		sum(provisioned_seconds) / 3600 AS provisioned_gpu_hours, sum(allocated_seconds) / 3600 AS allocated_gpu_hours,
		sum(ifNull(busy_seconds, 0)) / 3600 AS busy_gpu_hours,
		sum(if(isNull(busy_seconds), 0, provisioned_seconds)) / 3600 AS busy_known_gpu_hours,
		sum(ifNull(energy_joules, 0)) / 3600000 AS energy_kwh, count() AS records
		FROM %[1]s.gpu_usage GROUP BY hour, ` + groupKey
)

func lines(t *testing.T, st *store.Store, q string) []string {
	t.Helper()
	rows, err := st.Conn().Query(t.Context(), q)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

func line(cols string) string {
	return "arrayStringConcat([" + cols + "], '|')"
}

// checkExact fails the test unless gpu_usage_hourly, gpu_usage_daily and usage_hourly's record counts equal what the
// deduplicated raw data says.
func checkExact(t *testing.T, st *store.Store, step string) {
	t.Helper()
	checkExactFrom(t, st, step, time.Unix(0, 0))
}

// checkExactFrom is checkExact for the hours and days from the start of from's day on.
func checkExactFrom(t *testing.T, st *store.Store, step string, from time.Time) {
	t.Helper()
	db := st.Database()
	since := chschema.Date(from)
	truth := fmt.Sprintf(truthHourly, db)
	key := "toString(provider), toString(region), toString(instance_type), toString(account), toString(gpu_model), toString(team)"
	compare := func(what, cols, rollup, raw string) {
		t.Helper()
		got := lines(t, st, "SELECT "+line(cols)+" FROM "+rollup)
		want := lines(t, st, "SELECT "+line(cols)+" FROM "+raw)
		if len(want) == 0 {
			t.Fatalf("%s: no raw data", step)
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: %s\n  %s\nraw data says\n  %s", step, what, strings.Join(got, "\n  "), strings.Join(want, "\n  "))
		}
	}
	hourly := "toString(hour), " + key + ", toString(gpus), " + figures
	compare("gpu_usage_hourly", hourly, db+".gpu_usage_hourly WHERE toDate(hour) >= "+since,
		"("+truth+") AS truth WHERE toDate(hour) >= "+since)
	compare("usage_hourly records", "toString(hour), "+key+", toString(records)",
		db+".usage_hourly WHERE toDate(hour) >= "+since, "("+truth+") AS truth WHERE toDate(hour) >= "+since)
	compare("gpu_usage_daily", "toString(day), "+key+", toString(gpus_peak), "+figures,
		db+".gpu_usage_daily WHERE day >= "+since,
		`(SELECT toDate(hour) AS day, `+groupKey+`, max(gpus) AS gpus_peak,
		sum(provisioned_gpu_hours) AS provisioned_gpu_hours, sum(allocated_gpu_hours) AS allocated_gpu_hours,
		sum(busy_gpu_hours) AS busy_gpu_hours, sum(busy_known_gpu_hours) AS busy_known_gpu_hours,
		sum(energy_kwh) AS energy_kwh FROM (`+truth+`) AS truth GROUP BY day, `+groupKey+`) AS truth_daily WHERE day >= `+since)
}

func total(t *testing.T, st *store.Store, q string) float64 {
	t.Helper()
	var v float64
	if err := st.Conn().QueryRow(t.Context(), fmt.Sprintf(q, st.Database())).Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

// TestRollupsEqualRawData walks the rollups through everything that used to leave them wrong or could: duplicates,
// attributes changing under one identity (a group shrinking, appearing, vanishing; a provider changing), late data
// for an earlier hour and day, and everything redelivered. After every step the rollups equal the raw data.
func TestRollupsEqualRawData(t *testing.T) {
	st := teststore.Migrated(t)
	h10, h11 := day.Add(10*time.Hour), day.Add(11*time.Hour)
	first := slices.Concat(minutes("n1", "GPU-a", h10, 0, 30, "research", "azure"),
		minutes("n1", "GPU-b", h10, 0, 30, "research", "azure"),
		minutes("n2", "GPU-c", h10, 0, 30, "infra", "azure"))
	var all []store.Row
	steps := []struct {
		name string
		rows []store.Row
	}{
		{"first batch", first},
		{"the same batch again (redelivery)", first},
		{"one stored record resent with another team", []store.Row{rec("n1", "GPU-a", h10.Add(5*time.Minute), "ml", "azure")}},
		{"all of a group's records resent with another team: the group vanishes",
			minutes("n2", "GPU-c", h10, 0, 30, "research", "azure")},
		{"the record moved back: the new group vanishes", []store.Row{rec("n1", "GPU-a", h10.Add(5*time.Minute), "research", "azure")}},
		{"late data for the hour before and the day before", slices.Concat(minutes("n1", "GPU-a", h10.Add(-time.Hour), 0, 60, "research", "azure"),
			minutes("n3", "GPU-d", day.Add(-time.Hour), 30, 60, "infra", "oracle_cloud"))},
		{"the rest of hour 10 and part of hour 11, in one batch", slices.Concat(minutes("n1", "GPU-a", h10, 30, 60, "research", "azure"),
			minutes("n2", "GPU-c", h11, 0, 10, "infra", "azure"))},
		{"a record's provider changes under the same identity", []store.Row{rec("n2", "GPU-c", h11, "infra", "aws")}},
	}
	for _, step := range steps {
		all = append(all, step.rows...)
		if err := st.Insert(t.Context(), step.rows); err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		checkExact(t, st, step.name)
	}
	if err := st.Insert(t.Context(), all); err != nil {
		t.Fatal(err)
	}
	checkExact(t, st, "everything again")
	// The figure: the rollups' GPU-seconds equal gpu_usage's (they used to show the resent record twice).
	raw := total(t, st, "SELECT sum(provisioned_seconds) FROM %s.gpu_usage")
	for _, view := range []string{"gpu_usage_hourly", "gpu_usage_daily"} {
		if got := total(t, st, "SELECT sum(provisioned_gpu_hours) * 3600 FROM %s."+view); got != raw {
			t.Errorf("%s holds %g GPU-seconds, gpu_usage %g", view, got, raw)
		}
	}
}

// copyRollups saves the rollup rows as they are now, to write them again later as a recomputation that read the raw
// data now but finished last would.
func copyRollups(t *testing.T, st *store.Store, suffix string) func() {
	t.Helper()
	db := st.Database()
	tables := []string{"rollup_node_hour", "rollup_hour", "rollup_day"}
	for _, table := range tables {
		for _, q := range []string{
			fmt.Sprintf("CREATE TABLE %[1]s.%[2]s_%[3]s AS %[1]s.%[2]s", db, table, suffix),
			fmt.Sprintf("INSERT INTO %[1]s.%[2]s_%[3]s SELECT * FROM %[1]s.%[2]s FINAL", db, table, suffix),
		} {
			if err := st.Conn().Exec(t.Context(), q); err != nil {
				t.Fatal(err)
			}
		}
	}
	return func() {
		for _, table := range tables {
			if err := st.Conn().Exec(t.Context(), fmt.Sprintf("INSERT INTO %[1]s.%[2]s SELECT * FROM %[1]s.%[2]s_%[3]s", db, table, suffix)); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestStaleRecomputationFinishingLastLoses: collector A recomputes a node-hour, collector B inserts newer data for it
// (the same identities with another team) and recomputes; A's write lands last. The newest data still wins, because
// versions grow with the raw data a recomputation read, not with when it finished.
func TestStaleRecomputationFinishingLastLoses(t *testing.T) {
	st := teststore.Migrated(t)
	h := day.Add(10 * time.Hour)
	if err := st.Insert(t.Context(), minutes("n1", "GPU-a", h, 0, 20, "research", "azure")); err != nil {
		t.Fatal(err)
	}
	replayStale := copyRollups(t, st, "stale")
	if err := st.Insert(t.Context(), minutes("n1", "GPU-a", h, 0, 20, "ml", "azure")); err != nil {
		t.Fatal(err)
	}
	replayStale()
	checkExact(t, st, "stale rows written after the newer ones")
	var teams []string
	if err := st.Conn().QueryRow(t.Context(), fmt.Sprintf("SELECT groupArray(team) FROM %s.gpu_usage_hourly", st.Database())).Scan(&teams); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(teams, []string{"ml"}) {
		t.Errorf("teams in gpu_usage_hourly %q, want only ml", teams)
	}
}

// TestConcurrentRecomputations: one collector keeps re-attributing a node-hour's records while another recomputes
// the same node-hours over and over; whatever order their statements interleave in, the rollups end equal to the raw
// data.
func TestConcurrentRecomputations(t *testing.T) {
	st := teststore.Migrated(t)
	other := reopen(t, st)
	h := day.Add(10 * time.Hour)
	base := slices.Concat(minutes("n1", "GPU-a", h, 0, 30, "t0", "azure"), minutes("n2", "GPU-b", h, 0, 30, "t0", "azure"))
	if err := st.Insert(t.Context(), base); err != nil {
		t.Fatal(err)
	}
	touched := store.Touched(base)
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	wg.Go(func() {
		for ctx.Err() == nil {
			if err := other.Recompute(ctx, touched); err != nil && ctx.Err() == nil {
				errs <- err
				return
			}
		}
	})
	for i := range 8 {
		// each round moves some minutes of each GPU to a new team, so groups shrink, appear and vanish
		team := fmt.Sprintf("t%d", i+1)
		rows := slices.Concat(minutes("n1", "GPU-a", h, 0, 30-3*i, team, "azure"), minutes("n2", "GPU-b", h, 3*i, 30, team, "azure"))
		if err := st.Insert(t.Context(), rows); err != nil {
			t.Fatal(err)
		}
	}
	cancel()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	checkExact(t, st, "after concurrent recomputations")
}

// reopen is another collector's connection to st's database.
func reopen(t *testing.T, st *store.Store) *store.Store {
	t.Helper()
	other, err := store.Open(t.Context(), store.Config{Addr: []string{testenv.ClickHouseAddr(t)}, Database: st.Database(),
		User: "default"}, testenv.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = other.Close() })
	return other
}

// TestCrashBetweenRawInsertAndRecompute: a collector stores a batch in usage_raw and dies before the rollups are
// recomputed (and so before its offsets are committed). Its successor gets the batch again and stores it whole.
func TestCrashBetweenRawInsertAndRecompute(t *testing.T) {
	st := teststore.Migrated(t)
	h := day.Add(10 * time.Hour)
	if err := st.Insert(t.Context(), minutes("n1", "GPU-a", h, 0, 30, "research", "azure")); err != nil {
		t.Fatal(err)
	}
	batch := slices.Concat(minutes("n1", "GPU-a", h, 20, 40, "ml", "azure"), minutes("n2", "GPU-b", h, 0, 10, "ml", "azure"))
	if err := st.WriteRaw(t.Context(), batch); err != nil { // then the crash
		t.Fatal(err)
	}
	if err := st.Insert(t.Context(), batch); err != nil { // the redelivery
		t.Fatal(err)
	}
	checkExact(t, st, "after the redelivery")
}

// TestRecomputeReadsOnlyTouchedNodeHours proves the cost claim of schema/README.md ("Rollups") by counting the rows
// ClickHouse reports reading: a batch that touches one node-hour of a large fleet reads that node's index granules of
// usage_raw for the minutes it has, one rollup_node_hour row per node of the hour and that day's rollup_hour rows,
// never the fleet's raw hour.
func TestRecomputeReadsOnlyTouchedNodeHours(t *testing.T) {
	st := teststore.Migrated(t)
	const (
		nodes       = 20000
		gpusEach    = 8
		mins        = 3
		granule     = 8192 // usage_raw's index_granularity (the default)
		fleetMinute = nodes * gpusEach
	)
	h := day.Add(10 * time.Hour)
	// The fleet's raw rows, generated by the server: node-10000 and up, 8 GPUs each, for minutes [from, to) of the
	// hour, the nodes whose number modulo 4 is in quarters.
	gen := func(from, to int, quarters string) {
		t.Helper()
		q := fmt.Sprintf(`INSERT INTO %[1]s.usage_raw (interval_start, interval_end, window_start, window_end,
			provider, region, instance_type, account, node, gpu_uuid, gpu_model, team, provisioned_seconds,
			allocated_seconds, busy_seconds, energy_joules, samples, schema_version)
			SELECT s, s + 60, s, s + 60, 'azure', 'eastus', 'nd', 'sub', concat('node-', toString(10000 + n)),
				concat('node-', toString(10000 + n), '-gpu', toString(number %% %[3]d)), 'H100', 'research', 60, 60, 30,
				36000, 60, 1
			FROM (SELECT number, %[2]s + 60 * intDiv(number, %[4]d) AS s, intDiv(number %% %[4]d, %[3]d) AS n
				FROM system.numbers LIMIT %[5]d)
			WHERE n %% 4 IN (%[6]s)`,
			st.Database(), chschema.DateTime(h.Add(time.Duration(from)*time.Minute)), gpusEach, fleetMinute,
			fleetMinute*(to-from), quarters)
		if err := st.Conn().Exec(t.Context(), q); err != nil {
			t.Fatal(err)
		}
	}
	gen(0, mins, "0, 1, 2, 3")
	var all []store.NodeHour
	for n := range nodes {
		all = append(all, store.NodeHour{Node: fmt.Sprintf("node-%d", 10000+n), Hour: h})
	}
	if err := st.Recompute(t.Context(), all); err != nil {
		t.Fatal(err)
	}
	if got := total(t, st, "SELECT sum(provisioned_gpu_hours) FROM %s.gpu_usage_hourly"); got != fleetMinute*mins/60 {
		t.Fatalf("fleet holds %g GPU-hours, want %d", got, fleetMinute*mins/60)
	}

	// One node's late record (a new GPU, minute 1) arrives: its batch's recomputation, counted.
	late := rec("node-23456", "node-23456-gpu9", h.Add(time.Minute), "ml", "azure")
	if err := st.WriteRaw(t.Context(), []store.Row{late}); err != nil {
		t.Fatal(err)
	}
	read := recomputeCounted(t, st, store.Touched([]store.Row{late}))
	checkExact(t, st, "after the late record")
	// usage_raw: the node's rows lie in at most two granules per minute; rollup_node_hour: one row per node of the
	// hour (rounded up to granules); rollup_hour and rollup_day: a row each.
	bound := uint64(mins*2*granule + (nodes/granule+2)*granule + 2)
	t.Logf("recomputing one node-hour read %d rows; the fleet's raw hour holds %d, the bound is %d", read, fleetMinute*mins, bound)
	if read == 0 || read > bound {
		t.Errorf("recomputing one node-hour read %d rows, want 1..%d (the raw hour holds %d)", read, bound, fleetMinute*mins)
	}

	// What the design does not remove (schema/README.md): batches whose nodes are spread over every granule each
	// read those nodes' hour so far. Four batches of a quarter of the fleet each, recomputed one by one, read about
	// four times what one recomputation of the next minute's four batches together reads (Pending, Flush).
	quarter := func(k int) []store.NodeHour {
		var out []store.NodeHour
		for n := k; n < nodes; n += 4 {
			out = append(out, store.NodeHour{Node: fmt.Sprintf("node-%d", 10000+n), Hour: h})
		}
		return out
	}
	var separately uint64
	for k := range 4 {
		gen(mins, mins+1, fmt.Sprint(k))
		separately += recomputeCounted(t, st, quarter(k))
	}
	gen(mins+1, mins+2, "0, 1, 2, 3")
	together := recomputeCounted(t, st, all)
	checkExact(t, st, "after the fleet-wide batches")
	t.Logf("four quarter-fleet batches recomputed one by one read %d rows; the next minute's, recomputed together, %d", separately, together)
	if together*2 > separately {
		t.Errorf("recomputing four batches together read %d rows, one by one %d: want well under half", together, separately)
	}
}

// recomputeCounted recomputes touched and returns the rows ClickHouse reported reading for it.
func recomputeCounted(t *testing.T, st *store.Store, touched []store.NodeHour) uint64 {
	t.Helper()
	var mu sync.Mutex
	var read uint64
	ctx := clickhouse.Context(t.Context(), clickhouse.WithProgress(func(p *clickhouse.Progress) {
		mu.Lock()
		read += p.Rows
		mu.Unlock()
	}))
	if err := st.Recompute(ctx, touched); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	return read
}

// TestMigrationBackfillsRollupsOfAnUpgradedDatabase: a database at migration 0005, whose old rollup tables hold one
// hour that raw data no longer has (expired) and a stale group, is migrated: the new rollups equal the raw data for
// every hour it holds and keep the expired hour as the old rollups had it.
func TestMigrationBackfillsRollupsOfAnUpgradedDatabase(t *testing.T) {
	ctx := t.Context()
	st, err := store.Open(ctx, store.Config{Addr: []string{testenv.ClickHouseAddr(t)}, Database: testenv.Database(t),
		User: "default"}, testenv.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	db := st.Database()
	ms, err := chschema.Migrations(chschema.Params{DB: db}, st.Features())
	if err != nil {
		t.Fatal(err)
	}
	exec := func(q string) {
		t.Helper()
		if err := st.Conn().Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	exec("CREATE DATABASE " + db)
	exec(fmt.Sprintf("CREATE TABLE %s.schema_migrations (version UInt32, name String, applied_at DateTime) ENGINE = ReplacingMergeTree() ORDER BY version", db))
	for _, m := range ms {
		if m.Version > 5 {
			break
		}
		for _, s := range m.Statements {
			exec(s)
		}
		exec(fmt.Sprintf("INSERT INTO %s.schema_migrations SELECT %d, '%s', now()", db, m.Version, m.Name))
	}
	// Rows are written below by today's WriteRaw, which names parent_gpu_uuid (migration 0009): give the old table the
	// column as the old rows would read after it (''), which also has 0009 find it there and count it as applied.
	exec(fmt.Sprintf("ALTER TABLE %s.usage_raw ADD COLUMN parent_gpu_uuid String DEFAULT ''", db))
	// What the old collector stored: raw rows, whose team changed under one identity (the old rollups counted it
	// twice), and an hour (yesterday 05:00) that only the old rollups still hold.
	h := day.Add(10 * time.Hour)
	rows := slices.Concat(minutes("n1", "GPU-a", h, 0, 30, "research", "azure"), []store.Row{rec("n1", "GPU-a", h, "ml", "azure")})
	if err := st.WriteRaw(ctx, rows); err != nil {
		t.Fatal(err)
	}
	expired := chschema.DateTime(day.Add(-19 * time.Hour))
	exec(fmt.Sprintf(`INSERT INTO %s.usage_hourly SELECT %s, 'azure', 'eastus', 'nd', '', 'H100', 'old', 3, 3, 2, 1, 3, 0.5, 180`, db, expired))
	exec(fmt.Sprintf(`INSERT INTO %s.usage_daily SELECT toDate(%s), 'azure', 'eastus', 'nd', '', 'H100', 'old', 3, 3, 2, 1, 3, 0.5, 180`, db, expired))
	exec(fmt.Sprintf(`INSERT INTO %s.usage_hourly SELECT %s, 'azure', 'eastus', 'nd', '', 'H100', 'stale', 1, 0.5, 0.5, 0.5, 0.5, 0.5, 30`, db, chschema.DateTime(h)))

	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	hourTotal := func(hour string) float64 {
		return total(t, st, "SELECT sum(provisioned_gpu_hours) FROM %s.gpu_usage_hourly WHERE hour = "+hour)
	}
	if got := hourTotal(expired); got != 3 {
		t.Errorf("the expired hour holds %g GPU-hours after the migration, want the old rollup's 3", got)
	}
	if got := total(t, st, "SELECT sum(provisioned_gpu_hours) FROM %s.gpu_usage_daily WHERE day = toDate("+expired+")"); got != 3 {
		t.Errorf("the expired day holds %g GPU-hours after the migration, want the old rollup's 3", got)
	}
	checkExactFrom(t, st, "after the migration", day)
	if got := hourTotal(chschema.DateTime(h)); got != 0.5 {
		t.Errorf("hour 10 holds %g GPU-hours, want 0.5 (30 records, one of them resent)", got)
	}
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	checkExactFrom(t, st, "after migrating again", day)
}

// TestPendingRecomputesOnceForManyBatches: batches written with WriteRaw and noted in a Pending are in the rollups
// once Flush returns, exactly, whatever their order; Flush with nothing waiting does nothing.
func TestPendingRecomputesOnceForManyBatches(t *testing.T) {
	st := teststore.Migrated(t)
	h := day.Add(10 * time.Hour)
	var p store.Pending
	batches := [][]store.Row{
		minutes("n1", "GPU-a", h, 0, 30, "research", "azure"),
		minutes("n2", "GPU-b", h.Add(-time.Hour), 0, 60, "infra", "azure"),
		minutes("n1", "GPU-a", h, 10, 40, "ml", "azure"),
	}
	for _, b := range batches {
		if err := st.WriteRaw(t.Context(), b); err != nil {
			t.Fatal(err)
		}
		p.Add(b)
	}
	if p.Len() != 2 {
		t.Errorf("%d node-hours waiting, want 2", p.Len())
	}
	if err := st.Flush(t.Context(), &p); err != nil {
		t.Fatal(err)
	}
	if p.Len() != 0 {
		t.Errorf("%d node-hours still waiting after Flush", p.Len())
	}
	checkExact(t, st, "after one Flush for three batches")
	if err := st.Flush(t.Context(), &p); err != nil {
		t.Fatal(err)
	}
}

// Flush notes on the Pending the rows ClickHouse reported reading (what the consumer spaces backlog flushes by), at
// least the raw rows of the node-hours it rebuilt, and forgets the rows stored since the last one.
func TestFlushNotesRowsRead(t *testing.T) {
	st := teststore.Migrated(t)
	h := day.Add(10 * time.Hour)
	var rows []store.Row
	for n := range 3 {
		for m := range 10 {
			node := fmt.Sprintf("node-%d", n)
			rows = append(rows, rec(node, node+"-gpu0", h.Add(time.Duration(m)*time.Minute), "ml", "azure"))
		}
	}
	if err := st.WriteRaw(t.Context(), rows); err != nil {
		t.Fatal(err)
	}
	var p store.Pending
	p.Add(rows)
	if p.Added() != int64(len(rows)) || p.LastRead() != 0 {
		t.Fatalf("before the flush: %d rows stored, %d read; want %d and 0", p.Added(), p.LastRead(), len(rows))
	}
	if err := st.Flush(t.Context(), &p); err != nil {
		t.Fatal(err)
	}
	if p.Len() != 0 || p.Added() != 0 || p.LastRead() < int64(len(rows)) {
		t.Errorf("after the flush: %d node-hours, %d rows stored, %d read; want 0, 0 and at least %d", p.Len(), p.Added(),
			p.LastRead(), len(rows))
	}
	checkExact(t, st, "after the flush")
}
