-- Each dump names a run of the runs history.
SELECT d.dump_id, d.run_id
FROM checked_dumps AS d
WHERE NOT EXISTS (SELECT 1 FROM runs AS r WHERE r.run_id = d.run_id);
