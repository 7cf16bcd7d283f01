-- A load's batch insert into commitments (clickhouse-go appends the rows): every commitment of the file, then the
-- ids it no longer holds with deleted = 1.
INSERT INTO {{.DB}}.commitments ({{template "commitment_columns"}}, deleted, set_hash, version)
