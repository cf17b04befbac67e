-- `report`: a profile's citations and h-index at each capture
SELECT captured_at, citations, h_index FROM profile_growth WHERE profile_key = $profile_key ORDER BY snapshot_no
