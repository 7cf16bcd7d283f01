-- A load's batch insert of the primary and the capacity requests (clickhouse-go appends the rows; migration 0011).
INSERT INTO {{.DB}}.rofr_requests (version, set_hash, primary_provider, primary_commitments, no_answer_is_refusal,
    alert_max_uncovered_gpu_hours_24h, request_id, position, asked_at, gpus, gpu_model, instance_type, region,
    period_start, period_end, status, answered_at, accepted_gpus, released_from, release_provider, release_gpus)
