-- Each snapshot comes from a dump that was read (loaded or partial), under the same profile.
SELECT s.dump_id, s.profile_key, d.status, d.profile_key AS dump_profile_key
FROM profile_snapshots AS s LEFT JOIN dumps AS d USING (dump_id)
WHERE d.dump_id IS NULL OR d.status = 'quarantined' OR d.profile_key <> s.profile_key;
