-- Each release of the live requests with the GPU-hours it released over the complete hours before {{.At}}
-- (release_gpus × its hours so far) and how many of them covered overflow (rofr_overflow_hourly).
SELECT request_id, release_provider, gpu_model, status, gpus, accepted_gpus, release_gpus, released_from, period_end,
    released_gpu_hours, used_gpu_hours
FROM
(
    SELECT request_id, release_provider, gpu_model, status, gpus, accepted_gpus, release_gpus, released_from,
        period_end,
        release_gpus * greatest(toInt64(toUInt32(least(period_end, toStartOfHour({{.At}})))) - toInt64(toUInt32(released_from)), 0) / 3600 AS released_gpu_hours
    FROM {{.DB}}.rofr_releases_current
) AS releases
ANY LEFT JOIN
(
    SELECT request_id, provider AS release_provider, sum(gpu_hours) AS used_gpu_hours
    FROM {{.DB}}.rofr_overflow_hourly
    WHERE class = 'covered' AND hour < toStartOfHour({{.At}})
    GROUP BY request_id, release_provider
) AS used USING (request_id, release_provider)
ORDER BY request_id, release_provider
