-- The hourly rollup for the hours in [{{.From}}, {{.To}}), one row per hour × provider, region, instance type,
-- account, GPU model and team, in that order. The FOCUS export's usage rows.
SELECT hour, provider, region, instance_type, account, gpu_model, team,
    provisioned_gpu_hours, busy_gpu_hours, busy_known_gpu_hours, energy_kwh
FROM {{.DB}}.gpu_usage_hourly
WHERE hour >= {{.From}} AND hour < {{.To}}
ORDER BY hour, provider, region, instance_type, account, gpu_model, team
