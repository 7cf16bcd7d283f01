//go:build integration

package schema_test

// The analysts' cookbook (QUERIES.md) is tested here: every query runs against a freshly migrated database on the real
// ClickHouse, holding a small, realistic data set, and must succeed and (unless its section says it may be empty)
// return rows. An external test package, because collector/store imports schema.

import (
	"context"
	"fmt"
	"math"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/gpumeter/gpumeter/collector/commitment"
	"github.com/gpumeter/gpumeter/collector/export"
	"github.com/gpumeter/gpumeter/collector/figures"
	"github.com/gpumeter/gpumeter/collector/store"
	"github.com/gpumeter/gpumeter/internal/cloudprovider"
	"github.com/gpumeter/gpumeter/internal/teststore"
	"github.com/gpumeter/gpumeter/schema"
)

var dbRef = regexp.MustCompile(`\bgpumeter\.`)

// forDatabase points a cookbook query at db instead of gpumeter.
func forDatabase(sql, db string) string { return dbRef.ReplaceAllLiteralString(sql, db+".") }

func TestCookbookQueries(t *testing.T) {
	src, err := os.ReadFile(cookbookFile)
	if err != nil {
		t.Fatal(err)
	}
	qs, err := parseCookbook(string(src))
	if err != nil {
		t.Fatalf("%s:\n%v", cookbookFile, err)
	}
	if len(qs) < minCookbookQs {
		t.Fatalf("%s has %d queries, want at least %d", cookbookFile, len(qs), minCookbookQs)
	}

	ctx := t.Context()
	st := teststore.Migrated(t)
	db := st.Database()
	now := time.Now().UTC().Truncate(time.Hour)
	seed(t, st, now)
	if err := commitment.SyncFile(ctx, st.Conn(), db, commitment.File{Currency: "USD", Commitments: cookbookCommitments(now),
		Prices: cookbookPrices}); err != nil {
		t.Fatal(err)
	}
	prim, reqs := cookbookRequests(now)
	if err := commitment.SyncRequests(ctx, st.Conn(), db, prim, reqs); err != nil {
		t.Fatal(err)
	}

	for _, q := range qs {
		t.Run(q.Heading, func(t *testing.T) {
			if !dbRef.MatchString(q.SQL) {
				t.Fatalf("%s:%d: the query names no gpumeter.<table>", cookbookFile, q.Line)
			}
			sql := forDatabase(q.SQL, db)
			cols, rows, err := runQuery(ctx, st.Conn(), sql)
			if err != nil {
				t.Fatalf("%s:%d: %v\n%s", cookbookFile, q.Line, err, sql)
			}
			t.Logf("%s\n%s", strings.Join(cols, " | "), formatRows(rows, 12))
			if len(rows) == 0 && !q.MayBeEmpty {
				t.Fatalf("%s:%d: no rows (mark the section %s if that can be right)", cookbookFile, q.Line, mayBeEmptyMarker)
			}
			for i, row := range rows {
				for j, v := range row {
					if f, ok := v.(float64); ok && (math.IsNaN(f) || math.IsInf(f, 0)) {
						t.Errorf("row %d column %s is %v: guard the division (NULL where nothing is known)", i, cols[j], f)
					}
				}
			}
		})
	}

	// The cookbook must agree with what the report and alerts read (collector/report uses commitment_status).
	byHeading := map[string]cookbookQuery{}
	for _, q := range qs {
		byHeading[q.Heading] = q
	}
	agree := func(heading, ours, theirs string) {
		t.Helper()
		q, ok := byHeading[heading]
		if !ok {
			t.Errorf("%s has no section %q to reconcile", cookbookFile, heading)
			return
		}
		t.Run("agrees/"+heading, func(t *testing.T) {
			var got, want []float64
			for _, c := range []struct {
				sql string
				out *[]float64
			}{
				{fmt.Sprintf(ours, forDatabase(q.SQL, db)), &got},
				{forDatabase(theirs, db), &want},
			} {
				_, rows, err := runQuery(ctx, st.Conn(), c.sql)
				if err != nil {
					t.Fatalf("%v\n%s", err, c.sql)
				}
				for _, r := range rows {
					for _, v := range r {
						f, _ := v.(float64)
						*c.out = append(*c.out, f)
					}
				}
			}
			if len(got) != len(want) || len(got) == 0 {
				t.Fatalf("cookbook gives %v, views give %v", got, want)
			}
			for i := range got {
				if math.Abs(got[i]-want[i]) > 0.01+1e-6*math.Abs(want[i]) {
					t.Errorf("cookbook gives %v, views give %v", got, want)
					break
				}
			}
		})
	}
	agree("Cost per team on spend commitments (FOCUS)",
		"SELECT toFloat64(sum(EffectiveCost)), toFloat64(sum(ConsumedQuantity)) FROM (%s)",
		"SELECT sum(cost), sum(gpu_hours) FROM gpumeter.commitment_usage_hourly WHERE commitment_id IN "+
			"(SELECT id FROM gpumeter.commitments_current WHERE kind = 'spend')")
	// One source for the names and the unit: the cookbook's FOCUS rows name providers and GPU-hours as the export does.
	t.Run("agrees/FOCUS names", func(t *testing.T) {
		q := byHeading["Cost per team on spend commitments (FOCUS)"]
		_, rows, err := runQuery(ctx, st.Conn(), "SELECT DISTINCT ProviderName, ConsumedUnit, CommitmentDiscountId FROM ("+forDatabase(q.SQL, db)+")")
		if err != nil {
			t.Fatal(err)
		}
		cs, err := commitment.Current(ctx, st.Conn(), db)
		if err != nil {
			t.Fatal(err)
		}
		provider := map[string]string{}
		for _, c := range cs {
			provider[c.ID] = c.Provider
		}
		if len(rows) == 0 {
			t.Fatal("no FOCUS rows to check")
		}
		for _, r := range rows {
			if want := cloudprovider.FOCUSName(provider[r[2].(string)]); r[0] != want || r[1] != export.UnitGPUHours {
				t.Errorf("cookbook FOCUS row %v: want ProviderName %q and ConsumedUnit %q, as the export writes", r, want, export.UnitGPUHours)
			}
		}
		// Its FOCUS-named (PascalCase) columns are columns of the export's default version, with the same meaning.
		cols, _, err := runQuery(ctx, st.Conn(), forDatabase(q.SQL, db))
		if err != nil {
			t.Fatal(err)
		}
		focus := export.Columns(export.DefaultVersion, export.DatasetCostAndUsage)
		for _, c := range cols {
			if c[0] >= 'A' && c[0] <= 'Z' && !slices.Contains(focus, c) {
				t.Errorf("cookbook FOCUS column %s is not a column of the FOCUS %s export", c, export.DefaultVersion)
			}
		}
	})
	// The ROFR classes partition the overflow the report classifies, and leakage is the allocation's leakage.
	agree("Right of first refusal: exposure per provider",
		"SELECT toFloat64(sum(gpu_hours_covered) + sum(gpu_hours_leakage) + sum(gpu_hours_uncovered)), toFloat64(sum(gpu_hours_leakage)) FROM (%s)",
		"SELECT (SELECT sum(gpu_hours) FROM gpumeter.rofr_pool_hourly WHERE hour < toStartOfHour(now())), "+
			"(SELECT sum(leakage_gpu_hours) FROM gpumeter.commitment_leakage_hourly WHERE commitment_id = 'azure-h100-reserved')")
	agree("Right of first refusal: what each request released and used",
		"SELECT toFloat64(sum(gpu_hours_used)) FROM (%s)",
		"SELECT sum(gpu_hours) FROM gpumeter.rofr_overflow_hourly WHERE class = 'covered' AND hour < toStartOfHour(now())")
	agree("Commitment burn-down",
		"SELECT toFloat64(max(used_to_date)), toFloat64(max(committed_to_date)) FROM (%s) GROUP BY commitment_id ORDER BY commitment_id",
		"SELECT used_to_date, committed_to_date FROM gpumeter.commitment_status ORDER BY commitment_id")
	agree("Leakage per day per commitment",
		"SELECT toFloat64(sum(gpu_hours_leaked)), toFloat64(sum(gpu_hours_overflow)) FROM (%s) GROUP BY commitment_id ORDER BY commitment_id",
		"SELECT leakage_gpu_hours, overflow_gpu_hours FROM gpumeter.commitment_status ORDER BY commitment_id")
	// The money figures the report prints (collector/figures) equal the cookbook's.
	t.Run("agrees/What overflow and leakage cost per commitment", func(t *testing.T) {
		q := byHeading["What overflow and leakage cost per commitment"]
		_, rows, err := runQuery(ctx, st.Conn(), forDatabase(q.SQL, db))
		if err != nil {
			t.Fatal(err)
		}
		report, err := figures.Commitments(ctx, st.Conn(), db, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) != len(report) {
			t.Fatalf("cookbook has %d commitments, the report %d", len(rows), len(report))
		}
		var costs float64
		for i, s := range report {
			r := rows[i]
			got := []float64{r[1].(float64), r[2].(float64), r[3].(float64), r[4].(float64)}
			want := []float64{s.OverflowGPUHours, s.OverflowCost, s.LeakageGPUHours, s.LeakageCost}
			for j := range got {
				if r[0] != s.ID || math.Abs(got[j]-want[j]) > 0.006 || r[5] != s.MoneyCurrency {
					t.Errorf("cookbook row %v, report %s: overflow %g GPU-h %g %s, leakage %g GPU-h %g", r, s.ID,
						s.OverflowGPUHours, s.OverflowCost, s.MoneyCurrency, s.LeakageGPUHours, s.LeakageCost)
					break
				}
			}
			costs += s.OverflowCost
		}
		if costs == 0 {
			t.Error("no overflow cost to compare: the seed should overflow onto a priced provider")
		}
	})
	agree("Daily GPU-hours per provider, last 30 days",
		"SELECT toFloat64(sum(gpu_hours)) FROM (%s)",
		"SELECT sum(provisioned_seconds) / 3600 FROM gpumeter.gpu_usage WHERE interval_start >= toDateTime(today() - 30)")
}

