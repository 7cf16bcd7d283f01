-- The views over 0006's rollup tables. Apart from 0006 so that re-applying 0006 (a rollup table dropped by hand) still
-- finds usage_hourly/usage_daily to copy legacy hours from, and re-applying this one (a view dropped) leaves the
-- rollups alone (collector/store/migrate.go re-applies from the migration that owns a missing object).
-- The old rollup tables give way to views of the same names and columns; what reads them is dropped first and
-- created again below (views are resolved by name, so commitment_hourly and commitment_status keep working).
DROP TABLE IF EXISTS {{.DB}}.commitment_usage_hourly;
DROP TABLE IF EXISTS {{.DB}}.commitment_overflow_hourly;
DROP TABLE IF EXISTS {{.DB}}.gpu_usage_hourly;
DROP TABLE IF EXISTS {{.DB}}.gpu_usage_daily;
DROP TABLE IF EXISTS {{.DB}}.usage_hourly;
DROP TABLE IF EXISTS {{.DB}}.usage_daily;

-- One row per hour × provider, region, instance_type, account, gpu_model, team, as 0004's table had (records = the
-- distinct records behind the row). No FINAL is needed on these views: they are exact as they stand.
CREATE VIEW IF NOT EXISTS {{.DB}}.usage_hourly AS
SELECT hour, provider, region, instance_type, account, gpu_model, team, gpus,
    provisioned_seconds / 3600 AS provisioned_gpu_hours,
    allocated_seconds / 3600 AS allocated_gpu_hours,
    busy_seconds / 3600 AS busy_gpu_hours,
    busy_known_seconds / 3600 AS busy_known_gpu_hours,
    energy_joules / 3600000 AS energy_kwh,
    records
FROM {{.DB}}.rollup_hour FINAL
ARRAY JOIN provider, region, instance_type, account, gpu_model, team, gpus, provisioned_seconds, allocated_seconds,
    busy_seconds, busy_known_seconds, energy_joules, records;

CREATE VIEW IF NOT EXISTS {{.DB}}.usage_daily AS
SELECT day, provider, region, instance_type, account, gpu_model, team, gpus_peak,
    provisioned_seconds / 3600 AS provisioned_gpu_hours,
    allocated_seconds / 3600 AS allocated_gpu_hours,
    busy_seconds / 3600 AS busy_gpu_hours,
    busy_known_seconds / 3600 AS busy_known_gpu_hours,
    energy_joules / 3600000 AS energy_kwh,
    records
FROM {{.DB}}.rollup_day FINAL
ARRAY JOIN provider, region, instance_type, account, gpu_model, team, gpus_peak, provisioned_seconds,
    allocated_seconds, busy_seconds, busy_known_seconds, energy_joules, records;

-- What analysts read: the same columns and meanings as before.
CREATE VIEW IF NOT EXISTS {{.DB}}.gpu_usage_hourly AS
SELECT hour, provider, region, instance_type, account, gpu_model, team, gpus,
    provisioned_gpu_hours, allocated_gpu_hours, busy_gpu_hours, busy_known_gpu_hours, energy_kwh
FROM {{.DB}}.usage_hourly;

CREATE VIEW IF NOT EXISTS {{.DB}}.gpu_usage_daily AS
SELECT day, provider, region, instance_type, account, gpu_model, team, gpus_peak,
    provisioned_gpu_hours, allocated_gpu_hours, busy_gpu_hours, busy_known_gpu_hours, energy_kwh
FROM {{.DB}}.usage_daily;

-- 0005's definitions, reading the usage_hourly view (no FINAL: it is exact).
CREATE VIEW IF NOT EXISTS {{.DB}}.commitment_usage_hourly AS
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
    FROM {{.DB}}.usage_hourly AS u
    CROSS JOIN {{.DB}}.commitment_scopes AS c
    WHERE u.provider = c.provider
        AND (c.scope_account = '' OR u.account = c.scope_account)
        AND (c.scope_region = '' OR u.region = c.scope_region)
        AND (c.scope_instance_type = '' OR u.instance_type = c.scope_instance_type)
        AND (c.scope_gpu_model = '' OR u.gpu_model = c.scope_gpu_model)
        AND u.hour >= c.term_start AND u.hour < c.term_end
)
GROUP BY commitment_id, hour;

CREATE VIEW IF NOT EXISTS {{.DB}}.commitment_overflow_hourly AS
SELECT c.id AS commitment_id, u.hour AS hour, u.provider AS provider, sum(u.provisioned_gpu_hours) AS gpu_hours
FROM {{.DB}}.usage_hourly AS u
CROSS JOIN {{.DB}}.commitment_scopes AS c
WHERE u.provider != c.provider
    AND (c.scope_gpu_model = '' OR u.gpu_model = c.scope_gpu_model)
    AND u.hour >= c.term_start AND u.hour < c.term_end
GROUP BY commitment_id, hour, provider;
