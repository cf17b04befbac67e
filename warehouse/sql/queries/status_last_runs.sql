-- `status`: the last five runs, newest first
SELECT run_id, status, started_at, finished_at, dumps_seen, dumps_new, dumps_loaded, dumps_partial, dumps_quarantined
FROM runs
ORDER BY started_at DESC
LIMIT 5
