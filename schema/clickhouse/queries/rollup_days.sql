-- Rebuild whole days of rollup_day from rollup_hour (schema/README.md, "Rollups"): the days {{.Days}} in
-- [{{.From}}, {{.To}}), or every day there is when Days is empty (the migration's backfill). Reads at most 24 rows per
-- day. A group's gpus_peak is its highest GPU count in any hour of the day; version is the sum of the hours' versions.
INSERT INTO {{.DB}}.rollup_day (day, provider, region, instance_type, account, gpu_model, team, gpus_peak,
    provisioned_seconds, allocated_seconds, busy_seconds, busy_known_seconds, energy_joules, records, version)
SELECT day,
    groupArray(provider), groupArray(region), groupArray(instance_type), groupArray(account), groupArray(gpu_model),
    groupArray(team), groupArray(group_gpus_peak), groupArray(provisioned), groupArray(allocated), groupArray(busy),
    groupArray(busy_known), groupArray(energy), groupArray(group_records), sum(hour_versions)
FROM
(
    SELECT toDate(hour) AS day, provider, region, instance_type, account, gpu_model, team,
        max(gpus) AS group_gpus_peak,
        sum(provisioned_seconds) AS provisioned,
        sum(allocated_seconds) AS allocated,
        sum(busy_seconds) AS busy,
        sum(busy_known_seconds) AS busy_known,
        sum(energy_joules) AS energy,
        sum(records) AS group_records,
        -- each hour's version counted once, on its first group
        sum(if(group_index = 1, version, 0)) AS hour_versions
    FROM {{.DB}}.rollup_hour FINAL
    ARRAY JOIN provider, region, instance_type, account, gpu_model, team, gpus, provisioned_seconds,
        allocated_seconds, busy_seconds, busy_known_seconds, energy_joules, records, arrayEnumerate(provider) AS group_index
{{- if .Days}}
    WHERE hour >= {{.From}} AND hour < {{.To}} AND toDate(hour) IN ({{.Days}})
{{- end}}
    GROUP BY day, provider, region, instance_type, account, gpu_model, team
) AS day_groups
GROUP BY day
