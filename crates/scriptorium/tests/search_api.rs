//! Searching the library end to end, on SQLite FTS5 and on PostgreSQL:
//! accents, stems, phrases, prefixes, exclusions, filters, privacy, and
//! hits whose boxes land on the word in the page.

mod common;

use common::library::{start, Library};
use common::{Db, TestDb};
use reqwest::StatusCode;
use wire::documents::Document;
use wire::search::SearchResults;

fn born_digital(pages: &[&[&str]]) -> Vec<u8> {
    let specs: Vec<_> = pages
        .iter()
        .map(|lines| fixtures::PdfPageSpec::Text(lines.iter().map(|l| l.to_string()).collect()))
        .collect();
    fixtures::pdf(&specs)
}

impl Library {
    async fn search(&self, query: &str) -> reqwest::Response {
        self.search_as(&self.token, query).await
    }

    async fn search_as(&self, token: &str, query: &str) -> reqwest::Response {
        self.app
            .client
            .get(self.app.url("/v1/search"))
            .query(&[("q", query)])
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    async fn hits_with(&self, query: &[(&str, &str)]) -> SearchResults {
        let r = self
            .app
            .client
            .get(self.app.url("/v1/search"))
            .query(query)
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{query:?}");
        r.json().await.unwrap()
    }

    /// `(document name, page)` of each hit, best first.
    async fn found(&self, query: &str) -> Vec<(String, u32)> {
        let r = self.search(query).await;
        assert_eq!(r.status(), StatusCode::OK, "{query}");
        let results: SearchResults = r.json().await.unwrap();
        let mut found: Vec<_> = results
            .hits
            .into_iter()
            .map(|h| (h.document_name, h.page))
            .collect();
        found.sort();
        found
    }

    async fn stored(&self, bytes: Vec<u8>, name: &str) -> Document {
        let doc = self.upload(bytes, name).await;
        self.wait_done(&doc.id).await
    }
}

fn at(name: &str, page: u32) -> (String, u32) {
    (name.to_owned(), page)
}

async fn the_query_language_works(db: Db) {
    let lib = start(TestDb::new(db).await, |_| {}).await;
    let minutes = lib
        .stored(
            born_digital(&[
                &[
                    "Compte rendu des réunions du conseil",
                    "tenues au Château de Vaux",
                ],
                &[
                    "The invoices are due at the end of the month",
                    "Payment by transfer",
                ],
            ]),
            "minutes.pdf",
        )
        .await;
    let tannery = lib
        .stored(
            born_digital(&[&["Une tannerie près du chateau fort", "et son moulin"]]),
            "tannery.pdf",
        )
        .await;

    // Accents fold both ways, stems join plurals and verb forms.
    assert_eq!(
        lib.found("chateau").await,
        [at("minutes.pdf", 1), at("tannery.pdf", 1)]
    );
    assert_eq!(
        lib.found("CHÂTEAUX").await,
        [at("minutes.pdf", 1), at("tannery.pdf", 1)]
    );
    assert_eq!(lib.found("réunion").await, [at("minutes.pdf", 1)]);
    assert_eq!(lib.found("reunions conseils").await, [at("minutes.pdf", 1)]);
    assert_eq!(lib.found("invoice").await, [at("minutes.pdf", 2)]);
    assert_eq!(lib.found("payments").await, [at("minutes.pdf", 2)]);
    // Every word must be on the page.
    assert_eq!(lib.found("invoice moulin").await, []);
    // Phrases keep their order; prefixes; exclusions.
    assert_eq!(
        lib.found("\"end of the month\"").await,
        [at("minutes.pdf", 2)]
    );
    assert_eq!(lib.found("\"month the end\"").await, []);
    assert_eq!(lib.found("tann*").await, [at("tannery.pdf", 1)]);
    assert_eq!(lib.found("chateau -tannerie").await, [at("minutes.pdf", 1)]);
    assert_eq!(
        lib.found("chateau -\"chateau fort\"").await,
        [at("minutes.pdf", 1)]
    );

    // Filters: by document and by day of upload.
    let only = lib
        .hits_with(&[("q", "chateau"), ("documents", tannery.id.as_str())])
        .await;
    assert_eq!(only.hits.len(), 1);
    assert_eq!(only.hits[0].document_id, tannery.id);
    let day = |offset: i64| {
        let t = time::OffsetDateTime::now_utc() + time::Duration::days(offset);
        format!("{:04}-{:02}-{:02}", t.year(), t.month() as u8, t.day())
    };
    let today = lib
        .hits_with(&[("q", "chateau"), ("since", &day(0)), ("until", &day(0))])
        .await;
    assert_eq!(today.hits.len(), 2);
    assert!(lib
        .hits_with(&[("q", "chateau"), ("since", &day(1))])
        .await
        .hits
        .is_empty());
    assert!(lib
        .hits_with(&[("q", "chateau"), ("until", &day(-1))])
        .await
        .hits
        .is_empty());
    let first = lib.hits_with(&[("q", "chateau"), ("limit", "1")]).await;
    assert_eq!((first.hits.len(), first.next_offset), (1, Some(1)));
    let second = lib
        .hits_with(&[("q", "chateau"), ("limit", "1"), ("offset", "1")])
        .await;
    assert_eq!((second.hits.len(), second.next_offset), (1, None));
    assert_ne!(first.hits[0].document_id, second.hits[0].document_id);

    // A hit says where: the word's box on the page, the words around it.
    let hit = &lib.hits_with(&[("q", "invoices")]).await.hits[0];
    assert_eq!(
        (hit.document_id.as_str(), hit.page),
        (minutes.id.as_str(), 2)
    );
    assert_eq!(hit.boxes.len(), 1, "{hit:?}");
    let marked: Vec<_> = hit
        .snippet
        .iter()
        .filter(|p| p.hit)
        .map(|p| p.text.as_str())
        .collect();
    assert_eq!(marked, ["invoices"]);
    let page: wire::ocr::Page = lib
        .get(&format!("/v1/documents/{}/pages/2", minutes.id))
        .await
        .json()
        .await
        .unwrap();
    let word = page.words().find(|w| w.text == "invoices").unwrap();
    assert_eq!(hit.boxes[0], word.bbox);
    assert_eq!((hit.width, hit.height), (page.width, page.height));

    // Another user finds nothing of it; a deleted document is never a hit.
    let other = lib.app.signed_up("other").await;
    let other = other["access_token"].as_str().unwrap();
    let r = lib.search_as(other, "chateau").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.json::<SearchResults>().await.unwrap().hits.is_empty());
    assert_eq!(
        lib.delete_as(&lib.token, &tannery.id).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(lib.found("chateau").await, [at("minutes.pdf", 1)]);
    assert_eq!(lib.found("tann*").await, []);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_query_language_works_on_sqlite() {
    the_query_language_works(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_query_language_works_on_postgres() {
    the_query_language_works(Db::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_searches_are_problems_not_errors() {
    let lib = start(TestDb::new(Db::Sqlite).await, |_| {}).await;
    for (query, says) in [
        (vec![("q", "")], "no word"),
        (vec![("q", "-draft")], "only excludes"),
        (vec![("q", "\"\" * -")], "no word"),
        (vec![("q", "a"), ("limit", "0")], "limit"),
        (vec![("q", "a"), ("offset", "5000")], "offset"),
        (vec![("q", "a"), ("since", "last week")], "since"),
        (vec![("q", "a"), ("documents", "1,2")], "document id"),
        (vec![("limit", "2")], "q"),
    ] {
        let r = lib
            .app
            .client
            .get(lib.app.url("/v1/search"))
            .query(&query)
            .bearer_auth(&lib.token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{query:?}");
        assert_eq!(r.headers()["content-type"], "application/problem+json");
        let body: serde_json::Value = r.json().await.unwrap();
        assert!(
            body["detail"].as_str().unwrap_or_default().contains(says),
            "{query:?}: {body}"
        );
    }
    let anonymous = lib
        .app
        .client
        .get(lib.app.url("/v1/search?q=a"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
}

/// A scanned page: the box of a hit, cut out of the uploaded image and
/// read again on its own, is the word that was searched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hits_box_lands_on_the_word_in_the_page_image() {
    let lib = start(TestDb::new(Db::Sqlite).await, |_| {}).await;
    let image = fixtures::render(
        &[
            "Quarterly report of the cooperative",
            "Le bilan annuel de la coopérative",
        ],
        40.0,
    );
    let mut png = Vec::new();
    image
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
    lib.stored(png, "scan.png").await;
    let results = lib.hits_with(&[("q", "bilan")]).await;
    assert_eq!(results.hits.len(), 1);
    let hit = &results.hits[0];
    assert_eq!((hit.width, hit.height), image.dimensions());
    assert_eq!(hit.boxes.len(), 1, "{hit:?}");
    let [left, top, right, bottom] = hit.boxes[0];
    let margin = 6;
    let crop = image::imageops::crop_imm(
        &image,
        left.saturating_sub(margin),
        top.saturating_sub(margin),
        right - left + 2 * margin,
        bottom - top + 2 * margin,
    )
    .to_image();
    let mut cut = Vec::new();
    crop.write_to(&mut std::io::Cursor::new(&mut cut), image::ImageFormat::Png)
        .unwrap();
    let r = lib
        .app
        .client
        .post(lib.app.url("/v1/ocr?psm=8&format=text&orientation=none"))
        .bearer_auth(&lib.token)
        .header("content-type", "image/png")
        .body(cut)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.text().await.unwrap().trim(), "bilan");
}
