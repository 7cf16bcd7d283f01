-- The allocation of 0010 (same columns, same rows) reading commitment_allocation_unbounded_hourly once instead of
-- twice. 18.16 evaluates a view each time a query names it, and 0010's allocation named the unbounded allocation in
-- both arms of a UNION ALL (the rows usage commitments do not cover, and the usage rows to cap), so every statement
-- over the allocation computed it twice (schema/README.md, "Reading the allocation"). Here every row of the unbounded
-- allocation goes through one GROUP BY on its commitment: a usage commitment's rows are capped at its quantity, in
-- the order of hour then attributes, as in 0010; every other commitment's rows (and the uncovered ones) keep their
-- GPU-hours, busy time, energy, price and cost as they are.
DROP TABLE IF EXISTS {{.DB}}.commitment_allocation_hourly{{onCluster}};

CREATE VIEW IF NOT EXISTS {{.DB}}.commitment_allocation_hourly{{onCluster}} AS
SELECT hour, provider, region, instance_type, account, gpu_model, team, commitment_id, kind, gpu_hours,
    busy_gpu_hours, busy_known_gpu_hours, energy_kwh, price, cost,
    indexOf(od_keys, concat(instance_type, '\t', gpu_model)) AS od_both,
    indexOf(od_keys, concat(instance_type, '\t')) AS od_by_type,
    indexOf(od_keys, concat('\t', gpu_model)) AS od_by_model,
    indexOf(od_keys, '\t') AS od_any,
    multiIf(od_both > 0, od_prices[od_both], od_by_type > 0, od_prices[od_by_type],
        od_by_model > 0, od_prices[od_by_model], od_any > 0, od_prices[od_any], 0) AS on_demand_price,
    if(commitment_id = '', gpu_hours * on_demand_price, 0) AS on_demand_cost,
    if(on_demand_price > 0, od_currency, '') AS on_demand_currency
FROM
(
    -- part: (commitment, kind, GPU-hours, price, cost). A capped usage row is split into what its commitment covers
    -- and the uncovered rest (neither priced, as in 0010); any other row is its first part whole (the second is 0 and
    -- dropped).
    SELECT g.1 AS hour, g.2 AS provider, g.3 AS region, g.4 AS instance_type, g.5 AS account, g.6 AS gpu_model,
        g.7 AS team, part.1 AS commitment_id, part.2 AS kind, part.3 AS gpu_hours,
        if(part.3 = g.8, g.9, if(g.8 > 0, g.9 * part.3 / g.8, 0)) AS busy_gpu_hours,
        if(part.3 = g.8, g.10, if(g.8 > 0, g.10 * part.3 / g.8, 0)) AS busy_known_gpu_hours,
        if(part.3 = g.8, g.11, if(g.8 > 0, g.11 * part.3 / g.8, 0)) AS energy_kwh,
        part.4 AS price, part.5 AS cost
    FROM
    (
        SELECT cover_id, g, covered_gpu_hours
        FROM
        (
            SELECT cover_id,
                arraySort(groupArray((hour, provider, region, instance_type, account, gpu_model, team, gpu_hours,
                    busy_gpu_hours, busy_known_gpu_hours, energy_kwh, usage_quantity, kind, price, cost))) AS groups,
                arrayCumSum(arrayMap(x -> x.8, groups)) AS cum,
                -- (no outer column inside the lambda: 18.16 loses it) the quantity and kind ride in each tuple
                arrayMap((x, s) -> if(x.13 = 'usage', greatest(least(x.8, x.12 - (s - x.8)), 0), x.8), groups,
                    cum) AS covered
            FROM
            (
                SELECT hour, provider, region, instance_type, account, gpu_model, team, commitment_id AS cover_id,
                    kind, gpu_hours, busy_gpu_hours, busy_known_gpu_hours, energy_kwh, price, cost, usage_quantity
                FROM {{.DB}}.commitment_allocation_unbounded_hourly
                ANY LEFT JOIN
                (
                    SELECT id AS commitment_id, quantity AS usage_quantity FROM {{.DB}}.commitment_scopes
                ) AS quantities USING commitment_id
            ) AS unbounded
            GROUP BY cover_id
        ) AS by_commitment
        ARRAY JOIN groups AS g, covered AS covered_gpu_hours
    ) AS covered_rows
    ARRAY JOIN [(cover_id, g.13, covered_gpu_hours, if(g.13 = 'usage', 0., g.14), if(g.13 = 'usage', 0., g.15)),
        ('', '', g.8 - covered_gpu_hours, 0., 0.)] AS part
    WHERE part.3 > 1e-12
) AS allocated
ANY LEFT JOIN {{.DB}}.on_demand_prices AS od USING provider;
