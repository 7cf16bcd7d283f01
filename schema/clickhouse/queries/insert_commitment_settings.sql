-- A load's batch insert of its commitments' settings (clickhouse-go appends the rows), written before its commitments.
INSERT INTO {{.DB}}.commitment_settings (commitment_id, version, priority, alert_exhaustion_days)
