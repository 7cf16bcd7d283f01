-- Money beside the GPU-hours (schema/README.md, "Money"), and usage commitments that stop covering once used up.
-- Prices come from the commitments file: on-demand price cards per provider and SKU (prices:, commitment_id '') and
-- the price per GPU-hour of a capacity or usage commitment (price_per_gpu_hour). The allocation of 0008 stays the
-- one definition: commitment_allocation_hourly now also caps each usage commitment at its quantity over its term
-- (hours in order; what it can no longer cover is uncovered) and prices every uncovered GPU-hour at the on-demand
-- price card (most specific line of its provider: instance type and GPU model, instance type, GPU model, neither).
-- Overflow cost, leakage cost and unused value are sums of those rows.

-- The prices of one load: rows belong to the commitments rows of the same version (like commitment_rates).
CREATE TABLE IF NOT EXISTS {{everywhere "price_cards"}}
(
    commitment_id String,
    version UInt64,
    position UInt16,
    provider String,
    instance_type String,
    gpu_model String,
    price_per_gpu_hour Float64,
    currency String
)
ENGINE = {{everywhereEngine "price_cards" "ReplacingMergeTree()"}}
ORDER BY (commitment_id, version, position);

-- Dependents first, so the statements can run again.
DROP TABLE IF EXISTS {{.DB}}.commitment_money_status{{onCluster}};
DROP TABLE IF EXISTS {{.DB}}.commitment_hourly{{onCluster}};
DROP TABLE IF EXISTS {{.DB}}.commitment_leakage_hourly{{onCluster}};
DROP TABLE IF EXISTS {{.DB}}.commitment_overflow_hourly{{onCluster}};
DROP TABLE IF EXISTS {{.DB}}.commitment_allocation_hourly{{onCluster}};
DROP TABLE IF EXISTS {{.DB}}.commitment_allocation_unbounded_hourly{{onCluster}};
DROP TABLE IF EXISTS {{.DB}}.commitment_prices{{onCluster}};
DROP TABLE IF EXISTS {{.DB}}.on_demand_prices{{onCluster}};
DROP TABLE IF EXISTS {{.DB}}.price_cards_current{{onCluster}};

CREATE VIEW IF NOT EXISTS {{.DB}}.price_cards_current{{onCluster}} AS
SELECT commitment_id, position, provider, instance_type, gpu_model, price_per_gpu_hour, currency
FROM {{.DB}}.price_cards FINAL
WHERE version IN (SELECT version FROM {{.DB}}.commitments_current);

-- The on-demand price card of each provider folded into arrays (as commitment_scopes folds rate cards).
CREATE VIEW IF NOT EXISTS {{.DB}}.on_demand_prices{{onCluster}} AS
-- A line's key is instance_type TAB gpu_model (found with indexOf: a lambda reading the usage row's columns loses them
-- on 18.16).
SELECT provider, groupArray(concat(instance_type, '\t', gpu_model)) AS od_keys,
    groupArray(price_per_gpu_hour) AS od_prices, any(currency) AS od_currency
FROM {{.DB}}.price_cards_current
WHERE commitment_id = ''
GROUP BY provider;

-- The price per GPU-hour of each priced capacity or usage commitment.
CREATE VIEW IF NOT EXISTS {{.DB}}.commitment_prices{{onCluster}} AS
SELECT commitment_id, any(price_per_gpu_hour) AS committed_price, any(currency) AS price_currency
FROM {{.DB}}.price_cards_current
WHERE commitment_id != ''
GROUP BY commitment_id;

-- 0008's allocation, before usage commitments are capped (read only by commitment_allocation_hourly).
CREATE VIEW IF NOT EXISTS {{.DB}}.commitment_allocation_unbounded_hourly{{onCluster}} AS
SELECT hour, g.1 AS provider, g.2 AS region, g.3 AS instance_type, g.4 AS account, g.5 AS gpu_model, g.6 AS team,
    part.1 AS commitment_id, part.2 AS kind, part.3 AS gpu_hours,
    if(g.7 > 0, g.8 * gpu_hours / g.7, 0) AS busy_gpu_hours,
    if(g.7 > 0, g.9 * gpu_hours / g.7, 0) AS busy_known_gpu_hours,
    if(g.7 > 0, g.10 * gpu_hours / g.7, 0) AS energy_kwh,
    part.4 AS price,
    gpu_hours * price AS cost
