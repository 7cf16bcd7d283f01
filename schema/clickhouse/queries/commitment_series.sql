-- Per commitment and complete hour of its term before {{.At}}: committed and used, in the commitment's unit, in time
-- order (collector/figures makes the running sums the charts draw: 18.16 has no window functions).
SELECT commitment_id, hour, committed, used
FROM {{.DB}}.commitment_hourly
WHERE hour < toStartOfHour({{.At}})
ORDER BY commitment_id, hour
