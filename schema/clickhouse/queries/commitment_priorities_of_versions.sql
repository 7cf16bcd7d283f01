-- The priorities written by the loads {{.Versions}} (numbers: a comma-separated list). Read by version, like the rate
-- cards, so a load landing between Current's reads cannot mismatch them.
SELECT commitment_id, version, priority
FROM {{.DB}}.commitment_priorities FINAL
WHERE version IN ({{.Versions}})
