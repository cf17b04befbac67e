-- The Delta version of each lake table this warehouse file holds; a load applies what came after.
-- In schema `internal`: bookkeeping, not data, so schema `main`, which BI tools browse, leaves it out.
CREATE SCHEMA IF NOT EXISTS internal;
CREATE TABLE IF NOT EXISTS internal.lake_versions (
    table_name VARCHAR PRIMARY KEY,
    table_id VARCHAR NOT NULL,
    version BIGINT NOT NULL
);
