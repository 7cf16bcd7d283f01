-- Rebuild whole node-hours of rollup_node_hour from deduplicated raw data (schema/README.md, "Rollups"): the nodes
-- in {{.Nodes}} (a table or a parenthesised list) in the hour [{{.From}}, {{.To}}), or every node-hour there is when
-- Nodes is empty (the migration's backfill). The filter is on usage_raw's sorting key (interval_start, node), so only the parts of the index that hold
-- those nodes in that hour are read, and it is applied after FINAL (never PREWHERE). All groups of a node-hour go
-- into one row, so a group that vanished from the raw data (its records now carry another team) vanishes here.
-- version is the highest block number of the raw parts read: every INSERT into usage_raw gets a block number higher
-- than any part that exists, and merges keep the highest, so a recomputation that saw newer raw data has a higher
-- version, and two that saw the same data write the same row (deterministic, never now()).
INSERT INTO {{.DB}}.rollup_node_hour (hour, node, provider, region, instance_type, account, gpu_model, team, gpus,
    provisioned_seconds, allocated_seconds, busy_seconds, busy_known_seconds, energy_joules, records, version)
SELECT hour, node,
    groupArray(provider), groupArray(region), groupArray(instance_type), groupArray(account), groupArray(gpu_model),
    groupArray(team), groupArray(group_gpus), groupArray(provisioned), groupArray(allocated), groupArray(busy),
    groupArray(busy_known), groupArray(energy), groupArray(group_records), max(block)
FROM
(
    SELECT toStartOfHour(interval_start) AS hour, node, provider, region, instance_type, account, gpu_model, team,
        uniqExact(gpu_uuid) AS group_gpus,
        sum(provisioned_seconds) AS provisioned,
        sum(allocated_seconds) AS allocated,
        sum(ifNull(busy_seconds, 0)) AS busy,
        sum(if(isNull(busy_seconds), 0, provisioned_seconds)) AS busy_known,
        sum(ifNull(energy_joules, 0)) AS energy,
        count() AS group_records,
        max(toUInt64(splitByChar('_', _part)[3])) AS block
    FROM {{.DB}}.usage_raw FINAL
{{- if .Nodes}}
    WHERE interval_start >= {{.From}} AND interval_start < {{.To}} AND node IN {{.Nodes}}
{{- end}}
    GROUP BY hour, node, provider, region, instance_type, account, gpu_model, team
) AS node_groups
GROUP BY hour, node
{{- if not .Nodes}}
-- the backfill groups all of history: let it spill to disk rather than fail on memory
SETTINGS max_bytes_before_external_group_by = 4000000000
{{- end}}
