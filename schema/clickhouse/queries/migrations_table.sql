-- The applied migrations, one row per version (two collectors migrating at once may both record one; they collapse).
-- On a cluster every server holds the whole journal (OnCluster, and Engine a Replicated one: clickhouse.Layout), so
-- the migrations apply once per cluster.
CREATE TABLE IF NOT EXISTS {{.DB}}.schema_migrations{{.OnCluster}}
(version UInt32, name String, applied_at DateTime) ENGINE = {{.Engine}} ORDER BY version
