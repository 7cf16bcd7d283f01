-- One GPU-hour, one commitment (schema/README.md, "Allocation"). Every usage group of every hour (usage_hourly: hour ×
-- provider, region, instance_type, account, gpu_model, team) is covered by at most one commitment: a capacity
-- reservation first, up to its N GPU-hours in the hour; what no reservation holds goes to a usage commitment, else to
-- a spend commitment whose rate card prices it, else it is uncovered. Among commitments of one kind the higher
-- priority wins, then the lower id. commitment_usage_hourly and commitment_overflow_hourly, and through them
-- commitment_hourly, commitment_status, the report, the alerts, the metrics and the FOCUS export, read this one
-- definition. ClickHouse 18.16 has no window functions and one JOIN per SELECT, hence arrays and nesting.

-- Per-commitment settings of one load that 0003's table lacks (like commitment_rates: the rows belong to the
-- commitments row of the same id and version): the priority (a commitment without a row has priority 0) and the
-- exhaustion alert's threshold in days.
CREATE TABLE IF NOT EXISTS {{everywhere "commitment_settings"}}
(
    commitment_id String,
    version UInt64,
    priority Int32,
    alert_exhaustion_days Float64
)
ENGINE = {{everywhereEngine "commitment_settings" "ReplacingMergeTree()"}}
ORDER BY (commitment_id, version);

-- Dependents first, so the statements can run again.
DROP TABLE IF EXISTS {{.DB}}.commitment_hourly{{onCluster}};
DROP TABLE IF EXISTS {{.DB}}.commitment_leakage_hourly{{onCluster}};
DROP TABLE IF EXISTS {{.DB}}.commitment_term_hourly{{onCluster}};
DROP TABLE IF EXISTS {{.DB}}.commitment_overflow_hourly{{onCluster}};
DROP TABLE IF EXISTS {{.DB}}.commitment_usage_hourly{{onCluster}};
DROP TABLE IF EXISTS {{.DB}}.commitment_allocation_hourly{{onCluster}};
DROP TABLE IF EXISTS {{.DB}}.commitment_capacity_room_hourly{{onCluster}};
DROP TABLE IF EXISTS {{.DB}}.commitment_capacity_first_hourly{{onCluster}};
DROP TABLE IF EXISTS {{.DB}}.commitment_groups_hourly{{onCluster}};
DROP TABLE IF EXISTS {{.DB}}.commitment_candidates_hourly{{onCluster}};
DROP TABLE IF EXISTS {{.DB}}.commitment_scopes{{onCluster}};
DROP TABLE IF EXISTS {{.DB}}.commitment_settings_current{{onCluster}};

CREATE VIEW IF NOT EXISTS {{.DB}}.commitment_settings_current{{onCluster}} AS
SELECT commitment_id, priority, alert_exhaustion_days
FROM {{.DB}}.commitment_settings FINAL
WHERE (commitment_id, version) IN (SELECT id, version FROM {{.DB}}.commitments_current);

-- A commitment with its rate card folded into arrays, its priority, its rank among kinds (capacity 0, usage 1,
-- spend 2) and the cheapest price (to express unused spend in GPU-hours).
CREATE VIEW IF NOT EXISTS {{.DB}}.commitment_scopes{{onCluster}} AS
SELECT id, name, provider, scope_account, scope_region, scope_instance_type, scope_gpu_model, kind, quantity, unit,
    currency, term_start, term_end, team,
    rate_instance_types, rate_gpu_models, rate_prices,
    if(length(rate_prices) > 0, arrayReduce('min', rate_prices), 0) AS min_price,
    priority,
    multiIf(kind = 'capacity', 0, kind = 'usage', 1, 2) AS kind_rank
FROM
(
    SELECT *
    FROM {{.DB}}.commitments_current
    ANY LEFT JOIN
    (
        SELECT commitment_id AS id, groupArray(instance_type) AS rate_instance_types,
            groupArray(gpu_model) AS rate_gpu_models, groupArray(price_per_gpu_hour) AS rate_prices
        FROM {{.DB}}.commitment_rates_current
        GROUP BY commitment_id
    ) AS rates USING id
) AS with_rates
ANY LEFT JOIN
(
    SELECT commitment_id AS id, priority FROM {{.DB}}.commitment_settings_current
) AS priorities USING id;

