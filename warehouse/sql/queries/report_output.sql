-- `report`: a profile's papers per publication year and category
SELECT year, category, papers FROM papers_per_year WHERE profile_key = $profile_key AND year IS NOT NULL
