-- hOCR and TSV are written from the typed page (`result`) when asked for,
-- the same for recognized pages and a PDF's own text: they are no longer
-- kept beside it.
ALTER TABLE pages DROP COLUMN hocr;
ALTER TABLE pages DROP COLUMN tsv;
