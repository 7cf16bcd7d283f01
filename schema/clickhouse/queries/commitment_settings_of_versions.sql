-- The settings (priority, exhaustion alert threshold) written by the loads {{.Versions}} (numbers: a comma-separated list). Read by version, like the rate
-- cards, so a load landing between Current's reads cannot mismatch them.
SELECT commitment_id, version, priority, alert_exhaustion_days
FROM {{.DB}}.commitment_settings FINAL
WHERE version IN ({{.Versions}})
