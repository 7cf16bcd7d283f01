package clickhouse

import (
	"fmt"
	"regexp"
	"strings"
)

// Layout decides the engine and the DDL form of every table: one server (Cluster empty: today's schema, exactly), or
// a ClickHouse cluster, where each table is a Replicated…MergeTree local table (name_local) created ON CLUSTER, with
// a Distributed table under the table's own name over it, so views, queries and inserts use the same names in both
// layouts (schema/README.md, "Clusters"). This is the one place that knows the difference; migrations use only its
// template functions (see Funcs), so a new migration needs nothing else to work on a cluster.
type Layout struct {
	DB      string
	Cluster string // the remote_servers name; empty for one server
}

var clusterName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.-]*$`)

// CheckCluster tells whether name can be a cluster name in DDL (it is written unquoted).
func CheckCluster(name string) error {
	if name != "" && !clusterName.MatchString(name) {
		return fmt.Errorf("cluster %q: want letters, digits, '_', '.', '-'", name)
	}
	return nil
}

// LocalSuffix names a distributed table's local table on a cluster.
const LocalSuffix = "_local"

// OnCluster is the ON CLUSTER clause of a DDL statement (with its leading space), or nothing on one server.
func (l Layout) OnCluster() string {
	if l.Cluster == "" {
		return ""
	}
	return " ON CLUSTER " + l.Cluster
}

// Table is what a CREATE TABLE of a stored table names: db.name on one server, db.name_local ON CLUSTER c on a
// cluster.
func (l Layout) Table(name string) string {
	if l.Cluster == "" {
		return l.DB + "." + name
	}
	return l.DB + "." + name + LocalSuffix + l.OnCluster()
}

// Engine is the engine of table name: engine as written on one server (e.g. "ReplacingMergeTree(version)"); on a
// cluster its Replicated form, with the ZooKeeper path of the shard's copy of the table and the replica's name from
// the servers' macros ({shard}, {replica}). 18.16 has no default for either argument.
func (l Layout) Engine(name, engine string) (string, error) {
	if l.Cluster == "" {
		return engine, nil
	}
	family, args, ok := strings.Cut(engine, "(")
	if !ok || !strings.HasSuffix(args, ")") || !strings.HasSuffix(family, "MergeTree") {
		return "", fmt.Errorf("engine %q of %s: want <Kind>MergeTree(<args>)", engine, name)
	}
	args = strings.TrimSpace(strings.TrimSuffix(args, ")"))
	zk := fmt.Sprintf("'/clickhouse/tables/%s/{shard}/%s/%s', '{replica}'", l.Cluster, l.DB, name)
	if args != "" {
		zk += ", " + args
	}
	return "Replicated" + family + "(" + zk + ")", nil
}

// Distributed is the statement (with its ending ";") that creates table name over its local tables on a cluster,
// rows going to the shard that shardingKey picks; nothing on one server. The sharding key must be a function of what
// identifies a row for its ReplacingMergeTree, so that a row and its duplicates meet on one shard.
func (l Layout) Distributed(name, shardingKey string) string {
	if l.Cluster == "" {
		return ""
	}
	return fmt.Sprintf("CREATE TABLE IF NOT EXISTS %s.%s%s AS %s.%s%s ENGINE = Distributed(%s, %s, %s%s, %s);",
		l.DB, name, l.OnCluster(), l.DB, name, LocalSuffix, l.Cluster, l.DB, name, LocalSuffix, shardingKey)
}

// DropTable drops a stored table (on a cluster its Distributed table, then its local table), as statements with
// their ending ";".
func (l Layout) DropTable(name string) string {
	if l.Cluster == "" {
		return "DROP TABLE IF EXISTS " + l.DB + "." + name + ";"
	}
	return "DROP TABLE IF EXISTS " + l.DB + "." + name + l.OnCluster() + ";\n" +
		"DROP TABLE IF EXISTS " + l.DB + "." + name + LocalSuffix + l.OnCluster() + ";"
}

// Alter changes the columns of a stored table (ops: "ADD COLUMN IF NOT EXISTS …"), as statements with their ending
// ";". On a cluster it alters the local tables ON CLUSTER, then recreates the Distributed table over them with the
// same sharding key (it holds no data): 18.16 refuses ALTER … ON CLUSTER of a Distributed table on a cluster whose
// shards replicate (code 371, "isn't replicated").
func (l Layout) Alter(name, shardingKey, ops string) string {
	if l.Cluster == "" {
		return "ALTER TABLE " + l.DB + "." + name + " " + ops + ";"
	}
	return "ALTER TABLE " + l.DB + "." + name + LocalSuffix + l.OnCluster() + " " + ops + ";\n" +
		"DROP TABLE IF EXISTS " + l.DB + "." + name + l.OnCluster() + ";\n" +
		l.Distributed(name, shardingKey)
}

// Everywhere is what a CREATE TABLE of a small table that every server holds whole (commitments, the migration
// journal) names: db.name, ON CLUSTER c on a cluster. Such a table needs no Distributed table: reads stay local, and
// a subquery on it never makes a query doubly distributed.
func (l Layout) Everywhere(name string) string { return l.DB + "." + name + l.OnCluster() }

// EverywhereEngine is the engine of an Everywhere table: engine on one server; on a cluster its Replicated form with
// one ZooKeeper path for the whole cluster, so every server is a replica of it.
func (l Layout) EverywhereEngine(name, engine string) (string, error) {
	if l.Cluster == "" {
		return engine, nil
	}
	e, err := Layout{DB: l.DB, Cluster: l.Cluster}.Engine(name, engine)
	if err != nil {
		return "", err
	}
	return strings.Replace(e, "/{shard}/"+l.DB+"/"+name+"', '{replica}'", "/all/"+l.DB+"/"+name+"', '{shard}-{replica}'", 1), nil
}

// Funcs are the layout's template functions for migrations:
//
//	CREATE TABLE IF NOT EXISTS {{table "t"}} (…) ENGINE = {{engine "t" "ReplacingMergeTree(version)"}} …;
//	{{distributed "t" "cityHash64(node)"}}
//	CREATE VIEW IF NOT EXISTS {{.DB}}.v{{onCluster}} AS …;   DROP TABLE IF EXISTS {{.DB}}.v{{onCluster}};
//	{{dropTable "t"}}   {{alter "t" "cityHash64(k)" "ADD COLUMN IF NOT EXISTS c UInt8"}}
//	CREATE TABLE IF NOT EXISTS {{everywhere "small"}} (…) ENGINE = {{everywhereEngine "small" "ReplacingMergeTree()"}} …;
func (l Layout) Funcs() map[string]any {
	return map[string]any{
		"table":            l.Table,
		"engine":           l.Engine,
		"distributed":      l.Distributed,
		"onCluster":        l.OnCluster,
		"dropTable":        l.DropTable,
		"alter":            l.Alter,
		"everywhere":       l.Everywhere,
		"everywhereEngine": l.EverywhereEngine,
	}
}
