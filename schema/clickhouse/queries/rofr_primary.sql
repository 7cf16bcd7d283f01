-- The live primary (migration 0011): the provider holding the right of first refusal, its commitments and the
-- GPUCommitmentROFRExposure threshold. No row when the file declares none.
SELECT primary_provider, primary_commitments, no_answer_is_refusal, alert_max_uncovered_gpu_hours_24h
FROM {{.DB}}.rofr_primary_current
