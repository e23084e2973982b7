-- The library: one row per document, its queue state beside it.
CREATE TABLE documents (
    id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    name TEXT NOT NULL,
    status TEXT NOT NULL,
    -- The OCR options the document was uploaded with (JSON).
    options TEXT NOT NULL,
    languages TEXT NOT NULL,
    bytes BIGINT NOT NULL,
    sha256 TEXT NOT NULL,
    pages_total BIGINT,
    pages_done BIGINT NOT NULL DEFAULT 0,
    -- Claims so far; a claim past the limit fails the document.
    attempts BIGINT NOT NULL DEFAULT 0,
    error TEXT,
    lease_holder TEXT,
    -- Milliseconds since the epoch, as are the times below.
    lease_until BIGINT,
    not_before BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX documents_by_owner ON documents (owner, created_at DESC, id DESC);
CREATE INDEX documents_queue ON documents (status, not_before);

-- Each recognized page, stored as it finishes.
CREATE TABLE pages (
    document_id TEXT NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
    number BIGINT NOT NULL,
    -- wire::ocr::Page as JSON.
    result TEXT NOT NULL,
    hocr TEXT,
    tsv TEXT NOT NULL,
    PRIMARY KEY (document_id, number)
);
