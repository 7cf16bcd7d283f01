-- The allocation (commitment_allocation_hourly, schema/README.md "Allocation") for the hours in [{{.From}}, {{.To}}):
-- one row per hour × provider, region, instance type, account, GPU model, team and covering commitment ('' = none),
-- in that order, with the on-demand price of the row's GPU-hours (0 without a price card). The FOCUS export's usage rows.
SELECT hour, provider, region, instance_type, account, gpu_model, team, commitment_id,
    gpu_hours, busy_gpu_hours, busy_known_gpu_hours, energy_kwh, price, on_demand_price, on_demand_currency
FROM {{.DB}}.commitment_allocation_hourly
WHERE hour >= {{.From}} AND hour < {{.To}}
ORDER BY hour, provider, region, instance_type, account, gpu_model, team, commitment_id