FROM
(
    SELECT hour, second_capacity_id, g, second_covered
    FROM
    (
        SELECT hour, second_capacity_id,
            arraySort(groupArray((provider, region, instance_type, account, gpu_model, team, gpu_hours,
                busy_gpu_hours, busy_known_gpu_hours, energy_kwh, next_id, next_kind, next_price, first_capacity_id,
                first_covered, second_capacity_room))) AS groups,
            arrayCumSum(arrayMap(x -> x.7 - x.15, groups)) AS cum,
            arrayMap((x, s) -> greatest(least(x.7 - x.15, x.16 - (s - (x.7 - x.15))), 0), groups, cum) AS covered
        FROM
        (
            SELECT *
            FROM {{.DB}}.commitment_capacity_first_hourly
            ANY LEFT JOIN
            (
                SELECT hour, provider, region, instance_type, account, gpu_model, team,
                    argMin(commitment_id, (-priority, commitment_id)) AS second_capacity_id,
                    argMin(room, (-priority, commitment_id)) AS second_capacity_room
                FROM
                (
                    SELECT hour, provider, region, instance_type, account, gpu_model, team, commitment_id, priority,
                        room
                    FROM {{.DB}}.commitment_candidates_hourly
                    ANY INNER JOIN {{.DB}}.commitment_capacity_room_hourly USING (hour, commitment_id)
                    WHERE kind = 'capacity' AND room > 1e-9
                ) AS with_room
                GROUP BY hour, provider, region, instance_type, account, gpu_model, team
            ) AS second USING (hour, provider, region, instance_type, account, gpu_model, team)
        ) AS first_pass
        GROUP BY hour, second_capacity_id
    ) AS by_reservation
    ARRAY JOIN groups AS g, covered AS second_covered
) AS reservations
ARRAY JOIN [(g.14, 'capacity', g.15, 0.), (second_capacity_id, 'capacity', second_covered, 0.),
    (g.11, g.12, g.7 - g.15 - second_covered, g.13)] AS part
