-- Which lake files each table holds; lets a load resume after a crash.
CREATE TABLE IF NOT EXISTS _lake_files (
    table_name VARCHAR NOT NULL,
    file VARCHAR NOT NULL,
    PRIMARY KEY (table_name, file)
);