-- Every usage group of every hour paired with every commitment that may cover it: same provider, inside the scope and
-- the term, and for spend a rate-card line that prices it (price = the most specific line).
CREATE VIEW IF NOT EXISTS {{.DB}}.commitment_candidates_hourly{{onCluster}} AS
SELECT u.hour AS hour, u.provider AS provider, u.region AS region, u.instance_type AS instance_type,
    u.account AS account, u.gpu_model AS gpu_model, u.team AS team,
    c.id AS commitment_id, c.kind AS kind, c.kind_rank AS kind_rank, c.priority AS priority, c.quantity AS quantity,
    arrayFirstIndex((it, gm) -> it = u.instance_type AND gm = u.gpu_model, c.rate_instance_types, c.rate_gpu_models) AS both,
    arrayFirstIndex((it, gm) -> it = u.instance_type AND gm = '', c.rate_instance_types, c.rate_gpu_models) AS by_type,
    arrayFirstIndex((it, gm) -> it = '' AND gm = u.gpu_model, c.rate_instance_types, c.rate_gpu_models) AS by_model,
    multiIf(both > 0, c.rate_prices[both], by_type > 0, c.rate_prices[by_type], by_model > 0, c.rate_prices[by_model], 0) AS price
FROM {{.DB}}.usage_hourly AS u
CROSS JOIN {{.DB}}.commitment_scopes AS c
WHERE u.provider = c.provider
    AND (c.scope_account = '' OR u.account = c.scope_account)
    AND (c.scope_region = '' OR u.region = c.scope_region)
    AND (c.scope_instance_type = '' OR u.instance_type = c.scope_instance_type)
    AND (c.scope_gpu_model = '' OR u.gpu_model = c.scope_gpu_model)
    AND u.hour >= c.term_start AND u.hour < c.term_end
    AND (c.kind != 'spend' OR both + by_type + by_model > 0);

-- Each usage group of each hour with the commitments it goes to first: its best capacity reservation (priority, then
-- id) and its best usage or spend commitment (usage before spend, then priority, then id); '' where none matches.
CREATE VIEW IF NOT EXISTS {{.DB}}.commitment_groups_hourly{{onCluster}} AS
SELECT hour, provider, region, instance_type, account, gpu_model, team, provisioned_gpu_hours AS gpu_hours,
    busy_gpu_hours, busy_known_gpu_hours, energy_kwh, first_capacity_id, first_capacity_quantity, next_id, next_kind,
    next_price
FROM {{.DB}}.usage_hourly
ANY LEFT JOIN
(
    SELECT hour, provider, region, instance_type, account, gpu_model, team,
        argMinIf(commitment_id, (-priority, commitment_id), kind = 'capacity') AS first_capacity_id,
        argMinIf(quantity, (-priority, commitment_id), kind = 'capacity') AS first_capacity_quantity,
        argMinIf(commitment_id, (kind_rank, -priority, commitment_id), kind != 'capacity') AS next_id,
        argMinIf(kind, (kind_rank, -priority, commitment_id), kind != 'capacity') AS next_kind,
        argMinIf(price, (kind_rank, -priority, commitment_id), kind != 'capacity') AS next_price
    FROM {{.DB}}.commitment_candidates_hourly
    GROUP BY hour, provider, region, instance_type, account, gpu_model, team
) AS candidates USING (hour, provider, region, instance_type, account, gpu_model, team);

-- Capacity, first pass: a reservation covers the groups it is best for, in the order of their attributes, until its
-- N GPU-hours of the hour are used (first_covered; 0 for a group without a reservation).
CREATE VIEW IF NOT EXISTS {{.DB}}.commitment_capacity_first_hourly{{onCluster}} AS
SELECT hour, g.1 AS provider, g.2 AS region, g.3 AS instance_type, g.4 AS account, g.5 AS gpu_model, g.6 AS team,
    g.7 AS gpu_hours, g.8 AS busy_gpu_hours, g.9 AS busy_known_gpu_hours, g.10 AS energy_kwh, g.11 AS next_id,
    g.12 AS next_kind, g.13 AS next_price, first_capacity_id, first_covered
FROM
(
    SELECT hour, first_capacity_id,
        arraySort(groupArray((provider, region, instance_type, account, gpu_model, team, gpu_hours, busy_gpu_hours,
            busy_known_gpu_hours, energy_kwh, next_id, next_kind, next_price, first_capacity_quantity))) AS groups,
        arrayCumSum(arrayMap(x -> x.7, groups)) AS cum,
        -- (no outer column inside the lambda: 18.16 loses it) the reservation's N rides in each group's tuple
        arrayMap((x, s) -> greatest(least(x.7, x.14 - (s - x.7)), 0), groups, cum) AS covered
    FROM {{.DB}}.commitment_groups_hourly
    GROUP BY hour, first_capacity_id
) AS by_reservation
ARRAY JOIN groups AS g, covered AS first_covered;

