//go:build integration

package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/gpumeter/gpumeter/collector/store"
	"github.com/gpumeter/gpumeter/internal/teststore"
	"github.com/gpumeter/gpumeter/schema"
)

// services runs deploy/local/services.sh with args (the ports come from the environment, as for the tests).
func services(t *testing.T, args ...string) {
	t.Helper()
	script, err := filepath.Abs(filepath.Join("..", "..", "deploy", "local", "services.sh"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(t.Context(), script, args...)
	cmd.Env = os.Environ()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("services.sh %v: %v\n%s", args, err, out)
	}
}

// minuteRows are one record per minute of the hour from h for each GPU of each node.
func minuteRows(nodes []string, gpus int, h time.Time, minutes int) []store.Row {
	var out []store.Row
	for _, n := range nodes {
		for g := range gpus {
			for m := range minutes {
				start := h.Add(time.Duration(m) * time.Minute)
				out = append(out, store.Row{Record: schema.Record{Version: 1, Node: n, Provider: "azure", Region: "eastus",
					InstanceType: "nd", GPUUUID: fmt.Sprintf("GPU-%s-%d", n, g), GPUModel: "H100", Team: "ml",
					IntervalStart: start, IntervalEnd: start.Add(time.Minute), WindowStart: start,
					WindowEnd: start.Add(time.Minute), ProvisionedSeconds: 60, AllocatedSeconds: 60,
					BusySeconds: schema.Float(30)}})
			}
		}
	}
	return out
}

// insertRetrying inserts as the consumer does: on an error it sends the same rows again (at-least-once), here until
// the collector has found a healthy replica.
func insertRetrying(t *testing.T, st *store.Store, rows []store.Row) {
	t.Helper()
	var err error
	for range 20 {
		if err = st.Insert(t.Context(), rows); err == nil {
			return
		}
		t.Logf("insert failed, sending the batch again: %v", err)
		time.Sleep(250 * time.Millisecond)
	}
	t.Fatalf("insert: %v", err)
}

// TestReplicaStoppedMidRun stops the replica the collector is connected to (replica 2 of shard 1) between two
// batches, and redelivers the first batch with the second: the collector moves to a healthy replica, reads through
// the cluster answer whole while the replica is down, and the cluster ends with every record once, in the raw data
// and in the rollups, on every server.
func TestReplicaStoppedMidRun(t *testing.T) {
	addrs := teststore.ClusterAddrs(t)
	db := teststore.ClusterDatabase(t)
	st := teststore.OpenCluster(t, db, addrs[1], addrs[0], addrs[2]) // replica 2 of shard 1 first
	if err := st.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	nodes := []string{"n1", "n2", "n3", "n4", "n5", "n6"}
	h := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	first := minuteRows(nodes, 2, h, 30)
	second := minuteRows(nodes, 2, h, 60) // minutes 0..29 again (redelivered), 30..59 new
	insertRetrying(t, st, first)
	// Replication is asynchronous (no insert quorum): let replica 1 fetch what replica 2 took before replica 2 stops,
	// so that the reads below, while it is down, can be whole.
	first1 := teststore.OpenCluster(t, db, addrs[0])
	for _, table := range []string{"usage_raw_local", "rollup_node_hour_local", "rollup_hour_local", "rollup_day_local"} {
		if err := first1.Conn().Exec(t.Context(), "SYSTEM SYNC REPLICA "+db+"."+table); err != nil {
			t.Fatalf("%s: sync %s: %v", addrs[0], table, err)
		}
	}

	services(t, "stop", "clickhouse2")
	restarted := false
	t.Cleanup(func() {
		if !restarted {
			services(t, "start", "clickhouse2")
		}
	})
	insertRetrying(t, st, second)
	want := float64(len(nodes) * 2 * 60 * 60) // provisioned GPU-seconds: every GPU, every minute, once
	// Reads work while the replica is down: a new connection listing the stopped server first (as a report or a
	// restarted collector would) moves to a healthy one and reads every shard's figures, whole.
	down := teststore.OpenCluster(t, db, addrs[1], addrs[0], addrs[2])
	for what, q := range map[string]string{
		"raw":    "SELECT sum(provisioned_seconds) FROM %s.gpu_usage",
		"hourly": "SELECT sum(provisioned_gpu_hours) * 3600 FROM %s.gpu_usage_hourly",
	} {
		var got float64
		if err := down.Conn().QueryRow(t.Context(), fmt.Sprintf(q, db)).Scan(&got); err != nil {
			t.Fatalf("with replica 2 of shard 1 down: %s: %v", what, err)
		}
		if got != want {
			t.Errorf("with replica 2 of shard 1 down: %s provisioned %.0f GPU-s, want %.0f", what, got, want)
		}
	}
	services(t, "start", "clickhouse2")
	restarted = true

	for _, addr := range addrs {
		one := teststore.OpenCluster(t, db, addr)
		for _, table := range []string{"usage_raw_local", "rollup_node_hour_local", "rollup_hour_local"} {
			// What the stopped replica missed is fetched from the other when it is back: wait for that.
			if err := one.Conn().Exec(t.Context(), "SYSTEM SYNC REPLICA "+db+"."+table); err != nil {
				t.Fatalf("%s: sync %s: %v", addr, table, err)
			}
		}
		for what, q := range map[string]string{
			"raw":    "SELECT sum(provisioned_seconds) FROM %s.gpu_usage",
			"hourly": "SELECT sum(provisioned_gpu_hours) * 3600 FROM %s.gpu_usage_hourly",
			"daily":  "SELECT sum(provisioned_gpu_hours) * 3600 FROM %s.gpu_usage_daily",
		} {
			var got float64
			if err := one.Conn().QueryRow(t.Context(), fmt.Sprintf(q, db)).Scan(&got); err != nil {
				t.Fatalf("%s: %s: %v", addr, what, err)
			}
			if got != want {
				t.Errorf("read through %s: %s provisioned %.0f GPU-s, want %.0f", addr, what, got, want)
			}
		}
		var records uint64
		if err := one.Conn().QueryRow(t.Context(), "SELECT count() FROM "+db+".gpu_usage").Scan(&records); err != nil {
			t.Fatal(err)
		}
		if records != uint64(len(second)) {
			t.Errorf("read through %s: %d records, want %d", addr, records, len(second))
		}
	}
}

// TestMigrationConvergesAfterAReplicaWasDown migrates a fresh database while replica 2 of shard 1 is stopped: the
// migration fails once the ON CLUSTER statement has waited out distributed_ddl_task_timeout (the local profile's
// 30 s) for the missing server, and records nothing; started again, the server runs what the DDL queue kept for it,
// and the next migration completes the schema on every server.
func TestMigrationConvergesAfterAReplicaWasDown(t *testing.T) {
	addrs := teststore.ClusterAddrs(t)
	db := teststore.ClusterDatabase(t)
	st := teststore.OpenCluster(t, db, addrs[0], addrs[2])
	services(t, "stop", "clickhouse2")
	restarted := false
	t.Cleanup(func() {
		if !restarted {
			services(t, "start", "clickhouse2")
		}
	})
	if err := st.Migrate(t.Context()); err == nil {
		t.Fatal("migrated with a server of the cluster down: want the ON CLUSTER statement to time out")
	} else {
		t.Logf("with clickhouse2 down: %v", err)
	}
	services(t, "start", "clickhouse2")
	restarted = true
	if err := st.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	for _, addr := range addrs {
		missing, err := teststore.OpenCluster(t, db, addr).Missing(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if len(missing) > 0 {
			t.Errorf("server %s lacks %v", addr, missing)
		}
	}
}
