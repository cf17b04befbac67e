-- Each paper is listed by some snapshot, and its first/last seen times match those listings.
SELECT p.paper_id, p.first_seen_at, p.last_seen_at, min(l.captured_at) AS first_listed, max(l.captured_at) AS last_listed
FROM checked_papers AS p LEFT JOIN listings AS l USING (paper_id)
GROUP BY p.paper_id, p.first_seen_at, p.last_seen_at
HAVING count(l.rank) = 0 OR p.first_seen_at <> min(l.captured_at) OR p.last_seen_at <> max(l.captured_at);
