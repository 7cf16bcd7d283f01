-- A load's batch insert of its prices (clickhouse-go appends the rows), written before its commitments: the on-demand
-- price cards (commitment_id '') and the price per GPU-hour of capacity and usage commitments (migration 0010).
INSERT INTO {{.DB}}.price_cards (commitment_id, version, position, provider, instance_type, gpu_model, price_per_gpu_hour, currency)
