-- The prices written by the loads {{.Versions}} (numbers: a comma-separated list), in the file's order. Read by
-- version, like the rate cards, so a load landing between Current's reads cannot mismatch them.
SELECT commitment_id, version, provider, instance_type, gpu_model, price_per_gpu_hour, currency
FROM {{.DB}}.price_cards FINAL
WHERE version IN ({{.Versions}})
ORDER BY version, commitment_id, position
