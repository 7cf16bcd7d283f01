-- The rate card lines written by the loads {{.Versions}} (numbers: a comma-separated list), in file order. Read by
-- version, not through commitment_rates_current, so a load landing between Current's two reads cannot mismatch them.
SELECT commitment_id, version, instance_type, gpu_model, price_per_gpu_hour
FROM {{.DB}}.commitment_rates FINAL
WHERE version IN ({{.Versions}})
ORDER BY commitment_id, position
