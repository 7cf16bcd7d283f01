-- Per commitment, the money figures as of {{.At}} over the complete hours of the term before it (schema/README.md,
-- "Money"): overflow_cost and leakage_cost (to date and over the last 24 hours) at the on-demand price cards, in
-- money_currency (the currency of the file's prices, '' without any); unused_value, the shortfall to date as money
-- (spend: itself, in the commitment's unit; capacity and usage: at the commitment's price per GPU-hour, in
-- unused_value_currency, 0 and '' without a price). Used by the commitment_money_status view (At = now()), the
-- report, the evaluator and the metrics (collector/figures).
SELECT commitment_id, kind, unit, committed_price,
    (SELECT any(currency) FROM {{.DB}}.price_cards_current) AS money_currency,
    total_overflow_cost AS overflow_cost, total_leakage_cost AS leakage_cost, leakage_24h_cost,
    if(kind = 'spend', shortfall_to_date, shortfall_to_date * committed_price) AS unused_value,
    if(kind = 'spend', unit, price_currency) AS unused_value_currency
FROM
(
    SELECT *
    FROM
    (
        SELECT commitment_id, kind, unit, shortfall_to_date
        FROM ({{template "commitment_status.sql" .}}) AS status
    ) AS figures
    ANY LEFT JOIN
    (
        -- (aliases unlike the columns: on 18.16 an alias named as a column rebinds the column inside sumIf)
        SELECT commitment_id, sum(overflow_cost) AS total_overflow_cost, sum(leakage_cost) AS total_leakage_cost,
            sumIf(leakage_cost, hour >= toStartOfHour({{.At}}) - 86400) AS leakage_24h_cost
        FROM {{.DB}}.commitment_hourly
        WHERE hour < toStartOfHour({{.At}})
        GROUP BY commitment_id
    ) AS money USING commitment_id
) AS with_money
ANY LEFT JOIN {{.DB}}.commitment_prices AS prices USING commitment_id
ORDER BY commitment_id
