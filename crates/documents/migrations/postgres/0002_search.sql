-- The search index: each page's stems (English weighted A, French B),
-- written by the service as a tsvector literal, so that PostgreSQL and
-- SQLite index the same terms.
CREATE TABLE page_index (
    document_id TEXT NOT NULL,
    number BIGINT NOT NULL,
    terms TSVECTOR NOT NULL,
    PRIMARY KEY (document_id, number),
    FOREIGN KEY (document_id, number) REFERENCES pages (document_id, number) ON DELETE CASCADE
);
-- Compressed in the row rather than out of line: the planner then sees
-- what a scan of the table costs, and picks the GIN index for a selective
-- query (out of line, a scan looked cheap and read every page's terms).
ALTER TABLE page_index ALTER COLUMN terms SET STORAGE MAIN;
CREATE INDEX page_index_terms ON page_index USING GIN (terms);
