-- Per profile, publication year and category: the distinct papers the profile has listed.
-- @profile_key: profile
-- @year: publication year
-- @category: category code
-- @papers: distinct papers of that year and category listed by the profile in any snapshot
CREATE OR REPLACE VIEW papers_per_year AS
SELECT profile_key, year, category, count(*) AS papers
FROM staging.stg_profile_papers
GROUP BY ALL;
