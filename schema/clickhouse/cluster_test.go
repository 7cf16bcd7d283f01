package clickhouse

import (
	"regexp"
	"strings"
	"testing"
)

func render(t *testing.T, cluster string) []Migration {
	t.Helper()
	f, _ := FeaturesFor("18.16.1")
	ms, err := Migrations(Params{DB: "db", Cluster: cluster}, f)
	if err != nil {
		t.Fatal(err)
	}
	return ms
}

// Without a cluster the schema is today's single-server schema: nothing of the cluster's DDL in it.
func TestOneServerLayoutHasNoClusterDDL(t *testing.T) {
	for _, m := range render(t, "") {
		for _, s := range m.Statements {
			for _, word := range []string{"ON CLUSTER", "Replicated", "Distributed(", LocalSuffix + " ", "{shard}"} {
				if strings.Contains(s, word) {
					t.Errorf("%04d_%s: %q in a single-server statement: %.80s", m.Version, m.Name, word, s)
				}
			}
		}
	}
}

var (
	ddl         = regexp.MustCompile(`(?is)^\s*(CREATE|DROP|ALTER)\s`)
	createTable = regexp.MustCompile(`(?is)^\s*CREATE\s+TABLE\s+IF\s+NOT\s+EXISTS\s+db\.([a-z_]+)\s+ON CLUSTER c\b`)
	engineOf    = regexp.MustCompile(`(?s)ENGINE = (\w+)\(`)
	zkPath      = regexp.MustCompile(`'(/clickhouse/tables/[^']+)'`)
	distributed = regexp.MustCompile(`ENGINE = Distributed\(c, db, ([a-z_]+), (.+)\)$`)
)

// On a cluster, every DDL statement runs ON CLUSTER, and every table is either Replicated (with a ZooKeeper path of
// its own) or a Distributed table over name_local. A migration that writes an engine or a table name by hand instead
// of through the layout's functions (cluster.go) fails here.
func TestClusterLayoutReplicatesAndDistributesEveryTable(t *testing.T) {
	paths := map[string]string{}
	local := map[string]bool{}
	keys := map[string]string{}
	for _, m := range render(t, "c") {
		if err := m.CheckIdempotent(); err != nil {
			t.Error(err)
		}
		for _, s := range m.Statements {
			where := m.Name + ": " + strings.SplitN(s, "\n", 2)[0]
			if ddl.MatchString(s) && !strings.Contains(s, " ON CLUSTER c") {
				t.Errorf("%s: DDL without ON CLUSTER", where)
			}
			g := createTable.FindStringSubmatch(s)
			if g == nil {
				continue
			}
			e := engineOf.FindStringSubmatch(s)
			switch {
			case e == nil:
				t.Errorf("%s: no engine", where)
			case e[1] == "Distributed":
				d := distributed.FindStringSubmatch(s)
				if d == nil || d[1] != g[1]+LocalSuffix {
					t.Errorf("%s: want a Distributed table over %s%s", where, g[1], LocalSuffix)
					continue
				}
				keys[g[1]] = d[2]
			case strings.HasPrefix(e[1], "Replicated"):
				p := zkPath.FindStringSubmatch(s)
				if p == nil {
					t.Errorf("%s: no ZooKeeper path", where)
				} else if other, dup := paths[p[1]]; dup && other != g[1] {
					t.Errorf("%s: ZooKeeper path %s also used by %s", where, p[1], other)
				} else {
					paths[p[1]] = g[1]
				}
				if strings.HasSuffix(g[1], LocalSuffix) {
					local[strings.TrimSuffix(g[1], LocalSuffix)] = true
				}
			default:
				t.Errorf("%s: engine %s is neither Replicated nor Distributed", where, e[1])
			}
		}
	}
	for name := range local {
		if _, ok := keys[name]; !ok {
			t.Errorf("%s%s has no Distributed table %s over it", name, LocalSuffix, name)
		}
	}
	// A record and its duplicates, and a node's rollups, meet on the node's shard (schema/README.md, "Clusters").
	for _, name := range []string{"usage_raw", "rollup_node_hour"} {
		if keys[name] != "cityHash64(node)" {
			t.Errorf("%s is sharded by %q, want cityHash64(node)", name, keys[name])
		}
	}
}

func TestEngine(t *testing.T) {
	l := Layout{DB: "db", Cluster: "c"}
	for _, tc := range []struct{ in, want string }{
		{"ReplacingMergeTree()", "ReplicatedReplacingMergeTree('/clickhouse/tables/c/{shard}/db/t', '{replica}')"},
		{"ReplacingMergeTree(version)", "ReplicatedReplacingMergeTree('/clickhouse/tables/c/{shard}/db/t', '{replica}', version)"},
		{"MergeTree()", "ReplicatedMergeTree('/clickhouse/tables/c/{shard}/db/t', '{replica}')"},
		{"Memory", ""},
		{"Log()", ""},
	} {
		got, err := l.Engine("t", tc.in)
		if (err != nil) != (tc.want == "") || got != tc.want {
			t.Errorf("Engine(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	if got, _ := l.EverywhereEngine("t", "ReplacingMergeTree()"); got != "ReplicatedReplacingMergeTree('/clickhouse/tables/c/all/db/t', '{shard}-{replica}')" {
		t.Errorf("EverywhereEngine = %q", got)
	}
	if got, _ := (Layout{DB: "db"}).Engine("t", "ReplacingMergeTree()"); got != "ReplacingMergeTree()" {
		t.Errorf("one server: Engine = %q", got)
	}
	if err := CheckCluster("bad name"); err == nil {
		t.Error("CheckCluster accepted a name with a space")
	}
}
