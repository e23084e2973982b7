//! The document library end to end: real Tesseract, SQLite and PostgreSQL,
//! a local blob folder; documents survive a restart and are private.

mod common;

use std::io::Cursor;
use std::time::{Duration, Instant};

use common::library::{serve, start, Library};
use common::{Db, TestDb};
use image::GrayImage;
use reqwest::multipart::{Form, Part};
use reqwest::StatusCode;
use scriptorium::configuration::Config;
use serde_json::Value;
use wire::documents::{Document, DocumentList, DocumentStatus};

/// Page `n`'s lines: a few mixed English and French sentences.
fn lines(n: usize) -> Vec<String> {
    fixtures::sentences(n, 3, 6)
}

fn page(n: usize) -> GrayImage {
    let lines = lines(n);
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    fixtures::render(&refs, 40.0)
}

/// A multi-page TIFF of pages `1..=count`.
fn tiff(count: usize) -> Vec<u8> {
    tiff_from(1, count)
}

/// A multi-page TIFF of `count` pages from page `first`.
fn tiff_from(first: usize, count: usize) -> Vec<u8> {
    use tiff::encoder::{colortype, TiffEncoder};
    let mut out = Cursor::new(Vec::new());
    let mut enc = TiffEncoder::new(&mut out).unwrap();
    for n in first..first + count {
        let img = page(n);
        enc.write_image::<colortype::Gray8>(img.width(), img.height(), img.as_raw())
            .unwrap();
    }
    out.into_inner()
}

fn reads_like(got: &str, n: usize) {
    let want = lines(n).join("\n");
    let cer = fixtures::cer(got, &want);
    assert!(cer < 0.05, "page {n}: CER {cer:.3}\n{got}\n---\n{want}");
}

