-- Each paper-author row points at a known paper and author, with gapless positions.
WITH authors_per_paper AS (SELECT paper_id, count(*) AS n FROM checked_paper_authors GROUP BY paper_id)
SELECT pa.paper_id, pa.position, pa.author_id
FROM checked_paper_authors AS pa
JOIN authors_per_paper AS c USING (paper_id)
LEFT JOIN papers AS p USING (paper_id)
LEFT JOIN authors AS a USING (author_id)
WHERE p.paper_id IS NULL OR a.author_id IS NULL OR pa.position > c.n;
