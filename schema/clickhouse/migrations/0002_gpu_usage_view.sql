-- The analysts' contract (docs/design.md): one deduplicated row per record. Names and meanings only grow; a breaking change
-- gets a new view name. FINAL makes the view exact before background merges have collapsed duplicates.
DROP TABLE IF EXISTS {{.DB}}.gpu_usage{{onCluster}};
CREATE VIEW IF NOT EXISTS {{.DB}}.gpu_usage{{onCluster}} AS
SELECT
    interval_start, interval_end, window_start, window_end,
    provider, region, zone, instance_type, account, node,
    gpu_uuid, gpu_index, gpu_model, mig_profile,
    namespace, pod, team,
    provisioned_seconds, allocated_seconds, busy_seconds,
    energy_joules, power_avg_watts,
    memory_used_avg_bytes, memory_used_max_bytes, memory_total_bytes,
    samples
FROM {{.DB}}.usage_raw FINAL;
