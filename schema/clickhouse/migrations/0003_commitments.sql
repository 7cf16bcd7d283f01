-- Commitments (docs/design.md "Commitments"), kept equal to the --commitments file by collector/commitment.Sync. The tables
-- hold tens of rows, so they use plain String columns (dictionary encoding buys nothing) and read with FINAL.
--
-- One row per commitment id and load. A load writes every commitment of the file, plus a row with deleted = 1 for each
-- id that is live in the table but no longer in the file, all in one INSERT and all with the same version. version is
-- deterministic (docs/design.md: never now()): (generation << 32) | the first 32 bits of set_hash, where generation is one
-- more than the highest stored, and set_hash is the SHA-256 of the loaded commitments in canonical form. Two
-- collectors loading the same file at once write identical rows that collapse; ReplacingMergeTree(version) keeps the
-- newest load of each id. Scope fields that are empty match anything. Labels are two parallel arrays (no Map on 18.16).
CREATE TABLE IF NOT EXISTS {{everywhere "commitments"}}
(
    id String,
    name String,
    provider String,
    scope_account String,
    scope_region String,
    scope_instance_type String,
    scope_gpu_model String,
    kind String,
    quantity Float64,
    unit String,
    currency String,
    term_start DateTime,
    term_end DateTime,
    team String,
    label_keys Array(String),
    label_values Array(String),
    alert_projected_shortfall_pct Float64,
    alert_min_utilization_pct Float64,
    alert_max_leakage_gpu_hours_24h Float64,
    deleted UInt8,
    set_hash String,
    version UInt64
)
ENGINE = {{everywhereEngine "commitments" "ReplacingMergeTree(version)"}}
ORDER BY id;

-- A spend commitment's rate card as of one load: the lines belong to the commitments row with the same id and version,
-- so a line dropped from the file is simply absent from the newer version. Identical concurrent loads collapse.
CREATE TABLE IF NOT EXISTS {{everywhere "commitment_rates"}}
(
    commitment_id String,
    version UInt64,
    position UInt16,
    instance_type String,
    gpu_model String,
    price_per_gpu_hour Float64
)
ENGINE = {{everywhereEngine "commitment_rates" "ReplacingMergeTree()"}}
ORDER BY (commitment_id, version, position);

-- The views are dropped dependent first, then created, so the statements can run again.
DROP TABLE IF EXISTS {{.DB}}.commitment_rates_current{{onCluster}};
DROP TABLE IF EXISTS {{.DB}}.commitments_current{{onCluster}};

-- What reports and alerts read: the live commitments, one row each. WHERE is applied after FINAL, so a tombstone
-- hides the row it replaced. Never write it as PREWHERE: that filters before FINAL and resurrects deleted commitments
-- (checked on 18.16; modern servers do not move conditions to PREWHERE under FINAL either).
CREATE VIEW IF NOT EXISTS {{.DB}}.commitments_current{{onCluster}} AS
SELECT
    id, name, provider,
    scope_account, scope_region, scope_instance_type, scope_gpu_model,
    kind, quantity, unit, currency, term_start, term_end, team, label_keys, label_values,
    alert_projected_shortfall_pct, alert_min_utilization_pct, alert_max_leakage_gpu_hours_24h,
    set_hash, version
FROM {{.DB}}.commitments FINAL
WHERE deleted = 0;

-- The rate cards of the live commitments.
CREATE VIEW IF NOT EXISTS {{.DB}}.commitment_rates_current{{onCluster}} AS
SELECT commitment_id, position, instance_type, gpu_model, price_per_gpu_hour
FROM {{.DB}}.commitment_rates FINAL
WHERE (commitment_id, version) IN (SELECT id, version FROM {{.DB}}.commitments_current);