-- What each reservation has left in each hour after the first pass.
CREATE VIEW IF NOT EXISTS {{.DB}}.commitment_capacity_room_hourly{{onCluster}} AS
SELECT hour, commitment_id, quantity - covered AS room
FROM
(
    SELECT hour, commitment_id, any(quantity) AS quantity
    FROM {{.DB}}.commitment_candidates_hourly
    WHERE kind = 'capacity'
    GROUP BY hour, commitment_id
) AS reservations
ANY LEFT JOIN
(
    SELECT hour, first_capacity_id AS commitment_id, sum(first_covered) AS covered
    FROM {{.DB}}.commitment_capacity_first_hourly
    WHERE first_capacity_id != ''
    GROUP BY hour, first_capacity_id
) AS first_pass USING (hour, commitment_id);

-- The allocation: per hour, usage group and covering commitment ('' = no commitment), its share of the group's
-- GPU-hours, busy time and energy, and the price and cost at a spend commitment's rate card (0 otherwise). Capacity,
-- second pass: what the first pass left of a group goes to the best reservation that matches it and still has room
-- (its first one is full), which covers such groups in the order of their attributes up to that room. The rest goes
-- to the group's usage or spend commitment, or stays uncovered.
CREATE VIEW IF NOT EXISTS {{.DB}}.commitment_allocation_hourly{{onCluster}} AS
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

-- What each commitment covers per hour (the columns 0005 defined, now from the allocation).
CREATE VIEW IF NOT EXISTS {{.DB}}.commitment_usage_hourly{{onCluster}} AS
SELECT commitment_id, hour,
    sum(gpu_hours) AS gpu_hours,
    sum(busy_gpu_hours) AS busy_gpu_hours,
    sum(busy_known_gpu_hours) AS busy_known_gpu_hours,
    sum(cost) AS cost
FROM {{.DB}}.commitment_allocation_hourly
WHERE commitment_id != ''
GROUP BY commitment_id, hour;

-- Overflow: GPU-hours no commitment covered, on other providers during the term (same GPU model when the commitment
-- names one).
CREATE VIEW IF NOT EXISTS {{.DB}}.commitment_overflow_hourly{{onCluster}} AS
SELECT overflow_commitment_id AS commitment_id, overflow_hour AS hour, overflow_provider AS provider, gpu_hours
FROM
(
    -- Distinct names on both sides and in the aliases: on 18.16 an alias or column that shares a name with the
    -- other side's column can rebind to it (c.provider would read the usage's provider).
    SELECT c.id AS overflow_commitment_id, u.uncovered_hour AS overflow_hour, u.uncovered_provider AS overflow_provider,
        sum(u.uncovered_gpu_hours) AS gpu_hours
    FROM
    (
        SELECT hour AS uncovered_hour, provider AS uncovered_provider, gpu_model AS uncovered_gpu_model,
            gpu_hours AS uncovered_gpu_hours
        FROM {{.DB}}.commitment_allocation_hourly
        WHERE commitment_id = ''
    ) AS u
    CROSS JOIN {{.DB}}.commitment_scopes AS c
    WHERE u.uncovered_provider != c.provider
        AND (c.scope_gpu_model = '' OR u.uncovered_gpu_model = c.scope_gpu_model)
        AND u.uncovered_hour >= c.term_start AND u.uncovered_hour < c.term_end
    GROUP BY overflow_commitment_id, overflow_hour, overflow_provider
) AS overflow;

-- Every complete hour of every commitment's term so far (as 0005's commitment_hourly), with what was committed, used
-- and left unused.
CREATE VIEW IF NOT EXISTS {{.DB}}.commitment_term_hourly{{onCluster}} AS
SELECT commitment_id, hour, kind, kind_rank, priority, provider, unit, committed, min_price,
    gpu_hours AS used_gpu_hours, busy_gpu_hours, busy_known_gpu_hours,
    multiIf(kind = 'capacity', least(quantity, gpu_hours), kind = 'spend', cost, gpu_hours) AS used,
    greatest(committed - used, 0) AS unused,
    if(kind = 'spend', if(min_price > 0, unused / min_price, 0), unused) AS unused_gpu_hours
