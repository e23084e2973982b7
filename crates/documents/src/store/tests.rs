use super::*;

#[test]
fn cursors_round_trip_and_refuse_junk() {
    let c = Cursor {
        created_at: 1_700_000_000_123,
        id: "0193a0e4-7c1d-7000-8000-0123456789ab".into(),
    };
    assert_eq!(Cursor::decode(&c.encode()), Some(c));
    for junk in ["", "12", "x.abc", "12.", "12.ab'; --"] {
        assert_eq!(Cursor::decode(junk), None, "{junk}");
    }
}

async fn empty_store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/documents.db?mode=rwc", dir.path().display());
    let store = Store::open(&url, 2).await.unwrap();
    (dir, store)
}

async fn insert(store: &Store, id: &str, owner: &str) {
    store
        .insert(&NewDocument {
            id,
            owner,
            name: "a.png",
            options: "{}",
            languages: "eng",
            bytes: 10,
            sha256: "00",
            pages_total: 2,
        })
        .await
        .unwrap();
}

async fn store_with_one_document() -> (tempfile::TempDir, Store) {
    let (dir, store) = empty_store().await;
    insert(&store, "d1", "u1").await;
    (dir, store)
}

#[tokio::test]
async fn a_user_with_nothing_being_read_goes_before_one_with_a_document_being_read() {
    let (_dir, store) = empty_store().await;
    for id in ["a1", "a2", "a3"] {
        insert(&store, id, "alice").await;
    }
    // Bob's one document comes after all of Alice's.
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    insert(&store, "b1", "bob").await;
    let later = now_ms() + 60_000;
    let first = store.claim("w1", later).await.unwrap().unwrap();
    assert_eq!(first.id, "a1", "the oldest first");
    let second = store.claim("w2", later).await.unwrap().unwrap();
    assert_eq!(second.id, "b1", "Bob has nothing being read, Alice has one");
    let third = store.claim("w3", later).await.unwrap().unwrap();
    assert_eq!(third.id, "a2");
}

fn page(number: i64) -> PageRow {
    PageRow {
        number,
        result: "{}".into(),
    }
}

#[tokio::test]
async fn a_lease_fences_every_write_until_it_runs_out() {
    let (_dir, store) = store_with_one_document().await;
    let later = now_ms() + 60_000;
    let claim = store.claim("a", later).await.unwrap().expect("queued work");
    assert_eq!((claim.id.as_str(), claim.attempts), ("d1", 1));
    assert!(
        store.claim("b", later).await.unwrap().is_none(),
        "held by a"
    );
    assert!(!store
        .store_page("d1", "b", &page(1), &PageTerms::default(), later)
        .await
        .unwrap());
    assert!(store
        .store_page("d1", "a", &page(1), &PageTerms::default(), later)
        .await
        .unwrap());
    assert_eq!(store.next_page("d1").await.unwrap(), 2);

    // a's lease runs out: b takes the document, and a can write no more.
    assert!(store.renew("d1", "a", now_ms() - 1).await.unwrap());
    let taken = store
        .claim("b", later)
        .await
        .unwrap()
        .expect("an expired lease");
    assert_eq!(taken.attempts, 2);
    assert!(!store
        .store_page("d1", "a", &page(2), &PageTerms::default(), later)
        .await
        .unwrap());
    assert!(!store.settle("d1", "a", Settle::Done).await.unwrap());
    assert!(store
        .store_page("d1", "b", &page(2), &PageTerms::default(), later)
        .await
        .unwrap());
    assert!(store.settle("d1", "b", Settle::Done).await.unwrap());
    let row = store.get("u1", "d1").await.unwrap().unwrap();
    assert_eq!((row.status(), row.pages_done), (DocumentStatus::Done, 2));
    assert!(
        store.claim("c", later).await.unwrap().is_none(),
        "nothing left"
    );
}

