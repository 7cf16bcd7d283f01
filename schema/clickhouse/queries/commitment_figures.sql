-- Every current commitment's figures as of {{.At}} (the columns of commitment_status.sql), then its money
-- (schema/README.md, "Money"), ordered by commitment: what the report, the evaluator and the metrics read
-- (collector/figures). One pass over commitment_hourly gives both, and with {{.Series}} non-empty also the hours,
-- committed and used amounts the report's charts draw (series_*, in time order): commitment_hourly computes the
-- allocation each time a statement names it (schema/README.md, "Reading the allocation"), so the report names it
-- once. money_currency is the currency of the file's prices ('' without any); unused_value is the shortfall to date
-- as money (spend: itself, in the commitment's unit; capacity and usage: at the commitment's price per GPU-hour, in
-- unused_value_currency, 0 and '' without a price).
SELECT commitment_id, name, provider, kind, unit, quantity, term_start, term_end, team, term_hours, hours_elapsed,
    hours_remaining, commitment_total, committed_to_date, used_to_date, utilization, shortfall_to_date, rate_linear,
    rate_7d, forecast_linear, forecast_7d, projected_shortfall_linear, projected_shortfall_7d, required_rate,
    used_gpu_hours, overflow_gpu_hours, leakage_gpu_hours, leakage_24h_gpu_hours, efficiency,
    alert_projected_shortfall_pct, alert_min_utilization_pct, alert_max_leakage_gpu_hours_24h,
    committed_price,
    (SELECT any(currency) FROM {{.DB}}.price_cards_current) AS money_currency,
    total_overflow_cost AS overflow_cost, total_leakage_cost AS leakage_cost, leakage_24h_cost,
    if(kind = 'spend', shortfall_to_date, shortfall_to_date * committed_price) AS unused_value,
    if(kind = 'spend', unit, price_currency) AS unused_value_currency{{if .Series}},
    arrayMap(p -> p.1, series) AS series_hours, arrayMap(p -> p.2, series) AS series_committed,
    arrayMap(p -> p.3, series) AS series_used{{end}}
FROM
(
    SELECT{{template "commitment_status_columns" .}},
        total_overflow_cost, total_leakage_cost, leakage_24h_cost{{if .Series}}, series{{end}}
    FROM {{.DB}}.commitments_current AS c
    ANY LEFT JOIN
    (
        -- (aliases unlike the columns: on 18.16 an alias named as a column rebinds the column inside sumIf)
        SELECT commitment_id AS id,{{template "commitment_status_sums" .}},
            sum(overflow_cost) AS total_overflow_cost, sum(leakage_cost) AS total_leakage_cost,
            sumIf(leakage_cost, hour >= toStartOfHour({{.At}}) - 86400) AS leakage_24h_cost{{if .Series}},
            arraySort(groupArray((hour, committed, used))) AS series{{end}}
        FROM {{.DB}}.commitment_hourly
        WHERE hour < toStartOfHour({{.At}})
        GROUP BY commitment_id
    ) AS figures USING id
) AS status
ANY LEFT JOIN {{.DB}}.commitment_prices AS prices USING commitment_id
ORDER BY commitment_id
