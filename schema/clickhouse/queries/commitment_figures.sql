-- Every current commitment's figures as of {{.At}} (commitment_status.sql), ordered by commitment: what the report,
-- the evaluator and the metrics read (collector/figures).
{{template "commitment_status.sql" .}}
ORDER BY commitment_id
