-- Records migration {{.Version}} ({{.Name}}, a string literal) as applied. INSERT … SELECT: clickhouse-go's Exec of
-- INSERT … VALUES hangs on 18.16.
INSERT INTO {{.DB}}.schema_migrations (version, name, applied_at) SELECT {{.Version}}, {{.Name}}, now()
