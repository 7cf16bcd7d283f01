-- The server's version, which decides the features migrations are rendered for (clickhouse/features.go).
SELECT version()
