-- Right of first refusal (schema/README.md, "Right of first refusal"): every overflow GPU-hour of the primary's
-- commitments classified once, per hour, provider and GPU model, as leakage (the primary's commitment had room),
-- covered (by the capacity a refusal released to that provider, consumed in the order the requests were asked) or
-- uncovered (ROFR exposure). The report, the alerts, the metrics and the cookbook read rofr_overflow_hourly.

-- The file's primary and capacity requests as of one load (collector/commitment.SyncRequests): one row with
-- request_id '' for the primary (so an empty list of requests is a load too), then one row per request and release
-- (position = the release's index; a request without releases has one row with release_provider ''). version is
-- deterministic, as in 0003: (generation << 32) | the first 32 bits of set_hash. The newest version is the live set.
CREATE TABLE IF NOT EXISTS {{everywhere "rofr_requests"}}
(
    version UInt64,
    set_hash String,
    primary_provider String,
    primary_commitments Array(String),
    no_answer_is_refusal UInt8,
    alert_max_uncovered_gpu_hours_24h Float64,
    request_id String,
    position UInt16,
    asked_at DateTime,
    gpus UInt32,
    gpu_model String,
    instance_type String,
    region String,
    period_start DateTime,
    period_end DateTime,
    status String,
    answered_at DateTime,
    accepted_gpus UInt32,
    released_from DateTime,
    release_provider String,
    release_gpus UInt32
)
ENGINE = {{everywhereEngine "rofr_requests" "ReplacingMergeTree()"}}
ORDER BY (version, request_id, position);

-- Dependents first, so the statements can run again.
DROP TABLE IF EXISTS {{.DB}}.rofr_overflow_hourly{{onCluster}};
DROP TABLE IF EXISTS {{.DB}}.rofr_remaining_hourly{{onCluster}};
DROP TABLE IF EXISTS {{.DB}}.rofr_pool_hourly{{onCluster}};
DROP TABLE IF EXISTS {{.DB}}.rofr_release_hours{{onCluster}};
DROP TABLE IF EXISTS {{.DB}}.rofr_releases_current{{onCluster}};
DROP TABLE IF EXISTS {{.DB}}.rofr_primary_current{{onCluster}};
DROP TABLE IF EXISTS {{.DB}}.rofr_requests_current{{onCluster}};

CREATE VIEW IF NOT EXISTS {{.DB}}.rofr_requests_current{{onCluster}} AS
SELECT *
FROM {{.DB}}.rofr_requests FINAL
WHERE version = (SELECT max(version) FROM {{.DB}}.rofr_requests);

CREATE VIEW IF NOT EXISTS {{.DB}}.rofr_primary_current{{onCluster}} AS
SELECT primary_provider, primary_commitments, no_answer_is_refusal, alert_max_uncovered_gpu_hours_24h
FROM {{.DB}}.rofr_requests_current
WHERE request_id = '';

-- What each refusal released: per request and overflow provider, the GPUs it may run in every hour of
-- [released_from, period_end), for the GPU model asked for.
CREATE VIEW IF NOT EXISTS {{.DB}}.rofr_releases_current{{onCluster}} AS
SELECT request_id, asked_at, gpus, gpu_model, instance_type, region, period_start, period_end, status, answered_at,
    accepted_gpus, released_from, release_provider, release_gpus
FROM {{.DB}}.rofr_requests_current
WHERE request_id != '' AND release_provider != '';

-- Every hour of every release.
CREATE VIEW IF NOT EXISTS {{.DB}}.rofr_release_hours{{onCluster}} AS
SELECT toDateTime(toUInt32(released_from) + 3600 * n) AS hour, release_provider AS provider, gpu_model, request_id,
    asked_at, release_gpus
FROM {{.DB}}.rofr_releases_current
ARRAY JOIN range(toUInt32(greatest(toInt64(toUInt32(period_end)) - toInt64(toUInt32(released_from)), 0) / 3600)) AS n;

-- The overflow the right governs: per hour, provider and GPU model, the GPU-hours no commitment covered
-- (commitment_allocation_hourly) on a provider other than the primary's, during the term of one of the primary's
-- commitments and of its GPU model when it names one. A usage group that is the overflow of two of them counts once.
CREATE VIEW IF NOT EXISTS {{.DB}}.rofr_pool_hourly{{onCluster}} AS
SELECT pool_hour AS hour, pool_provider AS provider, pool_gpu_model AS gpu_model, sum(group_gpu_hours) AS gpu_hours
FROM
(
    SELECT o_hour AS pool_hour, o_provider AS pool_provider, o_gpu_model AS pool_gpu_model,
        any(o_gpu_hours) AS group_gpu_hours
    FROM
    (
        -- Distinct names on both sides (see 0008's commitment_overflow_hourly: 18.16 rebinds shared names).
        SELECT u.o_hour AS o_hour, u.o_provider AS o_provider, u.o_region AS o_region,
            u.o_instance_type AS o_instance_type, u.o_account AS o_account, u.o_gpu_model AS o_gpu_model,
            u.o_team AS o_team, u.o_gpu_hours AS o_gpu_hours, c.p_id AS p_id
        FROM
        (
            SELECT hour AS o_hour, provider AS o_provider, region AS o_region, instance_type AS o_instance_type,
                account AS o_account, gpu_model AS o_gpu_model, team AS o_team, gpu_hours AS o_gpu_hours
            FROM {{.DB}}.commitment_allocation_hourly
            WHERE commitment_id = ''
        ) AS u
        CROSS JOIN
        (
            SELECT id AS p_id, provider AS p_provider, scope_gpu_model AS p_gpu_model, term_start AS p_start,
                term_end AS p_end
            FROM {{.DB}}.commitment_scopes
            WHERE id IN (SELECT arrayJoin(primary_commitments) FROM {{.DB}}.rofr_primary_current)
        ) AS c
        WHERE u.o_provider != c.p_provider
            AND (c.p_gpu_model = '' OR u.o_gpu_model = c.p_gpu_model)
            AND u.o_hour >= c.p_start AND u.o_hour < c.p_end
    ) AS matched
    GROUP BY o_hour, o_provider, o_region, o_instance_type, o_account, o_gpu_model, o_team
) AS pool_groups
GROUP BY pool_hour, pool_provider, pool_gpu_model;

-- Leakage first: in each hour the primary's commitments leaked what commitment_leakage_hourly says (overflow while
-- they had room); that many of the hour's pool GPU-hours are leakage, taken from its rows in the order of provider and
-- GPU model, and no refusal can cover them. remaining is what is left for the refusals.
CREATE VIEW IF NOT EXISTS {{.DB}}.rofr_remaining_hourly{{onCluster}} AS
SELECT hour, r.1 AS provider, r.2 AS gpu_model, r.3 AS gpu_hours, leak_part AS leakage_gpu_hours,
    greatest(r.3 - leak_part, 0) AS remaining
FROM
(
    SELECT hour,
        arraySort(groupArray((provider, gpu_model, gpu_hours, hour_leakage))) AS rows,
        arrayCumSum(arrayMap(x -> x.3, rows)) AS cum,
        -- (no outer column inside the lambda: 18.16 loses it) the hour's leakage rides in each row's tuple
        arrayMap((x, s) -> greatest(least(x.3, x.4 - (s - x.3)), 0), rows, cum) AS leaks
    FROM
    (
        SELECT *
        FROM {{.DB}}.rofr_pool_hourly
        ANY LEFT JOIN
        (
            SELECT hour, sum(leakage_gpu_hours) AS hour_leakage
            FROM {{.DB}}.commitment_leakage_hourly
            WHERE commitment_id IN (SELECT arrayJoin(primary_commitments) FROM {{.DB}}.rofr_primary_current)
            GROUP BY hour
        ) AS leak USING hour
    ) AS with_leakage
    GROUP BY hour
) AS by_hour
ARRAY JOIN rows AS r, leaks AS leak_part;

-- The classification: per hour, provider and GPU model, leakage, then what each release covers (the releases of
-- that provider and GPU model in the order their requests were asked, then by id, each up to its GPUs), then the
-- rest, uncovered. request_id names the release's request on covered rows ('' otherwise).
CREATE VIEW IF NOT EXISTS {{.DB}}.rofr_overflow_hourly{{onCluster}} AS
SELECT hour, provider, gpu_model, part.1 AS class, part.2 AS request_id, part.3 AS gpu_hours
FROM
(
    SELECT hour, provider, gpu_model, any(leakage_gpu_hours) AS leakage, any(remaining) AS rest,
        arraySort(groupArray((asked_at, request_id, toFloat64(release_gpus), remaining))) AS releases,
        arrayCumSum(arrayMap(x -> x.3, releases)) AS cum,
        arrayMap((x, s) -> greatest(least(x.3, x.4 - (s - x.3)), 0), releases, cum) AS used
    FROM
    (
        SELECT *
        FROM {{.DB}}.rofr_remaining_hourly
        ALL LEFT JOIN {{.DB}}.rofr_release_hours AS releases_of_hour USING (hour, provider, gpu_model)
    ) AS with_releases
    GROUP BY hour, provider, gpu_model
) AS classified
ARRAY JOIN arrayConcat([('leakage', '', leakage)], arrayMap((x, u) -> ('covered', x.2, u), releases, used),
    [('uncovered', '', greatest(rest - arraySum(used), 0))]) AS part
WHERE part.3 > 1e-12;
