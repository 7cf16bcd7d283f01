-- The tables and views of the database (migrations check that what they create exists, not only their journal).
-- The database name is a plain identifier, checked by the commands.
SELECT name FROM system.tables WHERE database = '{{.DB}}'
