-- `report`: the latest capture, the loaded captures and profiles, and the last completed run
SELECT max(captured_at) AS latest, count(*) AS dumps, count(DISTINCT profile_key) AS profiles,
       (SELECT max(finished_at) FROM runs WHERE status = 'completed') AS last_run
FROM profile_snapshots
