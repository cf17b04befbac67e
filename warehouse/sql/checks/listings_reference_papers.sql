-- Each listing points at a known paper and snapshot.
SELECT l.dump_id, l.rank, l.paper_id
FROM checked_listings AS l
LEFT JOIN papers AS p USING (paper_id)
LEFT JOIN profile_snapshots AS s USING (dump_id)
WHERE p.paper_id IS NULL OR s.dump_id IS NULL;
