-- GPU-hours per provider and UTC day over the hours in [{{.From}}, {{.To}}), read from the hourly rollup (never from
-- raw history), so a day cut by {{.To}} holds only its hours before it. gpus is the most GPUs one hour of the day
-- held (per hour the rollup's GPUs summed over its groups; a GPU that changed team within an hour counts in both).
-- busy_known_gpu_hours are the GPU-hours whose busy time was measured: busy % is busy / busy-known (unknown is not
-- idle).
SELECT toDate(hour) AS day, provider, max(hour_gpus) AS gpus,
    sum(hour_provisioned) AS provisioned_gpu_hours, sum(hour_busy) AS busy_gpu_hours,
    sum(hour_busy_known) AS busy_known_gpu_hours, sum(hour_energy) AS energy_kwh
FROM
(
    SELECT hour, provider, sum(gpus) AS hour_gpus, sum(provisioned_gpu_hours) AS hour_provisioned,
        sum(busy_gpu_hours) AS hour_busy, sum(busy_known_gpu_hours) AS hour_busy_known, sum(energy_kwh) AS hour_energy
    FROM {{.DB}}.gpu_usage_hourly
    WHERE hour >= {{.From}} AND hour < {{.To}}
    GROUP BY hour, provider
) AS hourly
GROUP BY day, provider
ORDER BY day, provider
