-- Rollups that always equal the deduplicated raw data, rebuilt per node-hour (schema/README.md, "Rollups"). They
-- replace 0004's usage_hourly/usage_daily tables, whose ReplacingMergeTree(records) kept a group forever once its
-- records moved to another group (a record resent with another team counted twice), and whose recomputation read the
-- whole fleet's hour on every batch.
--
-- Three levels, each row holding every group of its period as parallel arrays, so that a recomputation replaces all
-- of a period's groups at once and a group that vanished vanishes:
--   rollup_node_hour: one row per (hour, node), from usage_raw FINAL (queries/rollup_node_hours.sql);
--   rollup_hour: one row per hour for the fleet, from rollup_node_hour (queries/rollup_hours.sql);
--   rollup_day: one row per day for the fleet, from rollup_hour (queries/rollup_days.sql).
-- Versions are deterministic and grow with what a recomputation saw (the queries say how), so the newest wins under
-- ReplacingMergeTree(version), and two collectors recomputing the same period at once write the same row.
-- Measures are kept in their raw units (seconds, joules); the views convert them to GPU-hours and kWh.
CREATE TABLE IF NOT EXISTS {{.DB}}.rollup_node_hour
(
    hour DateTime,
    node String,
    provider Array({{lc "String"}}),
    region Array({{lc "String"}}),
    instance_type Array({{lc "String"}}),
    account Array({{lc "String"}}),
    gpu_model Array({{lc "String"}}),
    team Array({{lc "String"}}),
    gpus Array(UInt64),
    provisioned_seconds Array(Float64),
    allocated_seconds Array(Float64),
    busy_seconds Array(Float64),
    busy_known_seconds Array(Float64),
    energy_joules Array(Float64),
    records Array(UInt64),
    version UInt64
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(hour)
ORDER BY (hour, node);

CREATE TABLE IF NOT EXISTS {{.DB}}.rollup_hour
(
    hour DateTime,
    provider Array({{lc "String"}}),
    region Array({{lc "String"}}),
    instance_type Array({{lc "String"}}),
    account Array({{lc "String"}}),
    gpu_model Array({{lc "String"}}),
    team Array({{lc "String"}}),
    gpus Array(UInt64),
    provisioned_seconds Array(Float64),
    allocated_seconds Array(Float64),
    busy_seconds Array(Float64),
    busy_known_seconds Array(Float64),
    energy_joules Array(Float64),
    records Array(UInt64),
    version UInt64
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(hour)
ORDER BY hour;

CREATE TABLE IF NOT EXISTS {{.DB}}.rollup_day
(
    day Date,
    provider Array({{lc "String"}}),
    region Array({{lc "String"}}),
    instance_type Array({{lc "String"}}),
    account Array({{lc "String"}}),
    gpu_model Array({{lc "String"}}),
    team Array({{lc "String"}}),
    gpus_peak Array(UInt64),
    provisioned_seconds Array(Float64),
    allocated_seconds Array(Float64),
    busy_seconds Array(Float64),
    busy_known_seconds Array(Float64),
    energy_joules Array(Float64),
    records Array(UInt64),
    version UInt64
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(day)
ORDER BY day;

-- Backfill an upgraded database from its raw data, level by level (each statement reads all of the level below once).
-- Running them again writes the same rows; a collector recomputing at the same time writes a higher or equal version.
-- idempotent: the same raw data gives the same rows and version
{{backfill "rollup_node_hours" .DB}};

-- idempotent: the same node-hours give the same rows and version
{{backfill "rollup_hours" .DB}};

-- idempotent: the same hours give the same rows and version
{{backfill "rollup_days" .DB}};

-- Hours and days the old rollups hold but raw data no longer does (raw rows expired by --raw-retention-days): kept
-- as the old rollups had them, with version 0. usage_hourly and usage_daily are read without FINAL (by each group's
-- highest record count, which is what FINAL kept), because after this migration they are views: run again, these
-- statements find every hour and day already present and insert nothing.
-- idempotent: only hours rollup_hour lacks
INSERT INTO {{.DB}}.rollup_hour (hour, provider, region, instance_type, account, gpu_model, team, gpus,
    provisioned_seconds, allocated_seconds, busy_seconds, busy_known_seconds, energy_joules, records, version)
SELECT hour, groupArray(provider), groupArray(region), groupArray(instance_type), groupArray(account),
    groupArray(gpu_model), groupArray(team), groupArray(group_gpus), groupArray(provisioned), groupArray(allocated),
    groupArray(busy), groupArray(busy_known), groupArray(energy), groupArray(group_records), toUInt64(0)
FROM
(
    SELECT hour, provider, region, instance_type, account, gpu_model, team,
        argMax(gpus, records) AS group_gpus,
        argMax(provisioned_gpu_hours, records) * 3600 AS provisioned,
        argMax(allocated_gpu_hours, records) * 3600 AS allocated,
        argMax(busy_gpu_hours, records) * 3600 AS busy,
        argMax(busy_known_gpu_hours, records) * 3600 AS busy_known,
        argMax(energy_kwh, records) * 3600000 AS energy,
        max(records) AS group_records
    FROM {{.DB}}.usage_hourly
    WHERE hour NOT IN (SELECT hour FROM {{.DB}}.rollup_hour)
    GROUP BY hour, provider, region, instance_type, account, gpu_model, team
) AS legacy_hours
GROUP BY hour;

-- idempotent: only days rollup_day lacks
INSERT INTO {{.DB}}.rollup_day (day, provider, region, instance_type, account, gpu_model, team, gpus_peak,
    provisioned_seconds, allocated_seconds, busy_seconds, busy_known_seconds, energy_joules, records, version)
SELECT day, groupArray(provider), groupArray(region), groupArray(instance_type), groupArray(account),
    groupArray(gpu_model), groupArray(team), groupArray(group_gpus_peak), groupArray(provisioned),
    groupArray(allocated), groupArray(busy), groupArray(busy_known), groupArray(energy), groupArray(group_records),
    toUInt64(0)
FROM
(
    SELECT day, provider, region, instance_type, account, gpu_model, team,
        argMax(gpus_peak, records) AS group_gpus_peak,
        argMax(provisioned_gpu_hours, records) * 3600 AS provisioned,
        argMax(allocated_gpu_hours, records) * 3600 AS allocated,
        argMax(busy_gpu_hours, records) * 3600 AS busy,
        argMax(busy_known_gpu_hours, records) * 3600 AS busy_known,
        argMax(energy_kwh, records) * 3600000 AS energy,
        max(records) AS group_records
    FROM {{.DB}}.usage_daily
    WHERE day NOT IN (SELECT day FROM {{.DB}}.rollup_day)
    GROUP BY day, provider, region, instance_type, account, gpu_model, team
) AS legacy_days
GROUP BY day;
