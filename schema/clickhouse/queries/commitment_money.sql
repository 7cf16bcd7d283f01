-- Per commitment, the money figures as of {{.At}} over the complete hours of the term before it (schema/README.md,
-- "Money"), as commitment_figures.sql computes them beside the other figures: overflow_cost and leakage_cost (to date
-- and over the last 24 hours) at the on-demand price cards, in money_currency; unused_value, the shortfall to date as
-- money, in unused_value_currency. Used by the commitment_money_status view (At = now()).
SELECT commitment_id, kind, unit, committed_price, money_currency, overflow_cost, leakage_cost, leakage_24h_cost,
    unused_value, unused_value_currency
FROM ({{template "commitment_figures.sql" .}}) AS figures
