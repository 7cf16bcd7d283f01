-- Raw usage, one row per record as it arrived. Duplicates (agent resend, collector redelivery, producer retry) share
-- the sorting key, which is the record's identity, so ReplacingMergeTree collapses them; readers use FINAL (the
-- gpu_usage view does) so numbers are deduplicated even before a merge. interval_start is a function of window_start,
-- so leading with it keeps the identity while letting time-range queries skip parts.
CREATE TABLE IF NOT EXISTS {{table "usage_raw"}}
(
    interval_start DateTime,
    interval_end DateTime,
    window_start DateTime,
    window_end DateTime,
    provider {{lc "String"}},
    region {{lc "String"}},
    zone {{lc "String"}},
    instance_type {{lc "String"}},
    account {{lc "String"}},
    node String,
    gpu_uuid String,
    gpu_index UInt16,
    gpu_model {{lc "String"}},
    mig_profile {{lc "String"}},
    namespace String,
    pod String,
    team {{lc "String"}},
    provisioned_seconds Float64,
    allocated_seconds Float64,
    busy_seconds Nullable(Float64),
    memory_used_avg_bytes Float64,
    memory_used_max_bytes UInt64,
    memory_total_bytes UInt64,
    energy_joules Nullable(Float64),
    power_avg_watts Nullable(Float64),
    samples UInt32,
    schema_version UInt8,
    kafka_topic {{lc "String"}},
    kafka_partition Int32,
    kafka_offset Int64
)
ENGINE = {{engine "usage_raw" "ReplacingMergeTree()"}}
PARTITION BY toYYYYMM(interval_start)
ORDER BY (interval_start, node, gpu_uuid, namespace, pod, window_start)
{{- if .TTL}}
TTL interval_start + INTERVAL {{.RawRetentionDays}} DAY
{{- end}}
;
-- On a cluster, rows go to their node's shard, so a record and its duplicates meet there (schema/README.md, "Clusters").
{{distributed "usage_raw" "cityHash64(node)"}}
