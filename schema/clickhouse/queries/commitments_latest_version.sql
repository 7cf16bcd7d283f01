-- The highest version any load wrote into commitments (0 when none): Sync's next load takes the generation above it.
SELECT max(version) FROM {{.DB}}.commitments
