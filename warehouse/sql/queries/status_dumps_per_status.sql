-- `status`: dumps per status, with their entries loaded and rejected
SELECT status, count(*) AS dumps, sum(entries_loaded) AS entries_loaded, sum(entries_rejected) AS entries_rejected
FROM dumps
GROUP BY status
ORDER BY status
