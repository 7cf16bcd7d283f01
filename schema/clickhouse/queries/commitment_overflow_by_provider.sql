-- Per commitment and other provider, the overflow GPU-hours over the complete hours of the term before {{.At}}
-- (the hours commitment_status sums). Used by the report, the evaluator and their figures (collector/figures).
SELECT commitment_id, provider, sum(gpu_hours) AS gpu_hours
FROM {{.DB}}.commitment_overflow_hourly
WHERE hour < toStartOfHour({{.At}}) AND hour >= toDateTime(0)
GROUP BY commitment_id, provider
