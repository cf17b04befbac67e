-- Pairs of visible co-authors with the number of papers they share, over every paper of the warehouse (per profile: profile_coauthors).
-- @author_id_a: first author of the pair (the smaller author_id)
-- @author_a: name of the first author
-- @author_id_b: second author of the pair
-- @author_b: name of the second author
-- @shared_papers: papers on which both appear among the visible authors
CREATE OR REPLACE VIEW coauthors AS
SELECT s.author_id_a, a.name AS author_a, s.author_id_b, b.name AS author_b,
       count(DISTINCT s.paper_id) AS shared_papers
FROM staging.stg_coauthor_pairs AS s
JOIN authors AS a ON a.author_id = s.author_id_a
JOIN authors AS b ON b.author_id = s.author_id_b
GROUP BY ALL;
