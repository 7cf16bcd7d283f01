-- The database, created before any migration.
CREATE DATABASE IF NOT EXISTS {{.DB}}{{.OnCluster}}
