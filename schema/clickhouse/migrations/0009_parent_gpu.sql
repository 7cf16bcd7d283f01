-- MIG instances carry their physical GPU's UUID (record field parent_gpu_uuid, optional in schema v1; '' for a whole
-- GPU and for records of older agents). The analysts' view gains the column; names only grow. 18.16 has no
-- ADD COLUMN IF NOT EXISTS: there the plain form is rendered and "already exists" counts as applied (collector/store).
{{if .AddColumnIfNotExists -}}
{{alter "usage_raw" "cityHash64(node)" "ADD COLUMN IF NOT EXISTS parent_gpu_uuid String DEFAULT '' AFTER mig_profile"}}
{{- else -}}
{{alter "usage_raw" "cityHash64(node)" "ADD COLUMN parent_gpu_uuid String DEFAULT '' AFTER mig_profile"}}
{{- end}}
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
    samples,
    parent_gpu_uuid
FROM {{.DB}}.usage_raw FINAL;
