-- Every paper a profile has listed in any snapshot, with the paper's attributes.
-- @profile_key: profile that listed the paper
-- @paper_id: paper listed
-- @year: publication year of the paper
-- @category: category code of the paper
-- @has_code_badge: the paper's Code badge (latest capture)
-- @has_code_link: true when the abstract names a code link (latest capture)
CREATE OR REPLACE VIEW staging.stg_profile_papers AS
SELECT DISTINCT
    l.profile_key,
    p.paper_id,
    year(p.published_on) AS year,
    p.category,
    p.has_code_badge,
    p.code_url IS NOT NULL AS has_code_link
FROM main.listings AS l
JOIN main.papers AS p USING (paper_id);
