-- Recompute the daily rollup for the days in [{{.From}}, {{.To}}) listed in {{.Days}}, from the hourly rollup.
INSERT INTO {{.DB}}.usage_daily
SELECT
    toDate(hour) AS day,
    provider, region, instance_type, account, gpu_model, team,
    max(gpus) AS gpus_peak,
    sum(provisioned_gpu_hours), sum(allocated_gpu_hours), sum(busy_gpu_hours), sum(busy_known_gpu_hours),
    sum(energy_kwh),
    sum(records)
FROM {{.DB}}.usage_hourly FINAL
WHERE hour >= {{.From}} AND hour < {{.To}} AND toDate(hour) IN ({{.Days}})
GROUP BY day, provider, region, instance_type, account, gpu_model, team
