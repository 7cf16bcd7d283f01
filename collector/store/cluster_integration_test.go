//go:build integration

package store_test

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gpumeter/gpumeter/collector/commitment"
	chfigures "github.com/gpumeter/gpumeter/collector/figures"
	"github.com/gpumeter/gpumeter/collector/report"
	"github.com/gpumeter/gpumeter/collector/store"
	"github.com/gpumeter/gpumeter/internal/teststore"
	chschema "github.com/gpumeter/gpumeter/schema/clickhouse"
)

// TestClusterMigratesOnceAndCountsExactly migrates a cluster from two collectors at once, through different servers,
// then writes records with their duplicates through different replicas, and checks that every server has the whole
// schema, the journal is one per cluster, the rollups equal the deduplicated raw data, and the figures equal a single
// server's for the same records.
func TestClusterMigratesOnceAndCountsExactly(t *testing.T) {
	all := teststore.ClusterAddrs(t)
	for _, layout := range []struct {
		cluster string
		addrs   []string // of its servers: replicas of shard 1 first
		shards  uint64
	}{{teststore.Cluster, all, 2}, {teststore.Replicas, all[:2], 1}} {
		t.Run(layout.cluster, func(t *testing.T) { clusterCountsExactly(t, layout.cluster, layout.addrs, layout.shards) })
	}
}

