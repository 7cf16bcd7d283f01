-- Per commitment and hour in [{{.From}}, {{.To}}) that left something unused (more than {{.Eps}}, below which float
-- sums leave crumbs): committed, used and unused in the commitment's unit. The FOCUS export's unused rows.
SELECT commitment_id, hour, kind, provider, unit, committed, used, unused
FROM {{.DB}}.commitment_hourly
WHERE hour >= {{.From}} AND hour < {{.To}} AND unused > {{.Eps}}
ORDER BY hour, commitment_id
