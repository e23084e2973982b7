//! The search index: each page's terms, kept with the page, rebuilt on
//! demand, and searched.

use sqlx::Acquire;

use super::{Backend, HitRow, PageTerms, Search, Store};

impl Store {
    /// Write a page's search terms, replacing what it had.
    pub(super) async fn index(
        &self,
        conn: &mut sqlx::AnyConnection,
        id: &str,
        number: i64,
        terms: &PageTerms,
    ) -> Result<(), sqlx::Error> {
        sqlx::query("DELETE FROM page_index WHERE document_id = $1 AND number = $2")
            .bind(id)
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
                "INSERT INTO page_index (document_id, number, en, fr) VALUES ($1, $2, $3, $4)",
            )
            .bind(id)
            .bind(number)
            .bind(terms.en.as_str())
            .bind(terms.fr.as_str()),
        };
        insert.execute(&mut *conn).await?;
        Ok(())
    }

    /// Index a stored page again (after the normalization changed).
    pub(super) async fn reindex_page(
        &self,
        id: &str,
        number: i64,
        terms: &PageTerms,
    ) -> Result<(), sqlx::Error> {
        let mut conn = self.pool().acquire().await?;
        let mut tx = conn.begin().await?;
        self.index(&mut tx, id, number, terms).await?;
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
            for (id, number, result) in &batch {
                let terms = serde_json::from_str::<wire::ocr::Page>(result)
                    .map(|page| PageTerms::of_page(&page))
                    .unwrap_or_default();
                self.reindex_page(id, *number, &terms).await?;
            }
            done += batch.len() as u64;
            progress(done, total.max(done));
        }
        Ok(done)
    }

    /// Every stored page after `after` (document id, page number), in that
    /// order, `limit` at a time: what reindexing walks.
    async fn pages_after(
        &self,
        after: Option<(&str, i64)>,
        limit: u32,
    ) -> Result<Vec<(String, i64, String)>, sqlx::Error> {
        let (id, number) = after.unwrap_or(("", 0));
        sqlx::query_as(
            "SELECT document_id, number, result FROM pages \
             WHERE document_id > $1 OR (document_id = $1 AND number > $2) \
             ORDER BY document_id, number LIMIT $3",
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

    /// `owner`'s finished pages that match, best first.
    pub async fn search(
        &self,
        owner: &str,
        search: &Search<'_>,
    ) -> Result<Vec<HitRow>, sqlx::Error> {
        let (matching, score) = match self.db.backend() {
            Backend::Postgres => (
                "page_index.terms @@ CAST($1 AS tsquery)",
                "CAST(ts_rank(page_index.terms, CAST($1 AS tsquery)) AS DOUBLE PRECISION)",
            ),
            // bm25 is lower for a better match. FTS5 wants the table's own
            // name, not an alias.
            Backend::Sqlite => ("page_index MATCH $1", "-bm25(page_index)"),
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
        let mut n = 2;
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
        let expression = match self.db.backend() {
            Backend::Postgres => search.query.tsquery(),
            Backend::Sqlite => search.query.fts5(),
        };
        let mut query = sqlx::query_as(&sql).bind(expression).bind(owner);
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
