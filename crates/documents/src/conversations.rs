//! The conversations of asking, in the library's database: who asked,
//! each question with its answer and citations, in order; whether the
//! library is asked or the model alone (the console's assistant).

use wire::ask::{Citation, Conversation, ConversationSummary, Turn};

use crate::store::{now_ms, Store};

/// Characters of the first question kept as a conversation's title.
const TITLE_CHARS: usize = 80;

/// Turns of a conversation listed at most (the oldest beyond are kept but
/// not shown).
const MAX_TURNS: i64 = 200;

/// Conversations listed at most.
const MAX_LISTED: i64 = 100;

#[derive(sqlx::FromRow)]
struct ConversationRow {
    id: String,
    title: String,
    library: i64,
    created_at: i64,
    updated_at: i64,
}

#[derive(sqlx::FromRow)]
struct SummaryRow {
    id: String,
    title: String,
    library: i64,
    created_at: i64,
    updated_at: i64,
    turns: i64,
}

#[derive(sqlx::FromRow)]
struct TurnRow {
    question: String,
    answer: String,
    found: i64,
    citations: String,
    created_at: i64,
}

impl From<TurnRow> for Turn {
    fn from(row: TurnRow) -> Self {
        Turn {
            question: row.question,
            answer: row.answer,
            found: row.found != 0,
            // Written by this module from the same type.
            citations: serde_json::from_str(&row.citations).unwrap_or_default(),
            created_at: row.created_at,
        }
    }
}

/// A question as a conversation's title: its first line, shortened.
pub fn title_of(question: &str) -> String {
    let line = question.lines().next().unwrap_or("").trim();
    let mut title: String = line.chars().take(TITLE_CHARS).collect();
    if line.chars().count() > TITLE_CHARS {
        title.push('…');
    }
    title
}

impl Store {
    /// `owner`'s conversation `id` with all its turns; `None` when it is
    /// not theirs.
    pub async fn conversation(
        &self,
        owner: &str,
        id: &str,
    ) -> Result<Option<Conversation>, sqlx::Error> {
        let row: Option<ConversationRow> = sqlx::query_as(
            "SELECT id, title, library, created_at, updated_at FROM conversations \
             WHERE id = $1 AND owner = $2",
        )
        .bind(id)
        .bind(owner)
        .fetch_optional(self.pool())
        .await?;
        let Some(row) = row else { return Ok(None) };
        let mut turns: Vec<TurnRow> = sqlx::query_as(
            "SELECT question, answer, found, citations, created_at FROM turns \
             WHERE conversation_id = $1 ORDER BY number DESC LIMIT $2",
        )
        .bind(id)
        .bind(MAX_TURNS)
        .fetch_all(self.pool())
        .await?;
        turns.reverse();
        Ok(Some(Conversation {
            id: row.id,
            title: row.title,
            library: row.library != 0,
            created_at: row.created_at,
            updated_at: row.updated_at,
            turns: turns.into_iter().map(Turn::from).collect(),
        }))
    }

    /// `owner`'s conversations, the latest first.
    pub async fn conversations(
        &self,
        owner: &str,
    ) -> Result<Vec<ConversationSummary>, sqlx::Error> {
        let rows: Vec<SummaryRow> = sqlx::query_as(
            "SELECT c.id, c.title, c.library, c.created_at, c.updated_at, \
             (SELECT COUNT(*) FROM turns t WHERE t.conversation_id = c.id) AS turns \
             FROM conversations c WHERE c.owner = $1 \
             ORDER BY c.updated_at DESC, c.id LIMIT $2",
        )
        .bind(owner)
        .bind(MAX_LISTED)
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| ConversationSummary {
                id: r.id,
                title: r.title,
                turns: r.turns as u32,
                library: r.library != 0,
                created_at: r.created_at,
                updated_at: r.updated_at,
            })
            .collect())
    }

    /// A new conversation `id` of `owner`'s, titled by its first question;
    /// `library`: whether it asks the library or the model alone.
    pub async fn start_conversation(
        &self,
        owner: &str,
        id: &str,
        question: &str,
        library: bool,
    ) -> Result<(), sqlx::Error> {
        let now = now_ms();
        sqlx::query(
            "INSERT INTO conversations (id, owner, title, library, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $5)",
        )
        .bind(id)
        .bind(owner)
        .bind(title_of(question))
        .bind(i64::from(library))
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Add a turn at the end of conversation `id` (which the caller has
    /// checked is `owner`'s); false when it was deleted meanwhile.
    pub async fn add_turn(
        &self,
        owner: &str,
        id: &str,
        question: &str,
        answer: &str,
        found: bool,
        citations: &[Citation],
    ) -> Result<bool, sqlx::Error> {
        let citations = serde_json::to_string(citations).expect("citations serialize");
        let now = now_ms();
        let mut tx = self.pool().begin().await?;
        let touched =
            sqlx::query("UPDATE conversations SET updated_at = $1 WHERE id = $2 AND owner = $3")
                .bind(now)
                .bind(id)
                .bind(owner)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        if touched == 0 {
            return Ok(false);
        }
        // The row lock of the update above orders two replicas' turns.
        sqlx::query(
            "INSERT INTO turns (conversation_id, number, question, answer, found, citations, \
             created_at) SELECT $1, COALESCE(MAX(number), 0) + 1, $2, $3, $4, $5, $6 \
             FROM turns WHERE conversation_id = $1",
        )
        .bind(id)
        .bind(question)
        .bind(answer)
        .bind(i64::from(found))
        .bind(citations)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Remove `owner`'s conversation `id`; false when it is not theirs.
    pub async fn delete_conversation(&self, owner: &str, id: &str) -> Result<bool, sqlx::Error> {
        let mut tx = self.pool().begin().await?;
        let gone = sqlx::query("DELETE FROM conversations WHERE id = $1 AND owner = $2")
            .bind(id)
            .bind(owner)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if gone > 0 {
            // SQLite enforces the cascade only with its foreign keys on.
            sqlx::query("DELETE FROM turns WHERE conversation_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(gone > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_title_is_the_first_line_shortened() {
        assert_eq!(
            title_of("  Quelle garantie ?\nDétails"),
            "Quelle garantie ?"
        );
        let long = "a".repeat(100);
        assert_eq!(title_of(&long).chars().count(), TITLE_CHARS + 1);
    }
}
