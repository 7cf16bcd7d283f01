-- The versions already applied.
SELECT DISTINCT version FROM {{.DB}}.schema_migrations
