-- Recompute the hourly rollup for the hours in [{{.From}}, {{.To}}) listed in {{.Hours}}, from deduplicated raw data.
INSERT INTO {{.DB}}.usage_hourly
SELECT
    toStartOfHour(interval_start) AS hour,
    provider, region, instance_type, account, gpu_model, team,
    uniqExact(gpu_uuid) AS gpus,
    sum(provisioned_seconds) / 3600 AS provisioned_gpu_hours,
    sum(allocated_seconds) / 3600 AS allocated_gpu_hours,
    sum(ifNull(busy_seconds, 0)) / 3600 AS busy_gpu_hours,
    sum(if(isNull(busy_seconds), 0, provisioned_seconds)) / 3600 AS busy_known_gpu_hours,
    sum(ifNull(energy_joules, 0)) / 3600000 AS energy_kwh,
    count() AS records
FROM {{.DB}}.usage_raw FINAL
WHERE interval_start >= {{.From}} AND interval_start < {{.To}} AND toStartOfHour(interval_start) IN ({{.Hours}})
GROUP BY hour, provider, region, instance_type, account, gpu_model, team
