-- Each profile's snapshot count and capture range agree with its snapshots.
SELECT p.profile_key, p.snapshots, count(s.dump_id) AS snapshot_rows
FROM profiles AS p LEFT JOIN profile_snapshots AS s USING (profile_key)
GROUP BY p.profile_key, p.snapshots, p.first_captured_at, p.last_captured_at
HAVING p.snapshots <> count(s.dump_id) OR p.first_captured_at <> min(s.captured_at)
    OR p.last_captured_at <> max(s.captured_at);
