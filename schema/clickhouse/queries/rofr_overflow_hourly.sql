-- The ROFR classification (migration 0011, schema/README.md "Right of first refusal") for the hours in
-- [{{.From}}, {{.To}}): per hour, provider, GPU model, class (leakage, covered, uncovered) and, when covered, the
-- request whose release covers it. The report, the evaluator and their figures read it (collector/figures).
SELECT hour, provider, gpu_model, class, request_id, gpu_hours
FROM {{.DB}}.rofr_overflow_hourly
WHERE hour >= {{.From}} AND hour < {{.To}}
ORDER BY hour, provider, gpu_model, class, request_id
