-- Per author: papers on which they are a visible author, first and last publication year, and
-- how many profiles list those papers.
-- @author_id: author
-- @name: author name
-- @papers: papers with the author among the visible authors
-- @first_year: earliest publication year of those papers
-- @last_year: latest publication year of those papers
-- @profiles: distinct profiles listing at least one of those papers
CREATE OR REPLACE VIEW author_activity AS
SELECT
    a.author_id, a.name,
    count(DISTINCT pa.paper_id) AS papers,
    min(year(p.published_on)) AS first_year,
    max(year(p.published_on)) AS last_year,
    count(DISTINCT l.profile_key) AS profiles
FROM authors AS a
JOIN paper_authors AS pa USING (author_id)
JOIN papers AS p USING (paper_id)
LEFT JOIN listings AS l USING (paper_id)
GROUP BY ALL;