FROM
(
    SELECT id AS commitment_id, kind, kind_rank, priority, provider, unit, quantity, min_price,
        toDateTime(toUInt32(term_start) + 3600 * n) AS hour,
        if(kind = 'capacity', quantity, quantity * 3600 / (toUInt32(term_end) - toUInt32(term_start))) AS committed
    FROM {{.DB}}.commitment_scopes
    ARRAY JOIN range(toUInt32(greatest(toInt64(toUInt32(least(term_end, toStartOfHour(now())))) - toInt64(toUInt32(term_start)), 0) / 3600)) AS n
) AS term_hours
ANY LEFT JOIN {{.DB}}.commitment_usage_hourly AS in_scope USING (commitment_id, hour);

-- Leakage, each uncovered GPU-hour counted once: an uncovered usage group of an hour goes to the first commitment
-- (capacity, usage, spend; priority; id) whose overflow it is (another provider; the same GPU model when the
-- commitment names one) and that had room in that hour (unused_gpu_hours > 0); that commitment's leakage is what it
-- received, at most its room.
CREATE VIEW IF NOT EXISTS {{.DB}}.commitment_leakage_hourly{{onCluster}} AS
SELECT leak_commitment_id AS commitment_id, leak_hour AS hour, least(sum(leak_gpu_hours), any(leak_room)) AS leakage_gpu_hours
FROM
(
    SELECT uncovered_hour AS leak_hour,
        argMin(room_commitment_id, (room_kind_rank, -room_priority, room_commitment_id)) AS leak_commitment_id,
        argMin(room, (room_kind_rank, -room_priority, room_commitment_id)) AS leak_room,
        any(uncovered_gpu_hours) AS leak_gpu_hours
    FROM
    (
        SELECT uncovered_hour, uncovered_provider, uncovered_region, uncovered_instance_type, uncovered_account,
            uncovered_gpu_model, uncovered_team, uncovered_gpu_hours, room_commitment_id, room_kind_rank,
            room_priority, room
        FROM
        (
            SELECT u.uncovered_hour AS uncovered_hour, u.uncovered_provider AS uncovered_provider,
                u.uncovered_region AS uncovered_region, u.uncovered_instance_type AS uncovered_instance_type,
                u.uncovered_account AS uncovered_account, u.uncovered_gpu_model AS uncovered_gpu_model,
                u.uncovered_team AS uncovered_team, u.uncovered_gpu_hours AS uncovered_gpu_hours,
                c.id AS room_commitment_id
            FROM
            (
                SELECT hour AS uncovered_hour, provider AS uncovered_provider, region AS uncovered_region,
                    instance_type AS uncovered_instance_type, account AS uncovered_account,
                    gpu_model AS uncovered_gpu_model, team AS uncovered_team, gpu_hours AS uncovered_gpu_hours
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

-- Every complete hour of every commitment's term so far, with what was committed, used, left unused, overflowed
-- (uncovered GPU-hours on other providers) and leaked (the share of those attributed to this commitment).
CREATE VIEW IF NOT EXISTS {{.DB}}.commitment_hourly{{onCluster}} AS
SELECT commitment_id, hour, kind, provider, unit, committed, used, unused, used_gpu_hours, busy_gpu_hours,
    busy_known_gpu_hours, overflow_gpu_hours, leakage_gpu_hours
FROM
(
    SELECT *
    FROM {{.DB}}.commitment_term_hourly
    ANY LEFT JOIN
    (
        SELECT commitment_id, hour, sum(gpu_hours) AS overflow_gpu_hours
        FROM {{.DB}}.commitment_overflow_hourly
        GROUP BY commitment_id, hour
    ) AS overflow USING (commitment_id, hour)
) AS with_overflow
ANY LEFT JOIN {{.DB}}.commitment_leakage_hourly AS leakage USING (commitment_id, hour);

-- The FOCUS names of the providers (internal/cloudprovider's table, as the FOCUS export names them), for the
-- cookbook's FOCUS queries; a provider outside the table is named by its value. Re-created by a later migration when
-- the table grows.
DROP TABLE IF EXISTS {{.DB}}.focus_providers{{onCluster}};
CREATE VIEW IF NOT EXISTS {{.DB}}.focus_providers{{onCluster}} AS
SELECT tupleElement(p, 1) AS provider, tupleElement(p, 2) AS provider_name, tupleElement(p, 3) AS service_name
FROM (SELECT arrayJoin({{focusProviders}}) AS p) AS providers;
