-- `status`: quarantined dumps with their reasons, those no later reading replaced first, then the
-- latest ingested first; `loaded_since` names the file of a later dump that replaced one
SELECT source_path, replaced_by_path AS loaded_since, reason
FROM staging.stg_quarantines
ORDER BY replaced_by IS NOT NULL, ingested_at DESC, source_path
