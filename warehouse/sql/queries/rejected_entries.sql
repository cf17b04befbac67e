-- `status` and `report`: the rejected entries and header lines of dumps that loaded (a quarantined
-- dump's reject is its reason), by file and line
SELECT d.source_path, r.line_no, r.raw_text, r.reason
FROM rejects AS r
JOIN dumps AS d USING (dump_id)
WHERE d.status <> 'quarantined'
ORDER BY d.source_path, r.line_no