WHERE part.3 > 1e-12;
-- The allocation (0008's columns, then on_demand_price, on_demand_cost and on_demand_currency): usage commitments
-- cover their GPU-hours in the order of hour then attributes until their quantity is used up; the rest of such a
-- group is uncovered (kind ''). Every row carries the on-demand price of its GPU-hours (0 without a price card: the
-- FOCUS export's list price); an uncovered row also its on-demand cost, what was paid for it (0 on covered rows).
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
    SELECT hour, provider, region, instance_type, account, gpu_model, team, commitment_id, kind, gpu_hours,
        busy_gpu_hours, busy_known_gpu_hours, energy_kwh, price, cost
    FROM {{.DB}}.commitment_allocation_unbounded_hourly
    WHERE kind != 'usage'
    UNION ALL
    SELECT g.1 AS hour, g.2 AS provider, g.3 AS region, g.4 AS instance_type, g.5 AS account, g.6 AS gpu_model,
        g.7 AS team, part.1 AS commitment_id, part.2 AS kind, part.3 AS gpu_hours,
        if(g.8 > 0, g.9 * part.3 / g.8, 0) AS busy_gpu_hours,
        if(g.8 > 0, g.10 * part.3 / g.8, 0) AS busy_known_gpu_hours,
        if(g.8 > 0, g.11 * part.3 / g.8, 0) AS energy_kwh,
        0. AS price, 0. AS cost
    FROM
    (
        SELECT usage_id, g, usage_covered
        FROM
        (
            SELECT usage_id,
                arraySort(groupArray((hour, provider, region, instance_type, account, gpu_model, team, gpu_hours,
                    busy_gpu_hours, busy_known_gpu_hours, energy_kwh, usage_quantity))) AS groups,
                arrayCumSum(arrayMap(x -> x.8, groups)) AS cum,
                -- (no outer column inside the lambda: 18.16 loses it) the quantity rides in each group's tuple
                arrayMap((x, s) -> greatest(least(x.8, x.12 - (s - x.8)), 0), groups, cum) AS covered
            FROM
            (
                SELECT hour, provider, region, instance_type, account, gpu_model, team, commitment_id AS usage_id,
                    gpu_hours, busy_gpu_hours, busy_known_gpu_hours, energy_kwh, usage_quantity
                FROM {{.DB}}.commitment_allocation_unbounded_hourly
                ANY LEFT JOIN
                (
                    SELECT id AS commitment_id, quantity AS usage_quantity FROM {{.DB}}.commitment_scopes
                ) AS quantities USING commitment_id
                WHERE kind = 'usage'
            ) AS usage_rows
            GROUP BY usage_id
        ) AS by_commitment
        ARRAY JOIN groups AS g, covered AS usage_covered
    ) AS usage_groups
    ARRAY JOIN [(usage_id, 'usage', usage_covered), ('', '', g.8 - usage_covered)] AS part
    WHERE part.3 > 1e-12
) AS allocated
ANY LEFT JOIN {{.DB}}.on_demand_prices AS od USING provider;

-- Overflow: GPU-hours no commitment covered, on other providers during the term (same GPU model when the commitment
-- names one), with what they cost on demand.
CREATE VIEW IF NOT EXISTS {{.DB}}.commitment_overflow_hourly{{onCluster}} AS
SELECT overflow_commitment_id AS commitment_id, overflow_hour AS hour, overflow_provider AS provider, gpu_hours, cost
FROM
(
    SELECT c.id AS overflow_commitment_id, u.uncovered_hour AS overflow_hour, u.uncovered_provider AS overflow_provider,
        sum(u.uncovered_gpu_hours) AS gpu_hours, sum(u.uncovered_cost) AS cost
    FROM
    (
        SELECT hour AS uncovered_hour, provider AS uncovered_provider, gpu_model AS uncovered_gpu_model,
            gpu_hours AS uncovered_gpu_hours, on_demand_cost AS uncovered_cost
        FROM {{.DB}}.commitment_allocation_hourly
        WHERE commitment_id = ''
    ) AS u
    CROSS JOIN {{.DB}}.commitment_scopes AS c
    WHERE u.uncovered_provider != c.provider
        AND (c.scope_gpu_model = '' OR u.uncovered_gpu_model = c.scope_gpu_model)
        AND u.uncovered_hour >= c.term_start AND u.uncovered_hour < c.term_end
    GROUP BY overflow_commitment_id, overflow_hour, overflow_provider
) AS overflow;

-- Leakage as in 0008, with its cost: the leaked GPU-hours' share of what the uncovered groups cost on demand.
CREATE VIEW IF NOT EXISTS {{.DB}}.commitment_leakage_hourly{{onCluster}} AS
SELECT leak_commitment_id AS commitment_id, leak_hour AS hour,
    least(sum(leak_gpu_hours), any(leak_room)) AS leakage_gpu_hours,
    if(sum(leak_gpu_hours) > 0, sum(leak_cost) * leakage_gpu_hours / sum(leak_gpu_hours), 0) AS leakage_cost
FROM
(
    SELECT uncovered_hour AS leak_hour,
        argMin(room_commitment_id, (room_kind_rank, -room_priority, room_commitment_id)) AS leak_commitment_id,
        argMin(room, (room_kind_rank, -room_priority, room_commitment_id)) AS leak_room,
        any(uncovered_gpu_hours) AS leak_gpu_hours,
        any(uncovered_cost) AS leak_cost
    FROM
    (
        SELECT uncovered_hour, uncovered_provider, uncovered_region, uncovered_instance_type, uncovered_account,
            uncovered_gpu_model, uncovered_team, uncovered_gpu_hours, uncovered_cost, room_commitment_id, room_kind_rank,
            room_priority, room
        FROM
        (
            SELECT u.uncovered_hour AS uncovered_hour, u.uncovered_provider AS uncovered_provider,
                u.uncovered_region AS uncovered_region, u.uncovered_instance_type AS uncovered_instance_type,
                u.uncovered_account AS uncovered_account, u.uncovered_gpu_model AS uncovered_gpu_model,
                u.uncovered_team AS uncovered_team, u.uncovered_gpu_hours AS uncovered_gpu_hours,
                u.uncovered_cost AS uncovered_cost,
                c.id AS room_commitment_id
            FROM
            (
                SELECT hour AS uncovered_hour, provider AS uncovered_provider, region AS uncovered_region,
                    instance_type AS uncovered_instance_type, account AS uncovered_account,
                    gpu_model AS uncovered_gpu_model, team AS uncovered_team, gpu_hours AS uncovered_gpu_hours,
                    on_demand_cost AS uncovered_cost
                FROM {{.DB}}.commitment_allocation_hourly
                WHERE commitment_id = ''
            ) AS u
            CROSS JOIN {{.DB}}.commitment_scopes AS c
            WHERE u.uncovered_provider != c.provider
                AND (c.scope_gpu_model = '' OR u.uncovered_gpu_model = c.scope_gpu_model)
                AND u.uncovered_hour >= c.term_start AND u.uncovered_hour < c.term_end
        ) AS pool
        ANY INNER JOIN
        (
            SELECT commitment_id AS room_commitment_id, hour AS uncovered_hour, kind_rank AS room_kind_rank,
                priority AS room_priority, unused_gpu_hours AS room
            FROM {{.DB}}.commitment_term_hourly
            WHERE unused_gpu_hours > 1e-9
        ) AS with_room USING (room_commitment_id, uncovered_hour)
    ) AS candidates
    GROUP BY uncovered_hour, uncovered_provider, uncovered_region, uncovered_instance_type, uncovered_account,
        uncovered_gpu_model, uncovered_team
) AS leaks
GROUP BY leak_commitment_id, leak_hour;
-- commitment_hourly as in 0008, with the money: overflow_cost and leakage_cost at the on-demand price cards.
CREATE VIEW IF NOT EXISTS {{.DB}}.commitment_hourly{{onCluster}} AS
SELECT commitment_id, hour, kind, provider, unit, committed, used, unused, used_gpu_hours, busy_gpu_hours,
    busy_known_gpu_hours, overflow_gpu_hours, leakage_gpu_hours, overflow_cost, leakage_cost
FROM
(
    SELECT *
    FROM {{.DB}}.commitment_term_hourly
    ANY LEFT JOIN
    (
        SELECT commitment_id, hour, sum(gpu_hours) AS overflow_gpu_hours, sum(cost) AS overflow_cost
        FROM {{.DB}}.commitment_overflow_hourly
        GROUP BY commitment_id, hour
    ) AS overflow USING (commitment_id, hour)
) AS with_overflow
ANY LEFT JOIN {{.DB}}.commitment_leakage_hourly AS leakage USING (commitment_id, hour);

-- The money figures to date, as of now (the report computes the same for any --at with
-- queries/commitment_money.sql).
CREATE VIEW IF NOT EXISTS {{.DB}}.commitment_money_status{{onCluster}} AS
{{query "commitment_money" .DB "now()"}};
