-- Rebuild whole hours of rollup_hour (the fleet's groups per hour) from rollup_node_hour (schema/README.md,
-- "Rollups"): the hours {{.Hours}}, or every hour there is when Hours is empty (the migration's backfill). Reads one
-- row per node active in those hours. A group's GPUs are the sum of its GPUs per node (a GPU belongs to one node).
-- version is the sum of the node-hours' versions: each only grows, so the sum grows whenever any node-hour changed,
-- and two recomputations that saw the same node-hours write the same row.
INSERT INTO {{.DB}}.rollup_hour (hour, provider, region, instance_type, account, gpu_model, team, gpus,
    provisioned_seconds, allocated_seconds, busy_seconds, busy_known_seconds, energy_joules, records, version)
SELECT hour,
    groupArray(provider), groupArray(region), groupArray(instance_type), groupArray(account), groupArray(gpu_model),
    groupArray(team), groupArray(group_gpus), groupArray(provisioned), groupArray(allocated), groupArray(busy),
    groupArray(busy_known), groupArray(energy), groupArray(group_records), sum(node_versions)
FROM
(
    SELECT hour, provider, region, instance_type, account, gpu_model, team,
        sum(gpus) AS group_gpus,
        sum(provisioned_seconds) AS provisioned,
        sum(allocated_seconds) AS allocated,
        sum(busy_seconds) AS busy,
        sum(busy_known_seconds) AS busy_known,
        sum(energy_joules) AS energy,
        sum(records) AS group_records,
        -- each node-hour's version counted once, on its first group
        sum(if(group_index = 1, version, 0)) AS node_versions
    FROM {{.DB}}.rollup_node_hour FINAL
    ARRAY JOIN provider, region, instance_type, account, gpu_model, team, gpus, provisioned_seconds,
        allocated_seconds, busy_seconds, busy_known_seconds, energy_joules, records, arrayEnumerate(provider) AS group_index
{{- if .Hours}}
    WHERE hour IN ({{.Hours}})
{{- end}}
    GROUP BY hour, provider, region, instance_type, account, gpu_model, team
) AS hour_groups
GROUP BY hour