#[tokio::test]
async fn retries_wait_their_turn_and_a_release_costs_no_attempt() {
    let (_dir, store) = store_with_one_document().await;
    let later = now_ms() + 60_000;
    store.claim("a", later).await.unwrap().unwrap();
    let retry = Settle::Retry {
        reason: "busy",
        not_before: now_ms() + 60_000,
    };
    assert!(store.settle("d1", "a", retry).await.unwrap());
    assert!(
        store.claim("a", later).await.unwrap().is_none(),
        "not before its time"
    );
    let row = store.get("u1", "d1").await.unwrap().unwrap();
    assert_eq!(
        (row.status(), row.error.as_deref()),
        (DocumentStatus::Queued, Some("busy"))
    );

    let (_dir, store) = store_with_one_document().await;
    store.claim("a", later).await.unwrap().unwrap();
    assert!(store.settle("d1", "a", Settle::Release).await.unwrap());
    let again = store.claim("b", later).await.unwrap().unwrap();
    assert_eq!(again.attempts, 1, "the released claim was not counted");
    assert!(store.settle("d1", "b", Settle::Failed("no")).await.unwrap());
    let row = store.get("u1", "d1").await.unwrap().unwrap();
    assert_eq!(
        (row.status(), row.error.as_deref()),
        (DocumentStatus::Failed, Some("no"))
    );
}

#[tokio::test]
async fn deleting_a_document_takes_its_pages_and_its_lease() {
    let (_dir, store) = store_with_one_document().await;
    let later = now_ms() + 60_000;
    store.claim("a", later).await.unwrap().unwrap();
    assert!(store
        .store_page("d1", "a", &page(1), &PageTerms::default(), later)
        .await
        .unwrap());
    assert!(!store.delete("u2", "d1").await.unwrap(), "not u2's");
    assert!(store.delete("u1", "d1").await.unwrap());
    assert_eq!(store.rows_of("d1").await.unwrap(), 0);
    assert!(!store.renew("d1", "a", later).await.unwrap());
    assert!(!store
        .store_page("d1", "a", &page(2), &PageTerms::default(), later)
        .await
        .unwrap());
    assert_eq!(store.rows_of("d1").await.unwrap(), 0);
}

async fn search(store: &Store, owner: &str, q: &str) -> Vec<(String, i64)> {
    search_within(store, owner, q, &[], None).await
}

/// A search kept to some documents, or to those uploaded since a time.
async fn search_within(
    store: &Store,
    owner: &str,
    q: &str,
    documents: &[String],
    since: Option<i64>,
) -> Vec<(String, i64)> {
    let query: Query = q.parse().unwrap();
    let search = Search {
        query: &query,
        documents,
        since,
        until: None,
        limit: 10,
        offset: 0,
    };
    let hits = store.search(owner, &search).await.unwrap();
    hits.into_iter()
        .map(|h| (h.document_id, h.number))
        .collect()
}

#[tokio::test]
async fn a_page_is_found_once_its_document_is_done_and_never_after_a_delete() {
    let (_dir, store) = store_with_one_document().await;
    let later = now_ms() + 60_000;
    store.claim("a", later).await.unwrap().unwrap();
    for (n, text) in [(1, "Le château de la tannerie"), (2, "Invoices are due")] {
        let mut result = wire::ocr::Page::blank(n as usize);
        result.text = text.into();
        let row = PageRow {
            result: serde_json::to_string(&result).unwrap(),
            ..page(n)
        };
        let terms = PageTerms::of_page(&result);
        assert!(store
            .store_page("d1", "a", &row, &terms, later)
            .await
            .unwrap());
    }
    assert_eq!(
        search(&store, "u1", "chateau").await,
        [],
        "still processing"
    );
    assert!(store.settle("d1", "a", Settle::Done).await.unwrap());
    assert_eq!(search(&store, "u1", "chateau").await, [("d1".into(), 1)]);
    assert_eq!(
        search(&store, "u1", "invoice due").await,
        [("d1".into(), 2)]
    );
    assert_eq!(
        search(&store, "u1", "tann* -invoice").await,
        [("d1".into(), 1)]
    );
    assert_eq!(search(&store, "u1", "\"due are\"").await, []);
    assert_eq!(search(&store, "u2", "chateau").await, [], "not u2's");
    assert_eq!(store.rows_of("d1").await.unwrap(), 1 + 2 + 2);

    // An index written by an older normalization: reindexing rebuilds
    // it from the stored results.
    store
        .reindex_page("d1", 1, &PageTerms::default(), Some("u1"))
        .await
        .unwrap();
    assert_eq!(search(&store, "u1", "chateau").await, []);
    let mut told = Vec::new();
    let done = store.reindex(|n, of| told.push((n, of))).await.unwrap();
    assert_eq!((done, told), (2, vec![(2, 2)]));
    assert_eq!(search(&store, "u1", "chateau").await, [("d1".into(), 1)]);
    assert_eq!(store.rows_of("d1").await.unwrap(), 1 + 2 + 2);

    assert!(store.delete("u1", "d1").await.unwrap());
    assert_eq!(search(&store, "u1", "chateau").await, []);
    assert_eq!(store.rows_of("d1").await.unwrap(), 0);
}

