-- GPU-hours, busy time and cost per team, provider and covering commitment ('' = none) over the hours in
-- [{{.From}}, {{.To}}), from the allocation (schema/README.md, "Allocation" and "Money"): the report's team section.
-- cost is what the GPU-hours cost: at a spend commitment's rate card (in its currency), at a priced capacity or usage
-- commitment's price per GPU-hour, or on demand at the price cards when uncovered (in the prices' currency); 0 with
-- currency '' where nothing prices them.
SELECT team, provider, commitment_id, currency,
    sum(gpu_hours) AS team_gpu_hours, sum(busy_gpu_hours) AS team_busy_gpu_hours,
    sum(busy_known_gpu_hours) AS team_busy_known_gpu_hours, sum(row_cost) AS team_cost
FROM
(
    SELECT team, provider, commitment_id, gpu_hours, busy_gpu_hours, busy_known_gpu_hours,
        multiIf(kind = 'spend', cost, commitment_id = '', on_demand_cost, gpu_hours * committed_price) AS row_cost,
        multiIf(row_cost = 0, '', kind = 'spend', spend_currency, commitment_id = '', on_demand_currency,
            price_currency) AS currency
    FROM
    (
        SELECT *
        FROM
        (
            SELECT team, provider, commitment_id, kind, gpu_hours, busy_gpu_hours, busy_known_gpu_hours, cost,
                on_demand_cost, on_demand_currency
            FROM {{.DB}}.commitment_allocation_hourly
            WHERE hour >= {{.From}} AND hour < {{.To}}
        ) AS allocated
        ANY LEFT JOIN {{.DB}}.commitment_prices AS prices USING commitment_id
    ) AS priced
    ANY LEFT JOIN
    (
        SELECT id AS commitment_id, currency AS spend_currency FROM {{.DB}}.commitment_scopes
    ) AS spend USING commitment_id
) AS team_rows
GROUP BY team, provider, commitment_id, currency
ORDER BY team, provider, commitment_id, currency
