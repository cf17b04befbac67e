-- Each rejected entry has its rejects row (with text), and no more.
SELECT d.dump_id, d.entries_rejected, count(r.entry_index) AS reject_rows
FROM checked_dumps AS d LEFT JOIN rejects AS r ON r.dump_id = d.dump_id AND r.entry_index IS NOT NULL
GROUP BY d.dump_id, d.entries_rejected
HAVING count(r.entry_index) <> d.entries_rejected;
