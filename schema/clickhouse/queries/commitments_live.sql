-- The live commitments (the latest load, deleted ones left out), ordered by id, with the load that wrote each
-- (collector/commitment Sync and Current). The column list is shared with insert_commitments.sql.
{{define "commitment_columns"}}id, name, provider, scope_account, scope_region, scope_instance_type, scope_gpu_model,
    kind, quantity, unit, currency, term_start, term_end, team, label_keys, label_values,
    alert_projected_shortfall_pct, alert_min_utilization_pct, alert_max_leakage_gpu_hours_24h{{end -}}
SELECT {{template "commitment_columns"}}, set_hash, version
FROM {{.DB}}.commitments_current
ORDER BY id
