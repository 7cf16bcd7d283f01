-- Per commitment, the figures as of {{.At}} over the complete hours of the term before it. Definitions:
-- schema/README.md, "Commitment figures". Used by the commitment_status view (At = now()) and by the report.
SELECT{{template "commitment_status_columns" .}}
FROM {{.DB}}.commitments_current AS c
ANY LEFT JOIN
(
    SELECT commitment_id AS id,{{template "commitment_status_sums" .}}
    FROM {{.DB}}.commitment_hourly
    WHERE hour < toStartOfHour({{.At}})
    GROUP BY commitment_id
) AS figures USING id
{{/* The figures' columns, and the per-commitment sums of commitment_hourly they are made of: one text for this
   query and commitment_figures.sql. */}}
{{define "commitment_status_columns"}}
    c.id AS commitment_id, c.name AS name, c.provider AS provider, c.kind AS kind, c.unit AS unit, c.quantity AS quantity,
    c.term_start AS term_start, c.term_end AS term_end, c.team AS team,
    (toUInt32(c.term_end) - toUInt32(c.term_start)) / 3600 AS term_hours,
    hours_elapsed,
    term_hours - hours_elapsed AS hours_remaining,
    if(c.kind = 'capacity', c.quantity * term_hours, c.quantity) AS commitment_total,
    committed_to_date,
    used_to_date,
    if(committed_to_date > 0, used_to_date / committed_to_date, 0) AS utilization,
    greatest(committed_to_date - used_to_date, 0) AS shortfall_to_date,
    if(hours_elapsed > 0, used_to_date / hours_elapsed, 0) AS rate_linear,
    if(hours_7d > 0, used_7d / hours_7d, 0) AS rate_7d,
    used_to_date + rate_linear * hours_remaining AS forecast_linear,
    used_to_date + rate_7d * hours_remaining AS forecast_7d,
    greatest(commitment_total - forecast_linear, 0) AS projected_shortfall_linear,
    greatest(commitment_total - forecast_7d, 0) AS projected_shortfall_7d,
    if(hours_remaining > 0, greatest(commitment_total - used_to_date, 0) / hours_remaining, 0) AS required_rate,
    total_used_gpu_hours AS used_gpu_hours,
    total_overflow_gpu_hours AS overflow_gpu_hours,
    total_leakage_gpu_hours AS leakage_gpu_hours,
    leakage_24h_gpu_hours,
    if(total_busy_known_gpu_hours > 0, total_busy_gpu_hours / total_busy_known_gpu_hours, 0) AS efficiency,
    c.alert_projected_shortfall_pct AS alert_projected_shortfall_pct,
    c.alert_min_utilization_pct AS alert_min_utilization_pct,
    c.alert_max_leakage_gpu_hours_24h AS alert_max_leakage_gpu_hours_24h{{end}}
{{- define "commitment_status_sums"}}
        count() AS hours_elapsed,
        sum(committed) AS committed_to_date,
        sum(used) AS used_to_date,
        sumIf(used, hour >= toStartOfHour({{.At}}) - 7 * 86400) AS used_7d,
        countIf(hour >= toStartOfHour({{.At}}) - 7 * 86400) AS hours_7d,
        sum(used_gpu_hours) AS total_used_gpu_hours,
        sum(overflow_gpu_hours) AS total_overflow_gpu_hours,
        sum(leakage_gpu_hours) AS total_leakage_gpu_hours,
        sumIf(leakage_gpu_hours, hour >= toStartOfHour({{.At}}) - 86400) AS leakage_24h_gpu_hours,
        sum(busy_gpu_hours) AS total_busy_gpu_hours,
        sum(busy_known_gpu_hours) AS total_busy_known_gpu_hours{{end}}
