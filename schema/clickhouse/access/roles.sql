-- gpumeter's three roles on a server with SQL access control (20.5 and later), for database {{.DB}}; run by an
-- administrator through `gpumeter-collector migrate --create-roles`. Users are the administrator's to create and
-- give a role: CREATE USER collector IDENTIFIED WITH sha256_password BY '...' DEFAULT ROLE gpumeter_writer;
-- GRANT gpumeter_writer TO collector. 18.16 has none of this: its users come from users.xml (schema/README.md).
CREATE ROLE IF NOT EXISTS gpumeter_migrate;
GRANT CREATE DATABASE, CREATE TABLE, CREATE VIEW, ALTER TABLE, ALTER VIEW, DROP TABLE, DROP VIEW, SELECT, INSERT ON {{.DB}}.* TO gpumeter_migrate;
CREATE ROLE IF NOT EXISTS gpumeter_writer;
GRANT SELECT, INSERT ON {{.DB}}.* TO gpumeter_writer;
CREATE ROLE IF NOT EXISTS gpumeter_reader;
GRANT SELECT ON {{.DB}}.* TO gpumeter_reader;
