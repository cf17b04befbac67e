-- `report`: what a profile's latest capture changed, from the new_papers mart
SELECT change, title FROM new_papers WHERE profile_key = $profile_key AND dump_id = $dump_id ORDER BY change, title
