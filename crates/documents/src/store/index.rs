//! The search index: each page's terms, kept with the page, rebuilt on
//! demand, and searched.

use sqlx::Acquire;

use super::{Backend, HitRow, PageTerms, Search, Store};

impl Store {
    /// Write a page's search terms, replacing what it had; `visible_to`:
    /// the owner whose searches find it, once its document is done.
    pub(super) async fn index(
        &self,
        conn: &mut sqlx::AnyConnection,
        id: &str,
        number: i64,
        terms: &PageTerms,
        visible_to: Option<&str>,
    ) -> Result<(), sqlx::Error> {
        let rows = self.index_rows_of(id);
        sqlx::query(&format!(
            "DELETE FROM page_index WHERE {} AND number = $2",
            rows.condition
        ))
        .bind(rows.bind)
        .bind(number)
        .execute(&mut *conn)
        .await?;
        let insert = match self.db.backend() {
            Backend::Postgres => sqlx::query(
                "INSERT INTO page_index (document_id, number, terms) \
                 VALUES ($1, $2, CAST($3 AS tsvector))",
            )
            .bind(id)
            .bind(number)
            .bind(terms.tsvector()),
            Backend::Sqlite => sqlx::query(
                "INSERT INTO page_index (document_id, number, en, fr, scope) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(id)
            .bind(number)
            .bind(terms.en.as_str())
            .bind(terms.fr.as_str())
            .bind(scope::tokens(id, visible_to)),
        };
        insert.execute(&mut *conn).await?;
        Ok(())
    }

    /// Where a document's rows of the index are: on SQLite through its
    /// scope token, since FTS5 finds a row by an unindexed column only by
    /// reading them all.
    pub(super) fn index_rows_of(&self, id: &str) -> IndexRows {
        match self.db.backend() {
            Backend::Postgres => IndexRows {
                condition: "document_id = $1",
                bind: id.to_owned(),
            },
            Backend::Sqlite => IndexRows {
                condition: "rowid IN (SELECT rowid FROM page_index WHERE page_index MATCH $1)",
                bind: scope::of_document(id),
            },
        }
    }

    /// A document is done: on SQLite, its pages join its owner's scope.
    pub(super) async fn publish(
        &self,
        conn: &mut sqlx::AnyConnection,
        id: &str,
    ) -> Result<(), sqlx::Error> {
        if self.db.backend() != Backend::Sqlite {
            return Ok(());
        }
        sqlx::query(
            "UPDATE page_index SET scope = \
             'o' || lower(hex((SELECT owner FROM documents WHERE id = $1))) || ' ' || $2 \
             WHERE rowid IN (SELECT rowid FROM page_index WHERE page_index MATCH $3)",
        )
        .bind(id)
        .bind(scope::document(id))
        .bind(scope::of_document(id))
        .execute(&mut *conn)
        .await?;
        Ok(())
    }

    /// Index a stored page again (after the normalization changed).
    pub(super) async fn reindex_page(
        &self,
        id: &str,
        number: i64,
        terms: &PageTerms,
        visible_to: Option<&str>,
    ) -> Result<(), sqlx::Error> {
        let mut conn = self.pool().acquire().await?;
        let mut tx = conn.begin().await?;
        self.index(&mut tx, id, number, terms, visible_to).await?;
        tx.commit().await
    }

    pub async fn reindex(&self, mut progress: impl FnMut(u64, u64)) -> Result<u64, sqlx::Error> {
        let total = self.page_count().await?.max(0) as u64;
        let mut done = 0;
        let mut after: Option<(String, i64)> = None;
        loop {
            let batch = self
                .pages_after(after.as_ref().map(|(id, n)| (id.as_str(), *n)), 200)
                .await?;
            let Some(last) = batch.last() else { break };
            after = Some((last.0.clone(), last.1));
            for (id, number, result, owner, status) in &batch {
                let terms = serde_json::from_str::<wire::ocr::Page>(result)
                    .map(|page| PageTerms::of_page(&page))
                    .unwrap_or_default();
                let visible_to = (status == "done").then_some(owner.as_str());
                self.reindex_page(id, *number, &terms, visible_to).await?;
            }
            done += batch.len() as u64;
            progress(done, total.max(done));
        }
        Ok(done)
    }

    /// Every stored page after `after` (document id, page number), in that
    /// order, `limit` at a time, with its document's owner and status: what
    /// reindexing walks.
    async fn pages_after(
        &self,
        after: Option<(&str, i64)>,
        limit: u32,
    ) -> Result<Vec<(String, i64, String, String, String)>, sqlx::Error> {
        let (id, number) = after.unwrap_or(("", 0));
        sqlx::query_as(
            "SELECT p.document_id, p.number, p.result, d.owner, d.status \
             FROM pages p JOIN documents d ON d.id = p.document_id \
             WHERE p.document_id > $1 OR (p.document_id = $1 AND p.number > $2) \
             ORDER BY p.document_id, p.number LIMIT $3",
        )
        .bind(id)
        .bind(number)
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await
    }

    async fn page_count(&self) -> Result<i64, sqlx::Error> {
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM pages")
            .fetch_one(self.pool())
            .await?;
        Ok(n)
    }

    /// `owner`'s finished pages that match, best first (equal scores: on
    /// SQLite the page indexed last first, on PostgreSQL the newest
    /// document first).
    pub async fn search(
        &self,
        owner: &str,
        search: &Search<'_>,
    ) -> Result<Vec<HitRow>, sqlx::Error> {
        match self.db.backend() {
            Backend::Sqlite if search.since.is_none() && search.until.is_none() => {
                self.search_in_scope(owner, search).await
            }
            _ => self.search_joined(owner, search).await,
        }
    }

    /// SQLite: FTS5 keeps to the owner's finished pages (and the chosen
    /// documents) by their scope tokens and ranks those alone; only the
    /// page of hits it returns is joined with the documents and pages. A
    /// word on every page is ranked without one lookup per page.
    async fn search_in_scope(
        &self,
        owner: &str,
        search: &Search<'_>,
    ) -> Result<Vec<HitRow>, sqlx::Error> {
        let mut expression = format!(
            "scope : \"{}\" AND {}",
            scope::owner(owner),
            search.query.fts5()
        );
        if !search.documents.is_empty() {
            let chosen: Vec<String> = search
                .documents
                .iter()
                .map(|id| format!("\"{}\"", scope::document(id)))
                .collect();
            expression.push_str(&format!(" AND scope : ({})", chosen.join(" OR ")));
        }
        // The scope column weighs nothing in the score.
        sqlx::query_as(
            "SELECT pi.document_id AS document_id, d.name AS name, pi.number AS number, \
             p.result AS result, h.score AS score FROM \
             (SELECT rowid AS r, -bm25(page_index, 1.0, 1.0, 0.0, 0.0, 0.0) AS score \
              FROM page_index WHERE page_index MATCH $1 \
              ORDER BY score DESC, rowid DESC LIMIT $2 OFFSET $3) h \
             JOIN page_index pi ON pi.rowid = h.r \
             JOIN documents d ON d.id = pi.document_id \
             JOIN pages p ON p.document_id = pi.document_id AND p.number = pi.number \
             ORDER BY h.score DESC, h.r DESC",
        )
        .bind(expression)
        .bind(i64::from(search.limit))
        .bind(i64::from(search.offset))
        .fetch_all(self.pool())
        .await
    }

    /// The matching pages joined with their documents for the owner, the
    /// status and the dates, then ranked.
    async fn search_joined(
        &self,
        owner: &str,
        search: &Search<'_>,
    ) -> Result<Vec<HitRow>, sqlx::Error> {
        let postgres = self.db.backend() == Backend::Postgres;
        // PostgreSQL: the exclusions are a condition of their own ($3), so
        // that the planner estimates the pages they leave.
        let excluded = search.query.tsquery_excluded().filter(|_| postgres);
        let (matching, score, expression) = if postgres {
            let mut matching = "page_index.terms @@ CAST($1 AS tsquery)".to_owned();
            if excluded.is_some() {
                matching.push_str(" AND NOT page_index.terms @@ CAST($3 AS tsquery)");
            }
            let score = "CAST(ts_rank(page_index.terms, CAST($1 AS tsquery)) AS DOUBLE PRECISION)";
            (matching, score, search.query.tsquery_included())
        } else {
            // bm25 is lower for a better match. FTS5 wants the table's own
            // name, not an alias.
            let matching = "page_index MATCH $1".to_owned();
            (matching, "-bm25(page_index)", search.query.fts5())
        };
        // The best pages first, from the index and the documents alone;
        // then the stored results of those few pages only.
        let mut sql = format!(
            "SELECT page_index.document_id AS document_id, page_index.number AS number, \
             d.name AS name, d.created_at AS created_at, {score} AS score \
             FROM page_index \
             JOIN documents d ON d.id = page_index.document_id \
             WHERE {matching} AND d.owner = $2 AND d.status = 'done'"
        );
        let mut n = if excluded.is_some() { 3 } else { 2 };
        let mut next = || {
            n += 1;
            format!("${n}")
        };
        if !search.documents.is_empty() {
            let list: Vec<String> = search.documents.iter().map(|_| next()).collect();
            sql.push_str(&format!(" AND d.id IN ({})", list.join(", ")));
        }
        if search.since.is_some() {
            sql.push_str(&format!(" AND d.created_at >= {}", next()));
        }
        if search.until.is_some() {
            sql.push_str(&format!(" AND d.created_at < {}", next()));
        }
        let order = "ORDER BY score DESC, created_at DESC, document_id, number";
        sql.push_str(&format!(" {order} LIMIT {} OFFSET {}", next(), next()));
        let sql = format!(
            "SELECT h.document_id, h.name, h.number, p.result, h.score FROM ({sql}) h \
             JOIN pages p ON p.document_id = h.document_id AND p.number = h.number \
             ORDER BY h.score DESC, h.created_at DESC, h.document_id, h.number"
        );
        // PostgreSQL plans an unnamed statement for the words it is given:
        // a word on every page is best read in one scan of the index, a rare
        // one through the GIN index, and a prepared statement's generic
        // plan, made for neither, was twice as slow on the first.
        let mut query = sqlx::query_as(&sql)
            .persistent(!postgres)
            .bind(expression)
            .bind(owner);
        if let Some(excluded) = excluded {
            query = query.bind(excluded);
        }
        for id in search.documents {
            query = query.bind(id.as_str());
        }
        if let Some(since) = search.since {
            query = query.bind(since);
        }
        if let Some(until) = search.until {
            query = query.bind(until);
        }
        query
            .bind(i64::from(search.limit))
            .bind(i64::from(search.offset))
            .fetch_all(self.pool())
            .await
    }
}

/// What a document's rows of the index are found by.
pub(super) struct IndexRows {
    /// A condition on `$1`.
    pub condition: &'static str,
    pub bind: String,
}

/// SQLite's scope tokens: ids in hex, so that any id is one token of the
/// ASCII tokenizer (`lower(hex(...))` in SQL writes the same).
mod scope {
    fn hex(id: &str) -> String {
        hex::encode(id.as_bytes())
    }

    /// Every page of a document carries it.
    pub fn document(id: &str) -> String {
        format!("d{}", hex(id))
    }

    /// The pages of an owner's finished documents carry it.
    pub fn owner(owner: &str) -> String {
        format!("o{}", hex(owner))
    }

    /// The FTS5 expression of a document's rows.
    pub fn of_document(id: &str) -> String {
        format!("scope : \"{}\"", document(id))
    }

    /// A page's scope column.
    pub fn tokens(id: &str, visible_to: Option<&str>) -> String {
        match visible_to {
            Some(owner_id) => format!("{} {}", owner(owner_id), document(id)),
            None => document(id),
        }
    }
}
