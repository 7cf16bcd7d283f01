-- The applied migrations, one row per version (two collectors migrating at once may both record one; they collapse).
CREATE TABLE IF NOT EXISTS {{.DB}}.schema_migrations
(version UInt32, name String, applied_at DateTime) ENGINE = ReplacingMergeTree() ORDER BY version
