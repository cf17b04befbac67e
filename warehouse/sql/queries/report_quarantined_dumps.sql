-- `report`: quarantined dumps with their reasons, by file; `loaded_since` names the file of a later
-- dump that replaced one
SELECT source_path, replaced_by_path AS loaded_since, reason FROM staging.stg_quarantines ORDER BY source_path
