-- A quarantined dump has a reason, a rejects row, and no snapshot.
SELECT d.dump_id, d.reason
FROM checked_dumps AS d
WHERE d.status = 'quarantined'
  AND (d.reason IS NULL
       OR NOT EXISTS (SELECT 1 FROM rejects AS r WHERE r.dump_id = d.dump_id)
       OR EXISTS (SELECT 1 FROM profile_snapshots AS s WHERE s.dump_id = d.dump_id));
