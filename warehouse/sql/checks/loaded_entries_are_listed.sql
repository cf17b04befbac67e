-- Each loaded entry is a listing of its snapshot.
SELECT d.dump_id, d.entries_loaded, count(l.rank) AS listings
FROM checked_dumps AS d LEFT JOIN listings AS l USING (dump_id)
GROUP BY d.dump_id, d.entries_loaded
HAVING count(l.rank) <> d.entries_loaded;