// runQuery returns every row of sql with its values dereferenced (NULL is nil).
func runQuery(ctx context.Context, conn driver.Conn, sql string) ([]string, [][]any, error) {
	rows, err := conn.Query(ctx, sql)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	types := rows.ColumnTypes()
	cols := rows.Columns()
	var out [][]any
	for rows.Next() {
		dest := make([]any, len(types))
		for i, ct := range types {
			dest[i] = reflect.New(ct.ScanType()).Interface()
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, nil, err
		}
		row := make([]any, len(dest))
		for i, d := range dest {
			v := reflect.ValueOf(d).Elem()
			for v.Kind() == reflect.Pointer {
				if v.IsNil() {
					break
				}
				v = v.Elem()
			}
			if v.Kind() == reflect.Pointer && v.IsNil() {
				row[i] = nil
			} else {
				row[i] = v.Interface()
			}
		}
		out = append(out, row)
	}
	return cols, out, rows.Err()
}

func formatRows(rows [][]any, limit int) string {
	var b strings.Builder
	for i, r := range rows {
		if i == limit {
			fmt.Fprintf(&b, "... %d rows in all\n", len(rows))
			break
		}
		for j, v := range r {
			if j > 0 {
				b.WriteString(" | ")
			}
			switch x := v.(type) {
			case nil:
				b.WriteString("NULL")
			case time.Time:
				b.WriteString(x.UTC().Format(time.DateTime))
			case float64:
				fmt.Fprintf(&b, "%.4g", x)
			default:
				fmt.Fprint(&b, x)
			}
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// --- the data set ---

const (
	h100 = "NVIDIA H100 80GB HBM3"
	a100 = "NVIDIA A100-SXM4-40GB"
	a10g = "NVIDIA A10G"
	gib  = 1 << 30
)

// gpu is one device (or MIG instance) and what ran on it, the same every hour it reports.
type gpu struct {
	provider, region, instanceType, account, node, uuid, model, mig string
	index                                                           int
	namespace, pod, team                                            string
	busy                                                            float64 // fraction of the hour; < 0 when it cannot be measured (MIG without GPM)
	watts                                                           float64 // 0 when the device reports no power or energy
	memTotal                                                        uint64
}

// fleet is a small multi-cloud estate: an Azure node under a capacity reservation (one GPU unassigned), AWS H100s and
// an A10G under a spend commitment, GCP A100 MIG slices (no utilization, no energy) under a usage commitment, and an
// on-prem H100 without an energy counter. The AWS and on-prem H100s overflow the Azure reservation.
func fleet() []gpu {
	az := gpu{provider: "azure", region: "eastus", instanceType: "Standard_ND96isr_H100_v5", account: "3f1e0c5a-sub",
		node: "aks-ndh100-0001", model: h100, memTotal: 80 * gib, watts: 600}
	aws := gpu{provider: "aws", region: "us-east-1", instanceType: "p5.48xlarge", account: "123456789012",
		node: "ip-10-0-1-17", model: h100, memTotal: 80 * gib, watts: 450}
	g5 := gpu{provider: "aws", region: "us-east-1", instanceType: "g5.xlarge", account: "123456789012",
		node: "ip-10-0-2-5", model: a10g, memTotal: 24 * gib, watts: 150}
	gcp := gpu{provider: "gcp", region: "us-central1", instanceType: "a2-highgpu-1g", account: "vision-prod",
		node: "gke-a100-pool-1-abcd", model: a100, mig: "3g.20gb", memTotal: 20 * gib, busy: -1}
	prem := gpu{provider: "on_prem", region: "dc1", instanceType: "DGX-H100", node: "dgx-01", model: h100,
		memTotal: 80 * gib}
	with := func(g gpu, index int, uuid, namespace, pod, team string, busy float64) gpu {
		g.index, g.uuid, g.namespace, g.pod, g.team = index, uuid, namespace, pod, team
		if g.busy >= 0 {
			g.busy = busy
		}
		return g
	}
	return []gpu{
		with(az, 0, "GPU-az-0", "llm-train", "trainer-7f9c-0", "research", 0.8),
		with(az, 1, "GPU-az-1", "llm-train", "trainer-7f9c-1", "research", 0.5),
		with(az, 2, "GPU-az-2", "", "", "", 0),
		with(aws, 0, "GPU-aws-0", "inference", "serve-llm-0", "ml-platform", 0.3),
		with(aws, 1, "GPU-aws-1", "inference", "serve-llm-1", "ml-platform", 0.2),
		with(g5, 0, "GPU-g5-0", "batch", "embed-0", "search", 0.9),
		with(gcp, 0, "MIG-gcp-0", "vision", "detector-0", "vision", 0),
		with(gcp, 0, "MIG-gcp-1", "vision", "detector-1", "vision", 0),
		with(prem, 0, "GPU-prem-0", "eval", "eval-0", "research", 0.6),
	}
}

// record is g's record for the hour starting at start, measured over [from, to) of it.
func (g gpu) record(start time.Time, from, to time.Duration) schema.Record {
	secs := (to - from).Seconds()
	r := schema.Record{
		Version: schema.Version, Node: g.node, Provider: g.provider, Region: g.region, InstanceType: g.instanceType,
		Account: g.account, GPUUUID: g.uuid, GPUIndex: g.index, GPUModel: g.model, MIGProfile: g.mig,
		Namespace: g.namespace, Pod: g.pod, Team: g.team,
		IntervalStart: start, IntervalEnd: start.Add(time.Hour), WindowStart: start.Add(from), WindowEnd: start.Add(to),
		ProvisionedSeconds: secs,
		MemoryTotalBytes:   g.memTotal,
		Samples:            uint32(secs),
	}
	if g.pod != "" {
		r.AllocatedSeconds = secs
		r.MemoryUsedAvgBytes = 0.6 * float64(g.memTotal)
		r.MemoryUsedMaxBytes = uint64(0.7 * float64(g.memTotal))
	} else {
		r.MemoryUsedAvgBytes, r.MemoryUsedMaxBytes = 512<<20, 600<<20
	}
	if g.busy >= 0 {
		r.BusySeconds = schema.Float(g.busy * secs)
	}
	if g.watts > 0 {
		r.EnergyJoules, r.PowerAvgWatts = schema.Float(g.watts*secs), schema.Float(g.watts)
	}
	return r
}

// seed stores one-hour records of the fleet for a few recent complete hours and some older ones, plus a pod starting
// mid-hour on the unassigned Azure GPU, and stores the most recent hour a second time (a collector redelivery).
func seed(t *testing.T, st *store.Store, now time.Time) {
	t.Helper()
	var rows []store.Row
	add := func(r schema.Record) {
		if err := r.Validate(); err != nil {
			t.Fatalf("test record %s %s: %v", r.GPUUUID, r.IntervalStart, err)
		}
		rows = append(rows, store.Row{Record: r, Topic: "gpumeter.usage.v1", Offset: int64(len(rows))})
	}
	for _, ago := range []int{1, 2, 3, 4, 5, 6, 26, 27, 50, 9*24 + 3, 20*24 + 5} {
		start := now.Add(-time.Duration(ago) * time.Hour)
		for _, g := range fleet() {
			if g.pod == "" && ago == 2 {
				// A notebook takes the spare Azure GPU half-way through the hour.
				add(g.record(start, 0, 30*time.Minute))
				g.namespace, g.pod, g.team, g.busy = "notebooks", "jupyter-alice", "research", 0.1
				add(g.record(start, 30*time.Minute, time.Hour))
				continue
			}
			add(g.record(start, 0, time.Hour))
		}
	}
	redelivered := rows[:len(fleet())]
	if err := st.Insert(t.Context(), rows); err != nil {
		t.Fatal(err)
	}
	if err := st.Insert(t.Context(), redelivered); err != nil {
		t.Fatal(err)
	}
}

// cookbookRequests makes Azure the primary of its H100 reservation, with one request partly declined four hours ago
// that released 1 H100 GPU to on_prem from three hours ago: the on-prem H100 (the only uncovered overflow) is leakage
// while the reservation has its free GPU, and covered for the half hour two hours ago when a notebook took it.
func cookbookRequests(now time.Time) (commitment.Primary, []commitment.Request) {
	return commitment.Primary{Provider: "azure", Commitments: []string{"azure-h100-reserved"}},
		[]commitment.Request{{ID: "req-h100", AskedAt: now.Add(-5 * time.Hour), GPUs: 2, GPUModel: h100,
			Region: "eastus", Start: now.Add(-3 * time.Hour), End: now.Add(24 * time.Hour), Status: commitment.AnswerPartial,
			AnsweredAt: now.Add(-4 * time.Hour), AcceptedGPUs: 1, Releases: []commitment.Release{{Provider: "on_prem", GPUs: 1}}}}
}

// cookbookCommitments has one commitment of each kind, all started a week ago: a 4-GPU Azure H100 reservation in
// eastus (3 in use, so 1 GPU-hour an hour is free while AWS and on-prem H100s run), a GCP A100 usage commitment and
// an AWS spend commitment with a rate card by instance type and by GPU model.
// cookbookPrices are on-demand prices for every seeded provider; on_prem only for its DGX (its other GPU-hours stay
// unpriced).
var cookbookPrices = commitment.PriceCards{
	{Provider: "on_prem", InstanceType: "DGX-H100", PricePerGPUHour: 1.5, Currency: "USD"},
	{Provider: "azure", PricePerGPUHour: 9, Currency: "USD"},
	{Provider: "aws", InstanceType: "p5.48xlarge", PricePerGPUHour: 12, Currency: "USD"},
	{Provider: "aws", PricePerGPUHour: 2, Currency: "USD"},
	{Provider: "gcp", PricePerGPUHour: 4, Currency: "USD"},
}

func cookbookCommitments(now time.Time) []commitment.Commitment {
	start := now.Add(-7 * 24 * time.Hour)
	return []commitment.Commitment{
		{
			ID: "azure-h100-reserved", Name: "Azure H100 reservation", Provider: "azure",
			Scope: commitment.Scope{Region: "eastus", GPUModel: h100}, Kind: commitment.KindCapacity, Quantity: 4,
			Unit: commitment.UnitGPU, Start: start, End: start.Add(365 * 24 * time.Hour), Team: "research",
			Alerts: commitment.DefaultThresholds, CommittedPrice: 6, PriceCurrency: "USD",
		},
		{
			ID: "gcp-a100-usage", Name: "GCP A100 committed use", Provider: "gcp",
			Scope: commitment.Scope{GPUModel: a100}, Kind: commitment.KindUsage, Quantity: 2000,
			Unit: commitment.UnitGPUHour, Start: start, End: start.Add(90 * 24 * time.Hour), Team: "vision",
			Alerts: commitment.DefaultThresholds,
		},
		{
			ID: "aws-savings", Name: "AWS GPU savings plan", Provider: "aws", Kind: commitment.KindSpend,
			Quantity: 50000, Unit: "USD", Currency: "USD", Start: start, End: start.Add(365 * 24 * time.Hour),
			Team: "ml-platform", Labels: map[string]string{"cost_center": "ml"},
			RateCard: []commitment.Rate{
				{InstanceType: "p5.48xlarge", PricePerGPUHour: 4},
				{GPUModel: a10g, PricePerGPUHour: 1},
			},
			Alerts: commitment.DefaultThresholds,
		},
	}
}
