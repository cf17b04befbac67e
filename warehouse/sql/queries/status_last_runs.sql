-- `status`: the last five runs, newest first, in commit order as `history` lists them: by the lake
-- versions each recorded (they only grow), then by start (which a host clock set back turns round)
SELECT run_id, status, started_at, finished_at, dumps_seen, dumps_new, dumps_loaded, dumps_partial, dumps_quarantined
FROM runs
ORDER BY list_sum(map_values(CAST(CAST(lake_versions AS JSON) AS MAP(VARCHAR, BIGINT)))) DESC NULLS LAST,
    started_at DESC, run_id DESC
LIMIT 5
