-- A load's batch insert of its non-zero priorities (clickhouse-go appends the rows), written before its commitments.
INSERT INTO {{.DB}}.commitment_priorities (commitment_id, version, priority)
