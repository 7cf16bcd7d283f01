-- Commitments against usage, hour by hour. Definitions of every column are in schema/README.md ("Commitment
-- figures"). ClickHouse 18.16 allows one JOIN per SELECT level, hence the nesting; non-equi matching of usage to a
-- commitment's scope is a CROSS JOIN filtered by WHERE (commitments are few).

-- A commitment with its rate card folded into arrays, and the cheapest price (to express unused spend in GPU-hours).
DROP TABLE IF EXISTS {{.DB}}.commitment_scopes{{onCluster}};
CREATE VIEW IF NOT EXISTS {{.DB}}.commitment_scopes{{onCluster}} AS
SELECT id, name, provider, scope_account, scope_region, scope_instance_type, scope_gpu_model, kind, quantity, unit,
    currency, term_start, term_end, team,
    rate_instance_types, rate_gpu_models, rate_prices,
    if(length(rate_prices) > 0, arrayReduce('min', rate_prices), 0) AS min_price
FROM {{.DB}}.commitments_current
ANY LEFT JOIN
(
    SELECT commitment_id AS id, groupArray(instance_type) AS rate_instance_types, groupArray(gpu_model) AS rate_gpu_models,
        groupArray(price_per_gpu_hour) AS rate_prices
    FROM {{.DB}}.commitment_rates_current
    GROUP BY commitment_id
) AS rates USING id;

-- In-scope usage per commitment and hour, priced by the rate card (most specific line wins).
DROP TABLE IF EXISTS {{.DB}}.commitment_usage_hourly{{onCluster}};
CREATE VIEW IF NOT EXISTS {{.DB}}.commitment_usage_hourly{{onCluster}} AS
SELECT commitment_id, hour,
    sum(provisioned_gpu_hours) AS gpu_hours,
    sum(busy_gpu_hours) AS busy_gpu_hours,
    sum(busy_known_gpu_hours) AS busy_known_gpu_hours,
    sum(provisioned_gpu_hours * price) AS cost
FROM
(
    SELECT c.id AS commitment_id, u.hour AS hour, u.provisioned_gpu_hours AS provisioned_gpu_hours,
        u.busy_gpu_hours AS busy_gpu_hours, u.busy_known_gpu_hours AS busy_known_gpu_hours,
        arrayFirstIndex((it, gm) -> it = u.instance_type AND gm = u.gpu_model, c.rate_instance_types, c.rate_gpu_models) AS both,
        arrayFirstIndex((it, gm) -> it = u.instance_type AND gm = '', c.rate_instance_types, c.rate_gpu_models) AS by_type,
        arrayFirstIndex((it, gm) -> it = '' AND gm = u.gpu_model, c.rate_instance_types, c.rate_gpu_models) AS by_model,
        multiIf(both > 0, c.rate_prices[both], by_type > 0, c.rate_prices[by_type], by_model > 0, c.rate_prices[by_model], 0) AS price
    FROM {{.DB}}.usage_hourly AS u FINAL
    CROSS JOIN {{.DB}}.commitment_scopes AS c
    WHERE u.provider = c.provider
        AND (c.scope_account = '' OR u.account = c.scope_account)
        AND (c.scope_region = '' OR u.region = c.scope_region)
        AND (c.scope_instance_type = '' OR u.instance_type = c.scope_instance_type)
        AND (c.scope_gpu_model = '' OR u.gpu_model = c.scope_gpu_model)
        AND u.hour >= c.term_start AND u.hour < c.term_end
)
GROUP BY commitment_id, hour;

-- Overflow: GPU-hours on other providers during the term (same GPU model when the commitment names one).
DROP TABLE IF EXISTS {{.DB}}.commitment_overflow_hourly{{onCluster}};
CREATE VIEW IF NOT EXISTS {{.DB}}.commitment_overflow_hourly{{onCluster}} AS
SELECT c.id AS commitment_id, u.hour AS hour, u.provider AS provider, sum(u.provisioned_gpu_hours) AS gpu_hours
FROM {{.DB}}.usage_hourly AS u FINAL
CROSS JOIN {{.DB}}.commitment_scopes AS c
WHERE u.provider != c.provider
    AND (c.scope_gpu_model = '' OR u.gpu_model = c.scope_gpu_model)
    AND u.hour >= c.term_start AND u.hour < c.term_end
GROUP BY commitment_id, hour, provider;

-- Every complete hour of every commitment's term so far, with what was committed, used, left unused, and leaked.
DROP TABLE IF EXISTS {{.DB}}.commitment_hourly{{onCluster}};
CREATE VIEW IF NOT EXISTS {{.DB}}.commitment_hourly{{onCluster}} AS
SELECT commitment_id, hour, kind, provider, unit, committed, used, unused, used_gpu_hours, busy_gpu_hours,
    busy_known_gpu_hours, overflow_gpu_hours,
    least(overflow_gpu_hours, unused_gpu_hours) AS leakage_gpu_hours
FROM
(
    SELECT commitment_id, hour, kind, provider, unit, committed, min_price,
        gpu_hours AS used_gpu_hours, busy_gpu_hours, busy_known_gpu_hours,
        multiIf(kind = 'capacity', least(quantity, gpu_hours), kind = 'spend', cost, gpu_hours) AS used,
        greatest(committed - used, 0) AS unused,
        if(kind = 'spend', if(min_price > 0, unused / min_price, 0), unused) AS unused_gpu_hours
    FROM
    (
        SELECT id AS commitment_id, kind, provider, unit, quantity, min_price,
            toDateTime(toUInt32(term_start) + 3600 * n) AS hour,
            if(kind = 'capacity', quantity, quantity * 3600 / (toUInt32(term_end) - toUInt32(term_start))) AS committed
        FROM {{.DB}}.commitment_scopes
        ARRAY JOIN range(toUInt32(greatest(toInt64(toUInt32(least(term_end, toStartOfHour(now())))) - toInt64(toUInt32(term_start)), 0) / 3600)) AS n
    ) AS term_hours
    ANY LEFT JOIN {{.DB}}.commitment_usage_hourly AS in_scope USING (commitment_id, hour)
) AS hourly
ANY LEFT JOIN
(
    SELECT commitment_id, hour, sum(gpu_hours) AS overflow_gpu_hours
    FROM {{.DB}}.commitment_overflow_hourly
    GROUP BY commitment_id, hour
) AS overflow USING (commitment_id, hour);

-- The figures to date, as of now (the report computes the same for any --at with queries/commitment_status.sql).
DROP TABLE IF EXISTS {{.DB}}.commitment_status{{onCluster}};
CREATE VIEW IF NOT EXISTS {{.DB}}.commitment_status{{onCluster}} AS
{{query "commitment_status" .DB "now()"}};
