-- Each page's place in the index: `scope` holds `d` and its document's id
-- in hex, and once the document is done, `o` and its owner's id in hex. A
-- search then keeps to the caller's finished pages inside FTS5 itself,
-- ranks only those, and joins the documents of the few it returns; a
-- document's rows are found through its token rather than by reading
-- every row. FTS5 tables cannot gain a column: the index is copied.
CREATE VIRTUAL TABLE page_index_scoped USING fts5(
    en,
    fr,
    document_id UNINDEXED,
    number UNINDEXED,
    scope,
    tokenize = 'ascii',
    prefix = '2 3 4'
);
INSERT INTO page_index_scoped (rowid, en, fr, document_id, number, scope)
SELECT page_index.rowid, page_index.en, page_index.fr, page_index.document_id, page_index.number,
       CASE WHEN d.status = 'done' THEN 'o' || lower(hex(d.owner)) || ' ' ELSE '' END
           || 'd' || lower(hex(d.id))
FROM page_index JOIN documents d ON d.id = page_index.document_id;
DROP TABLE page_index;
ALTER TABLE page_index_scoped RENAME TO page_index;