func clusterCountsExactly(t *testing.T, cluster string, addrs []string, wantShards uint64) {
	db := teststore.LayoutDatabase(t, cluster)
	last := addrs[len(addrs)-1]
	a := teststore.OpenLayout(t, cluster, db, addrs[1], addrs[0], last) // replica 2 of shard 1 first
	b := teststore.OpenLayout(t, cluster, db, last, addrs[0], addrs[1]) // the last server first
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, st := range []*store.Store{a, b} {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = st.Migrate(t.Context()) }()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("collector %d: migrate: %v", i+1, err)
		}
	}
	ms, err := chschema.Migrations(chschema.Params{DB: db, Cluster: cluster}, a.Features())
	if err != nil {
		t.Fatal(err)
	}
	for _, addr := range addrs {
		st := teststore.OpenLayout(t, cluster, db, addr)
		missing, err := st.Missing(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if len(missing) > 0 {
			t.Errorf("server %s lacks %v", addr, missing)
		}
		// The journal is written on one server and replicated to the others: wait for this one to have fetched it.
		if err := st.Conn().Exec(t.Context(), "SYSTEM SYNC REPLICA "+db+".schema_migrations"); err != nil {
			t.Fatal(err)
		}
		var n uint64
		if err := st.Conn().QueryRow(t.Context(), "SELECT uniqExact(version) FROM "+db+".schema_migrations").Scan(&n); err != nil {
			t.Fatal(err)
		}
		if int(n) != len(ms) {
			t.Errorf("server %s: journal lists %d migrations, want %d", addr, n, len(ms))
		}
	}

	single := teststore.Migrated(t)
	h10 := day.Add(10 * time.Hour)
	var rows []store.Row
	for _, node := range []string{"n1", "n2", "n3", "n4", "n5", "n6", "n7", "n8"} {
		rows = append(rows, minutes(node, "GPU-"+node, h10, 0, 60, "ml", "azure")...)
		rows = append(rows, minutes(node, "GPU-"+node+"b", h10.Add(time.Hour), 10, 30, "research", "aws")...)
	}
	resent := minutes("n3", "GPU-n3", h10, 20, 30, "infra", "azure") // the same records with another team
	steps := []struct {
		via  *store.Store
		rows []store.Row
	}{{a, rows}, {b, rows[:300]}, {b, resent}, {a, rows[500:]}}
	for i, s := range steps {
		if err := s.via.Insert(t.Context(), s.rows); err != nil {
			t.Fatalf("step %d: insert on the cluster: %v", i+1, err)
		}
		if err := single.Insert(t.Context(), s.rows); err != nil {
			t.Fatalf("step %d: insert on one server: %v", i+1, err)
		}
	}
	if os.Getenv("DEBUG_CLUSTER") != "" {
		t.Logf("settings: %v", lines(t, a, "SELECT concat(name, '=', value) FROM system.settings WHERE changed"))
		for _, addr := range addrs {
			t.Logf("%s node-hours: %v", addr, lines(t, a, "SELECT concat(toString(hour), ' ', node, ' ', toString(version), ' ', toString(arraySum(records))) FROM remote('"+addr+"', "+db+".rollup_node_hour_local) FINAL"))
			t.Logf("%s hours: %v", addr, lines(t, a, "SELECT concat(toString(hour), ' ', toString(version), ' ', toString(arraySum(records)), ' ', _part) FROM remote('"+addr+"', "+db+".rollup_hour_local)"))
			t.Logf("%s raw: %v", addr, lines(t, a, "SELECT concat(toString(toStartOfHour(interval_start)), ' ', node, ' ', toString(count()), ' ', toString(max(toUInt64(splitByChar('_', _part)[3])))) FROM remote('"+addr+"', "+db+".usage_raw_local) FINAL GROUP BY toStartOfHour(interval_start), node"))
		}
	}
	checkExact(t, a, "cluster, read through replica 2")
	checkExact(t, b, "cluster, read through the last server")
	if got := total(t, a, "SELECT toFloat64(count()) FROM %s.gpu_usage"); got != float64(len(rows)) {
		t.Errorf("cluster gpu_usage holds %v records, want %d", got, len(rows))
	}
	hourly := "SELECT " + line("toString(hour), toString(provider), toString(team), toString(gpus), "+figures) + " FROM %s.gpu_usage_hourly"
	got := lines(t, a, strings.ReplaceAll(hourly, "%s", db))
	want := lines(t, single, strings.ReplaceAll(hourly, "%s", single.Database()))
	if !slices.Equal(got, want) {
		t.Errorf("cluster hourly figures\n  %s\none server's\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
	// The commitment report over the cluster equals the single server's for the same records.
	cs, err := commitment.Parse("commitments.yaml", []byte(`commitments:
  - {id: az-cap, provider: azure, kind: capacity, quantity: 6, unit: gpu, term: {start: 2026-11-24T00:00:00Z, end: 2026-11-26T00:00:00Z}}
  - {id: aws-use, provider: aws, kind: usage, quantity: 100, unit: gpu_hour, term: {start: 2026-11-24T00:00:00Z, end: 2026-11-25T00:00:00Z}}
`))
	if err != nil {
		t.Fatal(err)
	}
	at := day.Add(13 * time.Hour)
	reports := make([]string, 2)
	for i, st := range []*store.Store{a, single} {
		if err := commitment.SyncFile(t.Context(), st.Conn(), st.Database(), cs); err != nil {
			t.Fatal(err)
		}
		r := report.Report{At: at, Database: "gpumeter"}
		if r.Commitments, r.Series, err = chfigures.CommitmentsAndSeries(t.Context(), st.Conn(), st.Database(), at); err != nil {
			t.Fatal(err)
		}
		from, to := chfigures.DailyPeriod(at, 3)
		if r.Daily, err = chfigures.Daily(t.Context(), st.Conn(), st.Database(), from, to); err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		if err := report.WriteJSON(&b, r); err != nil {
			t.Fatal(err)
		}
		reports[i] = b.String()
	}
	if reports[0] != reports[1] || !strings.Contains(reports[0], "az-cap") {
		t.Errorf("commitment report on the cluster\n%s\non one server\n%s", reports[0], reports[1])
	}

	// Every shard holds raw rows, and no node's rows are on two.
	var shards uint64
	var split int64
	// (a node on two shards makes more distinct shard-node pairs than nodes)
	q := "SELECT uniqExact(shard), toInt64(uniqExact(shard, node)) - toInt64(uniqExact(node)) FROM (" +
		"SELECT node, 1 AS shard FROM remote('" + addrs[0] + "', " + db + ".usage_raw_local) UNION ALL " +
		"SELECT node, 2 AS shard FROM remote('" + last + "', " + db + ".usage_raw_local) WHERE " + fmt.Sprint(wantShards) + " = 2)"
	if err := a.Conn().QueryRow(t.Context(), q).Scan(&shards, &split); err != nil {
		t.Fatal(err)
	}
	if shards != wantShards || split != 0 {
		t.Errorf("raw rows on %d shards (want %d), %d nodes on two (want none)", shards, wantShards, split)
	}
}