/// OCR keeps nothing: the in-memory jobs it once had lead to the library,
/// which keeps the document and reads it in the background.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_retired_ocr_jobs_lead_to_the_library() {
    let lib = start(TestDb::new(Db::Sqlite).await, |_| {}).await;
    let stay = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let post = |client: &reqwest::Client, path: &str| {
        client
            .post(lib.app.url(path))
            .bearer_auth(&lib.token)
            .header("content-type", "image/tiff")
            .body(tiff(2))
            .send()
    };
    let r = post(&stay, "/v1/ocr/jobs?languages=eng%2Bfra")
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PERMANENT_REDIRECT);
    let to = r.headers()["location"].to_str().unwrap().to_owned();
    assert_eq!(to, "/v1/documents?languages=eng%2Bfra");

    // Sent again there, as a client follows a 308 (same method, body and
    // token), the request makes a document.
    let r = post(&stay, &to).await.unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let doc: Document = r.json().await.unwrap();
    assert_eq!(doc.languages, "eng+fra");
    lib.wait_done(&doc.id).await;

    let old = format!("/v1/ocr/jobs/{}", doc.id);
    let r = stay.get(lib.app.url(&old)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::MOVED_PERMANENTLY);
    assert_eq!(
        r.headers()["location"],
        format!("/v1/documents/{}", doc.id).as_str()
    );
    let found: Document = lib.get(&old).await.json().await.unwrap();
    assert_eq!((found.id.as_str(), found.pages_done), (doc.id.as_str(), 2));
    let hocr = lib
        .get(&format!("{old}/result?format=hocr"))
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(hocr.matches("class='ocr_page'").count(), 2, "{hocr}");
    let r = lib.get(&format!("{old}/result?format=docx")).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.headers()["content-type"], "application/problem+json");

    // An id cannot lead anywhere but to one document.
    let r = stay
        .get(lib.app.url("/v1/ocr/jobs/..%2F..%2Fauth%2Fme/result"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::MOVED_PERMANENTLY);
    let to = r.headers()["location"].to_str().unwrap();
    assert_eq!(to, "/v1/documents/%2E%2E%2F%2E%2E%2Fauth%2Fme/json");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_document_is_stored_read_once_and_served_in_every_format() {
    let lib = start(TestDb::new(Db::Sqlite).await, |_| {}).await;
    let bytes = tiff(3);
    let doc = lib.upload(bytes.clone(), "scans/lettre.tiff").await;
    assert_eq!(doc.name, "lettre.tiff");
    assert_eq!(doc.pages_total, Some(3));
    assert_eq!(doc.bytes, bytes.len() as u64);
    assert_eq!(doc.languages, "eng+fra");
    use sha2::Digest;
    assert_eq!(doc.sha256, hex(&sha2::Sha256::digest(&bytes)));
    let done = lib.wait_done(&doc.id).await;
    assert_eq!(done.pages_done, 3);
    assert_eq!(lib.recognized(), 3, "each page is recognized once");

    let json = lib.json(&doc.id).await;
    assert_eq!(json.pages.len(), 3);
    for (i, p) in json.pages.iter().enumerate() {
        assert_eq!(p.page, i + 1);
        reads_like(&p.text, i + 1);
        assert!(
            p.words().count() >= 10,
            "words with boxes on page {}",
            i + 1
        );
    }
    let second: wire::ocr::Page = lib
        .get(&format!("/v1/documents/{}/pages/2", doc.id))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(second, json.pages[1]);

    let text = lib.get(&format!("/v1/documents/{}/text", doc.id)).await;
    assert!(text.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    let text = text.text().await.unwrap();
    assert_eq!(text.split('\u{c}').count(), 3);
    let hocr = lib
        .get(&format!("/v1/documents/{}/hocr", doc.id))
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(
        hocr.matches("class='ocr_page'").count() + hocr.matches("class=\"ocr_page\"").count(),
        3
    );
    let tsv = lib
        .get(&format!("/v1/documents/{}/tsv", doc.id))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        tsv.lines().any(|l| l.starts_with("5\t3\t")),
        "page 3's words in the TSV"
    );

    let original = lib.get(&format!("/v1/documents/{}/original", doc.id)).await;
    assert_eq!(original.headers()["content-type"], "image/tiff");
    assert!(original.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .contains("lettre.tiff"));
    assert_eq!(original.bytes().await.unwrap().as_ref(), bytes.as_slice());

    let missing = lib.get(&format!("/v1/documents/{}/pages/4", doc.id)).await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    for bad in ["0", "-1", "two", "99999999999999999999"] {
        let r = lib
            .get(&format!("/v1/documents/{}/pages/{bad}", doc.id))
            .await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{bad}");
        let problem: Value = r.json().await.unwrap();
        assert!(
            problem["detail"]
                .as_str()
                .unwrap()
                .contains("not a page number"),
            "{problem}"
        );
    }
    assert_eq!(lib.recognized(), 3, "serving results reads nothing again");
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Stop the process in the middle of a document, start it again on the
/// same database and blobs: the document completes, every page read once.
async fn restart_mid_document(db: Db, blobs: Blobs) {
    let blobs = blobs.config().await;
    let one_worker = |c: &mut Config| {
        c.documents.workers = Some(1);
        if let Some(blobs) = &blobs {
            c.documents.blobs = blobs.clone();
        }
    };
    let lib = start(TestDb::new(db).await, one_worker).await;
    let doc = lib.upload(tiff(8), "long.tiff").await;
    lib.wait_for(&doc.id, |d| d.pages_done >= 1).await;
    let Library { app, db, token } = lib;
    let engines = app.ocr.clone().unwrap();
    // A stopping worker finishes the pages it has started and stores them.
    app.stop().await;
    let before = engines.pages_recognized();

    let lib = Library {
        app: serve(&db, one_worker).await,
        token,
        db,
    };
    let halfway = lib.document(&doc.id).await;
    assert!(
        halfway.pages_done < 8,
        "the test stopped the process after the document was done: {halfway:?}"
    );
    let done = lib.wait_done(&doc.id).await;
    assert_eq!(done.pages_done, 8);
    assert_eq!(
        before + lib.recognized(),
        8,
        "pages recognized before ({before}) and after the restart"
    );
    let json = lib.json(&doc.id).await;
    let numbers: Vec<usize> = json.pages.iter().map(|p| p.page).collect();
    assert_eq!(numbers, (1..=8).collect::<Vec<_>>());
    for p in &json.pages {
        reads_like(&p.text, p.page);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_mid_document_resumes_at_the_next_page_on_sqlite_and_a_folder() {
    restart_mid_document(Db::Sqlite, Blobs::Local).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_mid_document_resumes_at_the_next_page_on_postgres_and_s3() {
    restart_mid_document(Db::Postgres, Blobs::S3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_users_document_is_404_on_every_route() {
    let lib = start(TestDb::new(Db::Postgres).await, |_| {}).await;
    let doc = lib.upload(tiff(1), "mine.tiff").await;
    lib.wait_done(&doc.id).await;
    let other = lib.app.signed_up("someone-else").await;
    let other = other["access_token"].as_str().unwrap();
    for route in [
        "",
        "/original",
        "/text",
        "/hocr",
        "/tsv",
        "/json",
        "/pages/1",
        "/pdf",
    ] {
        let r = lib
            .app
            .get_auth(&format!("/v1/documents/{}{route}", doc.id), other)
            .await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{route}");
        let problem: Value = r.json().await.unwrap();
        assert!(
            problem["type"].as_str().unwrap().ends_with("not-found"),
            "{problem}"
        );
    }
    let r = lib.delete_as(other, &doc.id).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let theirs: DocumentList = lib
        .app
        .get_auth("/v1/documents", other)
        .await
        .json()
        .await
        .unwrap();
    assert!(theirs.documents.is_empty());
    // Still there for its owner.
    assert_eq!(lib.document(&doc.id).await.status, DocumentStatus::Done);
    let anonymous = lib
        .app
        .client
        .get(lib.app.url("/v1/documents"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
}

/// Where a test keeps its blobs.
#[derive(Clone, Copy)]
enum Blobs {
    Local,
    S3,
}

impl Blobs {
    /// Settings for a bucket of its own, or none for the test's folder.
    async fn config(self) -> Option<documents::config::BlobConfig> {
        match self {
            Blobs::Local => None,
            Blobs::S3 => Some(common::s3::fresh_bucket().await),
        }
    }
}

async fn delete_leaves_nothing(db: Db, blobs: Blobs) {
    let blobs = blobs.config().await;
    let lib = start(TestDb::new(db).await, |c| {
        if let Some(blobs) = blobs {
            c.documents.blobs = blobs;
        }
    })
    .await;
    let kept = lib.upload(tiff(1), "kept.tiff").await;
    let doc = lib.upload(tiff(2), "gone.tiff").await;
    lib.wait_done(&doc.id).await;
    lib.wait_done(&kept.id).await;
    assert!(
        lib.library().rows_of(&doc.id).await.unwrap() > 1,
        "the document and its pages"
    );
    let r = lib.delete_as(&lib.token, &doc.id).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        lib.get(&format!("/v1/documents/{}", doc.id)).await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(lib.library().rows_of(&doc.id).await.unwrap(), 0);
    let keys = lib.library().blobs().keys(None).await.unwrap();
    assert_eq!(keys, [format!("documents/{}/original", kept.id)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_leaves_no_row_and_no_object_behind_on_sqlite_and_a_folder() {
    delete_leaves_nothing(Db::Sqlite, Blobs::Local).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_leaves_no_row_and_no_object_behind_on_postgres_and_s3() {
    delete_leaves_nothing(Db::Postgres, Blobs::S3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_document_deleted_while_it_is_read_stops_being_read() {
    let lib = start(TestDb::new(Db::Sqlite).await, |c| {
        c.documents.workers = Some(1)
    })
    .await;
    let doc = lib.upload(tiff(8), "long.tiff").await;
    lib.wait_for(&doc.id, |d| d.pages_done >= 1).await;
    let r = lib.delete_as(&lib.token, &doc.id).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let at_delete = lib.recognized();
    // The pages being read (the one waited for and those started ahead
    // of it) may finish; no page after them is read.
    let in_flight = 1 + documents::config::DocumentsConfig::default().pages_ahead as u64;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        lib.recognized() <= at_delete + in_flight,
        "{} pages after the delete",
        lib.recognized() - at_delete
    );
    assert!(lib.recognized() < 8);
    assert_eq!(lib.library().rows_of(&doc.id).await.unwrap(), 0);
    assert!(lib.library().blobs().keys(None).await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_uploads_get_the_answers_of_ocr_and_leave_nothing_stored() {
    let lib = start(TestDb::new(Db::Sqlite).await, |_| {}).await;
    let broken_pdf =
        b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF".to_vec();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty", Vec::new()),
        ("not a document", b"hello, this is plain text".to_vec()),
        ("a bomb", fixtures::png_claiming(100_000, 100_000)),
        ("a broken PDF", broken_pdf),
    ];
    for (what, bytes) in cases {
        let form = Form::new().part("file", Part::bytes(bytes.clone()).file_name("x"));
        let ocr = lib
            .app
            .client
            .post(lib.app.url("/v1/ocr"))
            .bearer_auth(&lib.token)
            .multipart(form)
            .send()
            .await
            .unwrap();
        let ocr_status = ocr.status();
        let ocr_problem: Value = ocr.json().await.unwrap();
        let r = lib.upload_as(&lib.token, bytes, "x").await;
        assert_eq!(r.status(), ocr_status, "{what}");
        assert!(r.status().is_client_error(), "{what}: {}", r.status());
        let problem: Value = r.json().await.unwrap();
        assert_eq!(problem["type"], ocr_problem["type"], "{what}");
    }
    let bad_option = lib
        .app
        .client
        .post(lib.app.url("/v1/documents?languages=klingon"))
        .bearer_auth(&lib.token)
        .body(tiff(1))
        .send()
        .await
        .unwrap();
    assert_eq!(bad_option.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let list: DocumentList = lib.get("/v1/documents").await.json().await.unwrap();
    assert!(list.documents.is_empty());
    assert!(lib.library().blobs().keys(None).await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quotas_answer_413_and_429_with_the_figures() {
    let one_page = tiff(1);
    let size = one_page.len() as u64;
    let lib = start(TestDb::new(Db::Sqlite).await, |c| {
        c.documents.quota_documents = 2;
        c.documents.quota_bytes = size * 2 + size / 2;
    })
    .await;
    lib.upload(one_page.clone(), "a.tiff").await;
    let big = lib.upload_as(&lib.token, tiff(2), "b.tiff").await;
    assert_eq!(big.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let problem: Value = big.json().await.unwrap();
    assert!(
        problem["type"].as_str().unwrap().ends_with("quota-bytes"),
        "{problem}"
    );
    assert_eq!(problem["limit"], size * 2 + size / 2);
    lib.upload(one_page.clone(), "c.tiff").await;
    let third = lib.upload_as(&lib.token, one_page, "d.tiff").await;
    assert_eq!(third.status(), StatusCode::TOO_MANY_REQUESTS);
    let problem: Value = third.json().await.unwrap();
    assert!(
        problem["type"]
            .as_str()
            .unwrap()
            .ends_with("quota-documents"),
        "{problem}"
    );
    assert_eq!(problem["limit"], 2);
    assert_eq!(lib.library().blobs().keys(None).await.unwrap().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_library_lists_newest_first_in_pages_and_by_status() {
    let lib = start(TestDb::new(Db::Sqlite).await, |_| {}).await;
    let mut ids = Vec::new();
    for n in 0..3 {
        ids.push(lib.upload(tiff(1), &format!("{n}.tiff")).await.id);
    }
    for id in &ids {
        lib.wait_done(id).await;
    }
    let first: DocumentList = lib.get("/v1/documents?limit=2").await.json().await.unwrap();
    let names: Vec<&str> = first.documents.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(names, ["2.tiff", "1.tiff"]);
    let cursor = first.next_cursor.expect("a next page");
    let rest: DocumentList = lib
        .get(&format!("/v1/documents?limit=2&cursor={cursor}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(rest.documents.len(), 1);
    assert_eq!(rest.documents[0].name, "0.tiff");
    assert_eq!(rest.next_cursor, None);
    let done: DocumentList = lib
        .get("/v1/documents?status=done")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(done.documents.len(), 3);
    let failed: DocumentList = lib
        .get("/v1/documents?status=failed")
        .await
        .json()
        .await
        .unwrap();
    assert!(failed.documents.is_empty());
    for bad in ["cursor=nope", "limit=0", "limit=101", "status=finished"] {
        let r = lib.get(&format!("/v1/documents?{bad}")).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{bad}");
    }
    let not_ready = lib.upload(tiff(8), "slow.tiff").await;
    let early = lib
        .get(&format!("/v1/documents/{}/text", not_ready.id))
        .await;
    if lib.document(&not_ready.id).await.status != DocumentStatus::Done {
        assert_eq!(early.status(), StatusCode::CONFLICT);
    }
}

/// One replica of the library as its own process.
struct Replica {
    proc: common::process::Proc,
    url: String,
}

impl Replica {
    async fn metric(&self, client: &reqwest::Client, name: &str) -> f64 {
        let page = client
            .get(format!("{}/metrics", self.url))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        common::process::metric(&page, name)
    }
}

/// Two processes on one PostgreSQL database and one S3 bucket: twenty
/// documents uploaded to either are each read once; the process reading a
/// long document is killed (`kill -9`) and the other finishes it once the
/// lease runs out, without reading again what was stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_read_each_document_once_and_take_over_from_a_killed_one() {
    use common::process::{free_port, service, wait_for};
    let blobs = common::s3::fresh_bucket().await;
    let secret = |s: &Option<secrecy::SecretString>| {
        secrecy::ExposeSecret::expose_secret(s.as_ref().unwrap()).to_owned()
    };
    let env = vec![
        (
            "SCRIPTORIUM_AUTH__DATABASE_URL",
            common::postgres::fresh_database().await,
        ),
        (
            "SCRIPTORIUM_DOCUMENTS__DATABASE_URL",
            common::postgres::fresh_database().await,
        ),
        ("SCRIPTORIUM_DOCUMENTS__BLOBS__KIND", "s3".to_owned()),
        ("SCRIPTORIUM_DOCUMENTS__BLOBS__BUCKET", blobs.bucket.clone()),
        (
            "SCRIPTORIUM_DOCUMENTS__BLOBS__ENDPOINT",
            blobs.endpoint.clone().unwrap(),
        ),
        (
            "SCRIPTORIUM_DOCUMENTS__BLOBS__ACCESS_KEY_ID",
            secret(&blobs.access_key_id),
        ),
        (
            "SCRIPTORIUM_DOCUMENTS__BLOBS__SECRET_ACCESS_KEY",
            secret(&blobs.secret_access_key),
        ),
        ("SCRIPTORIUM_DOCUMENTS__LEASE_SECS", "3".to_owned()),
        ("SCRIPTORIUM_DOCUMENTS__POLL_MS", "200".to_owned()),
        ("SCRIPTORIUM_DOCUMENTS__WORKERS", "1".to_owned()),
        ("SCRIPTORIUM_OCR__WORKERS", "1".to_owned()),
        ("SCRIPTORIUM_SERVER__LOG_FORMAT", "json".to_owned()),
    ];
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let mut replicas = Vec::new();
    // One after the other: the second finds the first's signing key.
    for _ in 0..2 {
        let port = free_port();
        let proc = service("auth,ocr,documents", port, &env);
        let url = format!("http://127.0.0.1:{port}");
        wait_for(&client, &format!("{url}/readyz")).await;
        replicas.push(Replica { proc, url });
    }
    let credentials = serde_json::json!({ "username": "shared", "password": common::PASSWORD });
    let r = client
        .post(format!("{}/auth/register", replicas[0].url))
        .json(&credentials)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let login: Value = client
        .post(format!("{}/auth/login", replicas[1].url))
        .json(&credentials)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = login["access_token"].as_str().unwrap().to_owned();
    let upload = |url: String, n: usize, pages: usize| {
        let client = client.clone();
        let token = token.clone();
        async move {
            let form = Form::new().part(
                "file",
                Part::bytes(tiff_from(n, pages)).file_name(format!("{n}.tiff")),
            );
            let r = client
                .post(format!("{url}/v1/documents"))
                .bearer_auth(&token)
                .multipart(form)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::ACCEPTED);
            r.json::<Document>().await.unwrap()
        }
    };
    let document = |url: &str, id: &str| {
        let request = client
            .get(format!("{url}/v1/documents/{id}"))
            .bearer_auth(&token)
            .send();
        async move { request.await.unwrap().json::<Document>().await.unwrap() }
    };

    let mut ids = Vec::new();
    for n in 0..20 {
        ids.push(upload(replicas[n % 2].url.clone(), n + 1, 1).await.id);
    }
    let deadline = Instant::now() + Duration::from_secs(180);
    for (n, id) in ids.iter().enumerate() {
        // Each replica answers for every document.
        loop {
            let doc = document(&replicas[(n + 1) % 2].url, id).await;
            if doc.status == DocumentStatus::Done {
                break;
            }
            assert_ne!(doc.status, DocumentStatus::Failed, "{doc:?}");
            assert!(Instant::now() < deadline, "{doc:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let mut engine_calls = Vec::new();
    for replica in &replicas {
        engine_calls.push(replica.metric(&client, "ocr_pages_total").await);
    }
    assert_eq!(
        engine_calls.iter().sum::<f64>(),
        20.0,
        "engine calls per replica: {engine_calls:?}"
    );
    assert!(
        engine_calls.iter().all(|&n| n > 0.0),
        "both replicas read: {engine_calls:?}"
    );

    // A long document; whichever replica stores its pages is killed.
    let stored_before: Vec<f64> = {
        let mut v = Vec::new();
        for replica in &replicas {
            v.push(replica.metric(&client, "documents_pages_total").await);
        }
        v
    };
    let long = upload(replicas[0].url.clone(), 100, 10).await;
    let holder = loop {
        let mut found = None;
        for (i, replica) in replicas.iter().enumerate() {
            if replica.metric(&client, "documents_pages_total").await > stored_before[i] {
                found = Some(i);
            }
        }
        if let Some(i) = found {
            break i;
        }
        assert!(Instant::now() < deadline, "nobody reads the long document");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    replicas[holder].proc.kill();
    let survivor = &replicas[1 - holder];
    let at_kill = document(&survivor.url, &long.id).await;
    assert!(at_kill.pages_done < 10, "killed too late: {at_kill:?}");
    let deadline = Instant::now() + Duration::from_secs(120);
    let done = loop {
        let doc = document(&survivor.url, &long.id).await;
        if doc.status == DocumentStatus::Done {
            break doc;
        }
        assert!(Instant::now() < deadline, "{doc:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(done.pages_done, 10);
    let stored =
        survivor.metric(&client, "documents_pages_total").await - stored_before[1 - holder];
    assert_eq!(
        stored,
        f64::from(10 - at_kill.pages_done),
        "the survivor stored only the pages the killed replica had not"
    );
    let json: wire::ocr::Document = client
        .get(format!("{}/v1/documents/{}/json", survivor.url, long.id))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let numbers: Vec<usize> = json.pages.iter().map(|p| p.page).collect();
    assert_eq!(numbers, (1..=10).collect::<Vec<_>>());
    for p in &json.pages {
        reads_like(&p.text, 99 + p.page);
    }
}

/// Run a poppler tool on `pdf` and return what it prints.
fn poppler(tool: &str, args: &[&str], pdf: &std::path::Path) -> String {
    let out = std::process::Command::new(tool)
        .args(args)
        .arg(pdf)
        // pdftotext writes to standard output when told "-".
        .args(["-"].iter().filter(|_| tool == "pdftotext"))
        .output()
        .unwrap_or_else(|e| panic!("{tool} (poppler-utils): {e}"));
    assert!(
        out.status.success(),
        "{tool}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Each page's size in points, as `pdfinfo` reads it.
fn page_sizes(pdf: &std::path::Path) -> Vec<(f64, f64)> {
    poppler("pdfinfo", &["-f", "1", "-l", "1000"], pdf)
        .lines()
        .filter(|l| l.starts_with("Page") && l.contains("size:"))
        .map(|l| {
            let size = l.split("size:").nth(1).unwrap();
            let v: Vec<f64> = size
                .split_whitespace()
                .filter_map(|t| t.parse().ok())
                .take(2)
                .collect();
            (v[0], v[1])
        })
        .collect()
}

/// Page `n`'s words and their boxes in points, as `pdftotext -bbox` places them.
fn placed_words(pdf: &std::path::Path, n: usize) -> Vec<(String, [f64; 4])> {
    let page = n.to_string();
    let html = poppler("pdftotext", &["-bbox", "-f", &page, "-l", &page], pdf);
    html.split("<word ")
        .skip(1)
        .map(|w| {
            let attr = |name: &str| -> f64 {
                let at = w.find(&format!("{name}=\"")).unwrap() + name.len() + 2;
                w[at..].split('"').next().unwrap().parse().unwrap()
            };
            let text = w.split('>').nth(1).unwrap().split('<').next().unwrap();
            let text = text.replace("&amp;", "&").replace("&apos;", "'");
            (
                text,
                [attr("xMin"), attr("yMin"), attr("xMax"), attr("yMax")],
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_searchable_pdf_gives_the_recognized_words_where_they_are() {
    let lib = start(TestDb::new(Db::Sqlite).await, |_| {}).await;
    let dir = tempfile::tempdir().unwrap();
    let typed = ["A born digital page", "kept exactly as it was"];
    let scan = {
        let lines = lines(1);
        let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
        fixtures::render_on(&refs, 50.0, Some((2480, 3508)))
    };
    let mut jpeg = Vec::new();
    scan.write_to(&mut Cursor::new(&mut jpeg), image::ImageFormat::Jpeg)
        .unwrap();
    let original = fixtures::pdf(&[
        fixtures::PdfPageSpec::Text(typed.iter().map(|l| l.to_string()).collect()),
        fixtures::PdfPageSpec::Jpeg {
            data: jpeg,
            width: scan.width(),
            height: scan.height(),
        },
    ]);
    let doc = lib.upload(original.clone(), "mixed.pdf").await;
    lib.wait_done(&doc.id).await;
    let read = lib.json(&doc.id).await;
    let r = lib.get(&format!("/v1/documents/{}/pdf", doc.id)).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "application/pdf");
    assert!(r.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .contains("mixed.searchable.pdf"));
    let made = r.bytes().await.unwrap();
    let (given, out) = (dir.path().join("given.pdf"), dir.path().join("out.pdf"));
    std::fs::write(&given, &original).unwrap();
    std::fs::write(&out, &made).unwrap();

    assert_eq!(page_sizes(&out), page_sizes(&given));
    // The born-digital page keeps its own text, once.
    let first = poppler("pdftotext", &["-f", "1", "-l", "1"], &out);
    assert_eq!(first.matches("born digital").count(), 1, "{first}");
    // The scanned page reads as OCR read it, each word on its box.
    let second = poppler("pdftotext", &["-f", "2", "-l", "2"], &out);
    let e = fixtures::cer(&second, &read.pages[1].text);
    assert!(e < 0.02, "CER {e}: {second}\n---\n{}", read.pages[1].text);
    let placed = placed_words(&out, 2);
    let px_per_pt = f64::from(read.pages[1].width) / page_sizes(&out)[1].0;
    let mut compared = 0;
    for word in read.pages[1].words() {
        // The nearest placed word of the same text (words repeat).
        let off = placed
            .iter()
            .filter(|(text, _)| *text == word.text)
            .map(|(_, at)| {
                (0..4)
                    .map(|i| (at[i] * px_per_pt - f64::from(word.bbox[i])).abs())
                    .fold(0.0, f64::max)
            })
            .min_by(f64::total_cmp);
        let Some(off) = off else { continue };
        assert!(
            off <= 4.0,
            "{} at {:?} px is {off:.1} px off",
            word.text,
            word.bbox
        );
        compared += 1;
    }
    assert!(compared >= 10, "only {compared} words placed");

    // Made once, kept beside the original, gone with the document.
    let again = lib.get(&format!("/v1/documents/{}/pdf", doc.id)).await;
    assert_eq!(again.bytes().await.unwrap(), made);
    let keys = lib.library().blobs().keys(None).await.unwrap();
    assert!(
        keys.contains(&format!("documents/{}/searchable.pdf", doc.id)),
        "{keys:?}"
    );
    assert_eq!(
        lib.delete_as(&lib.token, &doc.id).await.status(),
        StatusCode::NO_CONTENT
    );
    assert!(lib.library().blobs().keys(None).await.unwrap().is_empty());

    // Images become pages at the reading's resolution, with their words.
    let doc = lib.upload(tiff(2), "two.tiff").await;
    lib.wait_done(&doc.id).await;
    let read = lib.json(&doc.id).await;
    let made = lib
        .get(&format!("/v1/documents/{}/pdf", doc.id))
        .await
        .bytes()
        .await
        .unwrap();
    std::fs::write(&out, &made).unwrap();
    let sizes = page_sizes(&out);
    assert_eq!(sizes.len(), 2);
    for (i, page) in read.pages.iter().enumerate() {
        let want = (
            f64::from(page.width) * 72.0 / 300.0,
            f64::from(page.height) * 72.0 / 300.0,
        );
        assert!((sizes[i].0 - want.0).abs() < 1.0 && (sizes[i].1 - want.1).abs() < 1.0);
        let n = (i + 1).to_string();
        let text = poppler("pdftotext", &["-f", &n, "-l", &n], &out);
        let e = fixtures::cer(&text, &page.text);
        assert!(e < 0.02, "page {n}: CER {e}: {text}");
    }
    // Each page shows its image, at the pixels that were read.
    let images: Vec<(usize, u32, u32)> = poppler("pdfimages", &["-list"], &out)
        .lines()
        .skip(2)
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (
                f[0].parse().unwrap(),
                f[3].parse().unwrap(),
                f[4].parse().unwrap(),
            )
        })
        .collect();
    let want: Vec<_> = read
        .pages
        .iter()
        .map(|p| (p.page, p.width, p.height))
        .collect();
    assert_eq!(images, want);
}

/// Pages 1 to 3 as a Deflate TIFF whose second page's compressed pixels
/// are overwritten: its header reads, its pixels do not.
fn tiff_with_a_damaged_page() -> Vec<u8> {
    use tiff::encoder::{colortype, compression::Deflate, TiffEncoder};
    let mut out = Cursor::new(Vec::new());
    let mut enc = TiffEncoder::new(&mut out).unwrap();
    for n in 1..=3 {
        let img = page(n);
        enc.write_image_with_compression::<colortype::Gray8, _>(
            img.width(),
            img.height(),
            Deflate::default(),
            img.as_raw(),
        )
        .unwrap();
    }
    let mut bytes = out.into_inner();
    let mut dec = tiff::decoder::Decoder::new(Cursor::new(bytes.clone())).unwrap();
    dec.seek_to_image(1).unwrap();
    let offsets = dec.get_tag_u64_vec(tiff::tags::Tag::StripOffsets).unwrap();
    let counts = dec
        .get_tag_u64_vec(tiff::tags::Tag::StripByteCounts)
        .unwrap();
    for (at, count) in offsets.iter().zip(&counts) {
        // Past the two-byte zlib header: the stream itself is garbage.
        let (from, to) = (*at as usize + 2, (*at + *count) as usize);
        bytes[from..to].fill(0xA5);
    }
    bytes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_page_fails_alone_and_the_rest_of_the_document_is_kept() {
    let lib = start(TestDb::new(Db::Sqlite).await, |_| {}).await;
    let doc = lib.upload(tiff_with_a_damaged_page(), "damaged.tiff").await;
    let done = lib.wait_done(&doc.id).await;
    assert_eq!((done.pages_done, done.pages_total), (3, Some(3)));
    let read = lib.json(&doc.id).await;
    let damaged = &read.pages[1];
    assert!(damaged.error.is_some(), "{damaged:?}");
    assert!(damaged.text.is_empty());
    for n in [1, 3] {
        let page = &read.pages[n - 1];
        assert_eq!(page.error, None);
        reads_like(&page.text, n);
    }
}

/// How far apart two grey pictures are: mean absolute difference per
/// pixel, `b` scaled to `a`'s size.
fn apart(a: &GrayImage, b: &GrayImage) -> f64 {
    let b = image::imageops::resize(
        b,
        a.width(),
        a.height(),
        image::imageops::FilterType::Triangle,
    );
    let sum: u64 = a
        .pixels()
        .zip(b.pixels())
        .map(|(p, q)| u64::from(p.0[0].abs_diff(q.0[0])))
        .sum();
    sum as f64 / f64::from(a.width() * a.height())
}

/// A page's picture: upright as it was read (a page scanned sideways is
/// turned back), in the frame of its boxes, made once and kept with the
/// document, private, gone with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_page_is_pictured_upright_in_the_frame_of_its_boxes() {
    let lib = start(TestDb::new(Db::Sqlite).await, |_| {}).await;
    let lines = fixtures::sentences(20, 8, 8);
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    let upright = fixtures::render(&refs, 40.0);
    let sideways = image::imageops::rotate90(&upright);
    let mut png = Cursor::new(Vec::new());
    sideways
        .write_to(&mut png, image::ImageFormat::Png)
        .unwrap();
    let doc = lib.upload(png.into_inner(), "sideways.png").await;
    lib.wait_done(&doc.id).await;
    let read = &lib.json(&doc.id).await.pages[0];
    assert_eq!(read.rotation, 90, "read turned back");
    let recognized = lib.recognized();

    let path = format!("/v1/documents/{}/pages/1/image", doc.id);
    let r = lib.get(&path).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "image/jpeg");
    let jpeg = r.bytes().await.unwrap();
    let shown = image::load_from_memory(&jpeg).unwrap().to_luma8();
    assert!(shown.width().max(shown.height()) <= 1600);
    let ratio = (f64::from(shown.width()) / f64::from(shown.height()))
        / (f64::from(read.width) / f64::from(read.height));
    assert!(
        (0.99..1.01).contains(&ratio),
        "{}x{} for a {}x{} page",
        shown.width(),
        shown.height(),
        read.width,
        read.height
    );
    // Upright: close to the page as it was written, far from it turned over.
    let turned_over = image::imageops::rotate180(&upright);
    let (near, far) = (apart(&shown, &upright), apart(&shown, &turned_over));
    assert!(
        near * 2.0 < far,
        "{near:.1} from upright, {far:.1} from turned over"
    );

    // Made once: the same bytes again, kept beside the original, and no
    // page recognized for it.
    assert_eq!(lib.get(&path).await.bytes().await.unwrap(), jpeg);
    assert_eq!(lib.recognized(), recognized);
    let keys = lib.library().blobs().keys(None).await.unwrap();
    assert!(
        keys.contains(&format!("documents/{}/pages/1.jpg", doc.id)),
        "{keys:?}"
    );

    // No such page, no page number, another user: 404.
    for bad in ["2", "0", "x"] {
        let r = lib
            .get(&format!("/v1/documents/{}/pages/{bad}/image", doc.id))
            .await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "page {bad}");
        assert_eq!(r.headers()["content-type"], "application/problem+json");
    }
    let other = lib.app.signed_up("someone-else").await;
    let r = lib
        .app
        .get_auth(&path, other["access_token"].as_str().unwrap())
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    assert_eq!(
        lib.delete_as(&lib.token, &doc.id).await.status(),
        StatusCode::NO_CONTENT
    );
    assert!(lib.library().blobs().keys(None).await.unwrap().is_empty());
}

/// Split mode: a library process without OCR reads pages through OCR's
/// HTTP API with its own API key, one page per call; OCR keeps nothing,
/// and the uploader gets OCR's own answer about a bad upload.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_library_without_ocr_reads_its_pages_through_ocrs_api() {
    let db = TestDb::new(Db::Sqlite).await;
    let ocr = common::TestApp::start_targets(db.config(), &"auth,ocr".parse().unwrap()).await;
    ocr.wait_ready().await;
    let account = ocr.signed_up("library-reader").await;
    let key = ocr
        .create_api_key(account["access_token"].as_str().unwrap(), "library")
        .await;

    let mut config = db.config();
    config.tokens.auth_url = Some(ocr.addr.clone());
    config.documents.ocr_url = Some(ocr.addr.clone());
    let documents: scriptorium::targets::Targets = "documents".parse().unwrap();
    let refused = scriptorium::startup::Application::build(config.clone(), &documents).await;
    let why = refused.err().expect("no key, no library").to_string();
    assert!(why.contains("OCR_API_KEY"), "{why}");
    config.documents.ocr_api_key = Some(key["secret"].as_str().unwrap().to_owned().into());
    let app = common::TestApp::start_targets(config, &documents).await;
    let ready = app.wait_ready().await;
    assert_eq!(ready["checks"]["documents"], "ok", "{ready}");
    assert!(app.ocr.is_none(), "no OCR engine in the library's process");
    let user = ocr.signed_up("reader").await;
    let lib = Library {
        token: user["access_token"].as_str().unwrap().to_owned(),
        app,
        db,
    };

    let doc = lib.upload(tiff(2), "remote.tiff").await;
    assert_eq!(doc.pages_total, Some(2), "counted by OCR");
    let done = lib.wait_done(&doc.id).await;
    assert_eq!(done.pages_done, 2);
    let engines = ocr.ocr.as_ref().unwrap();
    assert_eq!(engines.pages_recognized(), 2, "each page read once, there");
    let json = lib.json(&doc.id).await;
    let numbers: Vec<usize> = json.pages.iter().map(|p| p.page).collect();
    assert_eq!(numbers, [1, 2]);
    for p in &json.pages {
        reads_like(&p.text, p.page);
        assert!(p.words().count() >= 10, "words with boxes");
    }

    // The searchable PDF is made by OCR from the stored pages.
    let r = lib.get(&format!("/v1/documents/{}/pdf", doc.id)).await;
    assert_eq!(r.status(), StatusCode::OK);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.pdf");
    std::fs::write(&out, r.bytes().await.unwrap()).unwrap();
    assert_eq!(page_sizes(&out).len(), 2);
    let second = poppler("pdftotext", &["-f", "2", "-l", "2"], &out);
    reads_like(&second, 2);
    assert_eq!(engines.pages_recognized(), 2, "the PDF reads nothing again");

    // A page's picture is made by OCR too, and reads nothing.
    let r = lib
        .get(&format!("/v1/documents/{}/pages/2/image", doc.id))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "image/jpeg");
    let shown = image::load_from_memory(&r.bytes().await.unwrap()).unwrap();
    let read = &json.pages[1];
    if read.width.max(read.height) <= 1600 {
        assert_eq!((shown.width(), shown.height()), (read.width, read.height));
    } else {
        assert_eq!(shown.width().max(shown.height()), 1600);
    }
    assert_eq!(engines.pages_recognized(), 2, "the picture reads nothing");

    // OCR's verdict on a bad upload, passed on as it was given.
    let r = lib.upload_as(&lib.token, b"plain text".to_vec(), "x").await;
    assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let problem: Value = r.json().await.unwrap();
    assert!(
        problem["type"]
            .as_str()
            .unwrap()
            .ends_with("/unsupported-media-type"),
        "{problem}"
    );
    let list: DocumentList = lib.get("/v1/documents").await.json().await.unwrap();
    assert_eq!(list.documents.len(), 1, "the refused upload is not kept");
}
