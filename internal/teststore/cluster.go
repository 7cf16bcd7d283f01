package teststore

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gpumeter/gpumeter/collector/store"
	"github.com/gpumeter/gpumeter/internal/testenv"
)

// The local cluster's layouts (deploy/local/clickhouse-cluster/cluster.xml): Cluster has shard 1 = servers 1 and 2
// (two replicas) and shard 2 = server 3; Replicas is one shard of servers 1 and 2.
const (
	Cluster  = "gpumeter"
	Replicas = "gpumeter_replicas"
)

// ClusterAddrs are the local cluster's three servers, replicas of shard 1 first (GPUMETER_TEST_CLICKHOUSE_CLUSTER,
// from `deploy/local/services.sh env`). A cluster that is not there fails the test.
func ClusterAddrs(t testing.TB) []string {
	t.Helper()
	v := os.Getenv("GPUMETER_TEST_CLICKHOUSE_CLUSTER")
	if v == "" {
		t.Fatal("GPUMETER_TEST_CLICKHOUSE_CLUSTER is empty: start the cluster with `deploy/local/services.sh start cluster` " +
			"and eval \"$(deploy/local/services.sh env)\" (make test does both)")
	}
	addrs := strings.Split(v, ",")
	if len(addrs) != 3 {
		t.Fatalf("GPUMETER_TEST_CLICKHOUSE_CLUSTER=%q: want the three servers of the local cluster", v)
	}
	return addrs
}

// ClusterDatabase names a fresh database for the test on Cluster, dropped ON CLUSTER at the end.
func ClusterDatabase(t testing.TB) string { return LayoutDatabase(t, Cluster) }

// LayoutDatabase names a fresh database for the test on the local layout cluster, dropped ON CLUSTER at the end.
func LayoutDatabase(t testing.TB, cluster string) string {
	t.Helper()
	addrs := ClusterAddrs(t)
	db := testenv.Name(t, "gpumeter_test")
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		st, err := store.Open(ctx, store.Config{Addr: addrs, Database: db, User: "default", Cluster: cluster}, testenv.Logger(t))
		if err != nil {
			t.Logf("drop %s: %v", db, err)
			return
		}
		defer st.Close()
		if err := st.Conn().Exec(ctx, "DROP DATABASE IF EXISTS "+db+" ON CLUSTER "+cluster); err != nil {
			t.Logf("drop %s: %v", db, err)
		}
	})
	return db
}

// OpenCluster connects to Cluster's database db through addrs (in that order: the first that answers).
func OpenCluster(t testing.TB, db string, addrs ...string) *store.Store {
	return OpenLayout(t, Cluster, db, addrs...)
}

// OpenLayout connects to the database db of the local layout cluster through addrs.
func OpenLayout(t testing.TB, cluster, db string, addrs ...string) *store.Store {
	t.Helper()
	st, err := store.Open(t.Context(), store.Config{Addr: addrs, Database: db, User: "default", Cluster: cluster},
		testenv.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

// MigratedCluster is Migrated on the local cluster, through all three servers.
func MigratedCluster(t testing.TB) *store.Store {
	t.Helper()
	st := OpenCluster(t, ClusterDatabase(t), ClusterAddrs(t)...)
	if err := st.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	return st
}
