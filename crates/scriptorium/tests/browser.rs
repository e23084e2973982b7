//! The console in a real headless Chromium (Debian's `chromium` and
//! `chromium-driver`), driven over WebDriver. The console runs on its own
//! (`--target web`), a plain client of the APIs in another process, as it
//! runs in Kubernetes. Screenshots of every page go to
//! `target/tmp/screenshots/` for review.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::browser::browser;
use common::{Db, TestApp, TestDb, PASSWORD};
use fantoccini::Locator;

/// The console's session key in these tests.
const KEY: &str = "a-console-key-for-the-browser-tests";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_in_a_real_browser() {
    let db = TestDb::new(Db::Sqlite).await;
    let apis = TestApp::start_targets(db.config(), &"auth,ocr".parse().unwrap()).await;
    let app = TestApp::console_for(&apis, &db, KEY).await;
    let b = browser().await;
    let url = |p: &str| app.url(p);

    // Register.
    b.client.goto(&url("/register")).await.unwrap();
    b.shot("register").await;
    b.fill("#username", "Ada").await;
    b.fill("#password", PASSWORD).await;
    b.press("form.card button[type=submit]").await;
    b.at("/login?registered=1").await;
    b.shot("login-after-register").await;

    // The same name again: "this username is taken" next to the field.
    b.client.goto(&url("/register")).await.unwrap();
    b.fill("#username", "ADA").await;
    b.fill("#password", PASSWORD).await;
    b.press("form.card button[type=submit]").await;
    assert_eq!(b.text("#username-error").await, "This username is taken.");
    b.shot("register-taken").await;

    // /home while signed out goes to /login, and back to /home after it.
    b.client.goto(&url("/home")).await.unwrap();
    b.at("/login?next=%2Fhome").await;
    b.fill("#username", "ada").await;
    b.fill("#password", PASSWORD).await;
    b.press("form.card button[type=submit]").await;
    b.at("/home").await;
    assert_eq!(b.text("#greeting").await, "Hello, Ada!");
    b.shot("home").await;

    // An API key from the settings page, used with curl.
    b.client.goto(&url("/settings")).await.unwrap();
    b.fill("#name", "curl").await;
    b.press("form.card button[type=submit]").await;
    let secret = b.text("#secret").await;
    b.shot("settings-new-key").await;
    let out = Command::new("curl")
        .args([
            "-s",
            "-H",
            &format!("Authorization: Bearer {secret}"),
            &apis.url("/auth/me"),
        ])
        .output()
        .expect("curl");
    let me: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(me["username"], "Ada");

    // Sign out from the header; /home then sends to /login.
    b.press("header form button").await;
    b.at("/login").await;
    b.client.goto(&url("/home")).await.unwrap();
    b.at("/login?next=%2Fhome").await;

    // A page on another origin posting the login form: refused, since the
    // post carries neither the session cookie (SameSite=Lax) nor the token.
    let evil = format!(
        "<!doctype html><form method=post action='{}'><input name=username value=ada>\
         <input name=password value='{PASSWORD}'></form><script>document.forms[0].submit()</script>",
        url("/login")
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.2:0").await.unwrap();
    let evil_addr = listener.local_addr().unwrap();
    let evil_app = axum::Router::new().route(
        "/",
        axum::routing::get(move || {
            let page = evil.clone();
            async move { axum::response::Html(page) }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, evil_app).await });
    b.client
        .goto(&format!("http://{evil_addr}/"))
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let source = b.client.source().await.unwrap();
        if source.contains("sent from another site") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the forged post was not refused: {source}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    b.shot("forged-post-refused").await;

    b.client.clone().close().await.unwrap();
    app.stop().await;
    apis.stop().await;
}

const MODEL: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../models/smollm2-135m-instruct-q4_1.gguf"
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scan_in_the_library_and_the_streamed_assistant_in_a_real_browser() {
    let db = TestDb::new(Db::Sqlite).await;
    let mut config = db.config();
    config.llm.model = MODEL.into();
    config.llm.context_per_slot = 2048;
    config.documents.ask.answer_tokens = 32;
    // One document read at a time, so that a document uploaded behind
    // another is seen queued, whatever the machine's speed.
    config.documents.workers = Some(1);
    let targets = "auth,ocr,documents,llm".parse().unwrap();
    let apis = TestApp::start_targets(config, &targets).await;
    apis.wait_ready().await;
    apis.register("Grace", PASSWORD).await;
    let app = TestApp::console_for(&apis, &db, KEY).await;
    let b = browser().await;
    let url = |p: &str| app.url(p);

    b.client.goto(&url("/library")).await.unwrap();
    b.at("/login?next=%2Flibrary").await;
    b.fill("#username", "grace").await;
    b.fill("#password", PASSWORD).await;
    b.press("form.card button[type=submit]").await;
    b.at("/library").await;

    // A generated scan through the file picker.
    let dir = tempfile::tempdir().unwrap();
    let scan = dir.path().join("scan.png");
    // A full page of text, so that reading it takes long enough for the
    // list to show it being read before it shows it read.
    let mut lines = vec!["Meeting notes".to_owned(), "Budget approved".to_owned()];
    lines.extend(fixtures::sentences(1, 34, 9));
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    fixtures::render_on(&refs, 44.0, Some((2480, 3508)))
        .save(&scan)
        .unwrap();
    // Six scanned pages of Grace's, sent through the API just before, keep
    // the one reader busy: the scan is queued behind them.
    let login: serde_json::Value = apis.login("grace", PASSWORD).await.json().await.unwrap();
    let token = login["access_token"].as_str().unwrap();
    let report: Vec<String> = (1..=6)
        .map(|n| format!("Quarterly report, page {n}"))
        .collect();
    let pages: Vec<_> = report
        .iter()
        .map(|line| fixtures::scanned_page(&[line.as_str(), "Nothing else to say"]))
        .collect();
    let r = apis
        .client
        .post(apis.url("/v1/documents?name=report.pdf"))
        .bearer_auth(token)
        .header("content-type", "application/pdf")
        .body(fixtures::pdf(&pages))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), reqwest::StatusCode::ACCEPTED);
    b.client
        .find(Locator::Css("#file"))
        .await
        .unwrap()
        .send_keys(&scan.display().to_string())
        .await
        .unwrap();
    b.press("#upload button[type=submit]").await;
    b.at("/library").await;
    b.shot("library-uploaded").await;
    // The list shows the document being read, then read, in place: what
    // is typed in the search box meanwhile stays (no reload).
    let first = b.text("#documents td.status").await;
    assert!(first == "queued" || first == "processing", "{first}");
    b.fill("#q", "budget").await;
    let deadline = Instant::now() + Duration::from_secs(60);
    while b.text("#documents td.status").await != "done" {
        assert!(Instant::now() < deadline, "the list never showed it read");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(b.text("#documents td.pages").await, "1 / 1");
    let typed = b.client.find(Locator::Css("#q")).await.unwrap();
    assert_eq!(
        typed.prop("value").await.unwrap().as_deref(),
        Some("budget")
    );
    b.at("/library").await;
    b.press("#documents td a").await;
    // The document page refreshes itself until the text is there.
    let text = b
        .client
        .wait()
        .at_most(Duration::from_secs(60))
        .for_element(Locator::Css("#page-1 pre"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("Budget"), "the page shows the text: {text}");
    assert!(
        !b.client
            .find_all(Locator::Css("#page-1 svg.overlay image"))
            .await
            .unwrap()
            .is_empty(),
        "the scan lies under its words"
    );
    assert!(
        !b.client
            .find_all(Locator::Css("#page-1 svg.overlay rect.word"))
            .await
            .unwrap()
            .is_empty(),
        "the words are drawn over the page"
    );
    b.shot("library-document").await;

    b.client.goto(&url("/chat")).await.unwrap();
    b.at("/chat").await;
    // A question streamed into the page by its script.
    b.fill("#message", "Was the budget approved?").await;
    b.press("#send").await;
    let deadline = Instant::now() + Duration::from_secs(60);
    let answer = loop {
        let streamed = b
            .client
            .find_all(Locator::Css(
                ".turn.assistant .text[data-streamed=\"true\"]",
            ))
            .await
            .unwrap();
        if let Some(el) = streamed.first() {
            let busy = el.attr("aria-busy").await.unwrap();
            let text = el.text().await.unwrap();
            if busy.is_none() && !text.trim().is_empty() {
                break text;
            }
        }
        assert!(Instant::now() < deadline, "no streamed answer");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(!answer.trim().is_empty());
    b.shot("chat-streamed").await;

    // The streamed answer was kept in the conversation.
    b.client.goto(&url("/chat")).await.unwrap();
    let source = b.client.source().await.unwrap();
    assert!(source.contains("Was the budget approved?"));

    b.client.clone().close().await.unwrap();
    app.stop().await;
    apis.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_library_and_a_streamed_question_in_a_real_browser() {
    let db = TestDb::new(Db::Sqlite).await;
    let mut config = db.config();
    config.llm.model = MODEL.into();
    config.llm.context_per_slot = 2048;
    let targets = "auth,ocr,documents,llm".parse().unwrap();
    let apis = TestApp::start_targets(config, &targets).await;
    apis.wait_ready().await;
    apis.register("Ada", PASSWORD).await;
    let login: serde_json::Value = apis.login("ada", PASSWORD).await.json().await.unwrap();
    let token = login["access_token"].as_str().unwrap();
    let id = apis
        .stored_text(
            token,
            "notes.pdf",
            &["The cellar key is kept in the blue box behind the bakery."],
        )
        .await;
    let app = TestApp::console_for(&apis, &db, KEY).await;

    let b = browser().await;
    let url = |p: &str| app.url(p);
    b.client.goto(&url("/library?q=cellar")).await.unwrap();
    b.fill("#username", "ada").await;
    b.fill("#password", PASSWORD).await;
    b.press("form.card button[type=submit]").await;
    b.at("/library?q=cellar").await;
    assert_eq!(b.text(".snippet mark").await, "cellar");
    b.shot("library-search").await;

    // The question is answered as it is written, then the page shows the
    // answer with the page it cites.
    b.client.goto(&url("/ask")).await.unwrap();
    b.fill("#question", "Where is the cellar key kept?").await;
    b.press("#send").await;
    let deadline = Instant::now() + Duration::from_secs(60);
    while !b.path().await.starts_with("/ask?c=") {
        assert!(Instant::now() < deadline, "no answer page");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let metrics = app.text("/metrics").await;
    assert!(
        metrics.contains("route=\"/ask/stream\",status=\"200\""),
        "the page's script streamed the answer"
    );
    let cited = b.text("#latest ol.citations a").await;
    assert!(cited.starts_with("notes.pdf"), "{cited}");
    b.shot("ask-answered").await;
    b.press("#latest ol.citations a").await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while !b
        .path()
        .await
        .starts_with(&format!("/library/{id}?page=1&mark="))
    {
        assert!(Instant::now() < deadline, "the citation's page");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The cited lines are marked on the page.
    assert!(!b
        .client
        .find_all(Locator::Css("#page-1 svg.overlay rect.marked"))
        .await
        .unwrap()
        .is_empty());
    b.shot("citation-marked").await;
    assert!(b.text("#page-1 pre").await.contains("blue box"));

    b.client.clone().close().await.unwrap();
    app.stop().await;
    apis.stop().await;
}
