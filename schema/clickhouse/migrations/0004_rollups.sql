-- Hourly and daily rollups. Never fed by materialized views: a view fires per INSERT and would count a duplicate
-- forever. The collector recomputes the hours (and days) that a batch touched from the deduplicated raw data
-- (queries/rollup_hourly.sql, queries/rollup_daily.sql). The version column `records` counts the distinct records
-- behind a row: a recomputation that saw more data (late records) has a higher version and wins; one that saw the
-- same data writes the same row. Deterministic, never now().
CREATE TABLE IF NOT EXISTS {{table "usage_hourly"}}
(
    hour DateTime,
    provider {{lc "String"}},
    region {{lc "String"}},
    instance_type {{lc "String"}},
    account {{lc "String"}},
    gpu_model {{lc "String"}},
    team {{lc "String"}},
    gpus UInt64,
    provisioned_gpu_hours Float64,
    allocated_gpu_hours Float64,
    busy_gpu_hours Float64,
    busy_known_gpu_hours Float64,
    energy_kwh Float64,
    records UInt64
)
ENGINE = {{engine "usage_hourly" "ReplacingMergeTree(records)"}}
PARTITION BY toYYYYMM(hour)
ORDER BY (hour, provider, region, instance_type, account, gpu_model, team);
{{distributed "usage_hourly" "cityHash64(hour)"}}

CREATE TABLE IF NOT EXISTS {{table "usage_daily"}}
(
    day Date,
    provider {{lc "String"}},
    region {{lc "String"}},
    instance_type {{lc "String"}},
    account {{lc "String"}},
    gpu_model {{lc "String"}},
    team {{lc "String"}},
    gpus_peak UInt64,
    provisioned_gpu_hours Float64,
    allocated_gpu_hours Float64,
    busy_gpu_hours Float64,
    busy_known_gpu_hours Float64,
    energy_kwh Float64,
    records UInt64
)
ENGINE = {{engine "usage_daily" "ReplacingMergeTree(records)"}}
PARTITION BY toYYYYMM(day)
ORDER BY (day, provider, region, instance_type, account, gpu_model, team);
{{distributed "usage_daily" "cityHash64(day)"}}

-- What analysts read: the rollups without superseded versions.
DROP TABLE IF EXISTS {{.DB}}.gpu_usage_hourly{{onCluster}};
CREATE VIEW IF NOT EXISTS {{.DB}}.gpu_usage_hourly{{onCluster}} AS
SELECT hour, provider, region, instance_type, account, gpu_model, team, gpus,
    provisioned_gpu_hours, allocated_gpu_hours, busy_gpu_hours, busy_known_gpu_hours, energy_kwh
FROM {{.DB}}.usage_hourly FINAL;

DROP TABLE IF EXISTS {{.DB}}.gpu_usage_daily{{onCluster}};
CREATE VIEW IF NOT EXISTS {{.DB}}.gpu_usage_daily{{onCluster}} AS
SELECT day, provider, region, instance_type, account, gpu_model, team, gpus_peak,
    provisioned_gpu_hours, allocated_gpu_hours, busy_gpu_hours, busy_known_gpu_hours, energy_kwh
FROM {{.DB}}.usage_daily FINAL;
