-- A row of the index holds a page's terms (a few KB) and its document's id
-- (36 bytes). Such a row is over the size at which PostgreSQL moves values
-- out of line, and the id, the only value still allowed to move, went to
-- the TOAST table: a ranked search then fetched every matching page's id
-- from there (three more buffer reads a page), which made a search for a
-- common word three times slower. The id now stays in the row. The type
-- change to the same type rewrites the rows stored before, so that their ids
-- come back in too (SET STORAGE alone applies to new rows only).
ALTER TABLE page_index
    ALTER COLUMN document_id TYPE TEXT USING document_id || '',
    ALTER COLUMN document_id SET STORAGE MAIN;
