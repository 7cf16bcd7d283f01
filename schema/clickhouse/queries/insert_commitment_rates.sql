-- A load's batch insert of its rate card lines (clickhouse-go appends the rows), written before its commitments.
INSERT INTO {{.DB}}.commitment_rates (commitment_id, version, position, instance_type, gpu_model, price_per_gpu_hour)
