-- The search index: each page's stems, English and French, space
-- separated by the service (the ascii tokenizer only splits them again);
-- prefix indexes make `tann*` as quick as a word.
CREATE VIRTUAL TABLE page_index USING fts5(
    en,
    fr,
    document_id UNINDEXED,
    number UNINDEXED,
    tokenize = 'ascii',
    prefix = '2 3 4'
);
