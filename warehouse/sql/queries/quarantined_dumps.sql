-- `status`, `report`: quarantined dumps with their reasons, the open ones first, then the latest
-- ingested first. `replaced_by` names the file of a dump of the same profile and capture time
-- loaded (or partial) in a later run: the file fixed as its reason says, say.
SELECT q.source_path, r.source_path AS replaced_by, q.reason
FROM dumps AS q
LEFT JOIN LATERAL (
    SELECT d.source_path
    FROM dumps AS d
    WHERE d.status <> 'quarantined' AND d.ingested_at > q.ingested_at
      AND d.profile_key = q.profile_key AND d.captured_at = q.captured_at
    ORDER BY d.ingested_at, d.dump_id
    LIMIT 1
) AS r ON true
WHERE q.status = 'quarantined'
ORDER BY r.source_path IS NOT NULL, q.ingested_at DESC, q.source_path
