-- The highest version of rofr_requests and the set hash of that load ('' and 0 when none): SyncRequests writes
-- nothing when the hash is the file's, and takes the generation above the version otherwise.
SELECT max(version) AS top, argMax(set_hash, version) AS hash
FROM {{.DB}}.rofr_requests
