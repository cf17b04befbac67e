-- No run is left unfinished.
SELECT run_id, status, finished_at FROM runs WHERE status NOT IN ('completed', 'failed') OR finished_at IS NULL;
