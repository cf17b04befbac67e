CREATE TABLE IF NOT EXISTS paper_authors (
    paper_id VARCHAR NOT NULL,
    position BIGINT NOT NULL,
    author_id VARCHAR NOT NULL
);