/// Read `text` as page 1 of `id` and settle it done.
async fn read_one_page(store: &Store, id: &str, text: &str) {
    let later = now_ms() + 60_000;
    let claim = store.claim("a", later).await.unwrap().unwrap();
    assert_eq!(claim.id, id);
    let mut result = wire::ocr::Page::blank(1);
    result.text = text.into();
    let row = PageRow {
        result: serde_json::to_string(&result).unwrap(),
        ..page(1)
    };
    let terms = PageTerms::of_page(&result);
    assert!(store
        .store_page(id, "a", &row, &terms, later)
        .await
        .unwrap());
    assert!(store.settle(id, "a", Settle::Done).await.unwrap());
}

#[tokio::test]
async fn a_search_keeps_to_the_chosen_documents_and_dates_on_either_path() {
    let (_dir, store) = empty_store().await;
    insert(&store, "d1", "u1").await;
    read_one_page(&store, "d1", "Le château").await;
    insert(&store, "d2", "u1").await;
    read_one_page(&store, "d2", "Un autre château").await;
    insert(&store, "d3", "u2").await;
    read_one_page(&store, "d3", "Le château de u2").await;

    let mut all = search(&store, "u1", "chateau").await;
    all.sort();
    assert_eq!(all, [("d1".into(), 1), ("d2".into(), 1)]);
    let chosen = ["d2".to_string(), "d3".to_string()];
    assert_eq!(
        search_within(&store, "u1", "chateau", &chosen, None).await,
        [("d2".into(), 1)],
        "u2's d3 stays out even when named"
    );
    // A date filter takes the joined path: the same pages.
    let mut dated = search_within(&store, "u1", "chateau", &[], Some(0)).await;
    dated.sort();
    assert_eq!(dated, all);
    assert_eq!(
        search_within(&store, "u1", "chateau", &[], Some(now_ms() + 60_000)).await,
        []
    );
}

/// On PostgreSQL a row of the index stays whole. A page's terms take a few
/// KB, over the size at which PostgreSQL moves values out of line; nothing
/// of the row, its document's id least of all, may go to the TOAST table,
/// from where a ranked search would fetch it for every matching page.
#[tokio::test]
async fn a_row_of_the_index_stays_whole_on_postgres() {
    let url = testkit::postgres::fresh_database().await;
    let store = Store::open(&url, 2).await.unwrap();
    let id = "0193a0e4-7c1d-7000-8000-0123456789ab";
    insert(&store, id, "u1").await;
    let words: Vec<String> = (0..250).map(|i| format!("mot{i:03}")).collect();
    read_one_page(&store, id, &words.join(" ")).await;
    assert_eq!(search(&store, "u1", "mot123").await, [(id.into(), 1)]);
    let (terms, toast): (i32, i64) = sqlx::query_as(
        "SELECT (SELECT pg_column_size(terms) FROM page_index), \
         pg_relation_size(reltoastrelid) FROM pg_class WHERE relname = 'page_index'",
    )
    .fetch_one(store.pool())
    .await
    .unwrap();
    assert!(
        terms > 2_100,
        "a row over the TOAST threshold: {terms} bytes of terms"
    );
    assert_eq!(toast, 0, "bytes of page_index in TOAST");
}
