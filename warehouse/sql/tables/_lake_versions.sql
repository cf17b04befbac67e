-- The Delta version of each lake table this warehouse file holds; a load applies what came after.
CREATE TABLE IF NOT EXISTS _lake_versions (
    table_name VARCHAR PRIMARY KEY,
    table_id VARCHAR NOT NULL,
    version BIGINT NOT NULL
);
