-- Each paper-author row points at a known paper and author, with gapless positions.
SELECT pa.paper_id, pa.position, pa.author_id
FROM paper_authors AS pa
LEFT JOIN papers AS p USING (paper_id)
LEFT JOIN authors AS a USING (author_id)
WHERE p.paper_id IS NULL OR a.author_id IS NULL
   OR pa.position > (SELECT count(*) FROM paper_authors AS x WHERE x.paper_id = pa.paper_id);
