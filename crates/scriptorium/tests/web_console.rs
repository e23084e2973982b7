//! The console's pages over real HTTP with a cookie jar, as a browser would
//! submit the forms: sign-up, sign-in and sign-out, API keys, the documents
//! page (upload, progress, text, word overlay, downloads, "ask about this
//! document") and the assistant, whole and streamed, against the real OCR
//! engine and model.

mod common;

use std::io::Cursor;
use std::time::{Duration, Instant};

use common::{Db, TestApp, TestDb, PASSWORD};
use futures::StreamExt;
use image::GenericImageView;
use reqwest::multipart::{Form, Part};
use reqwest::redirect::Policy;
use reqwest::{Client, StatusCode};

fn browser() -> Client {
    Client::builder()
        .cookie_store(true)
        .redirect(Policy::none())
        .build()
        .unwrap()
}

/// The CSRF token of the first form on a page.
fn csrf(html: &str) -> String {
    let start = html.find("name=\"csrf\" value=\"").expect("a CSRF field") + 19;
    html[start..].split('"').next().unwrap().to_owned()
}

async fn page(c: &Client, app: &TestApp, path: &str) -> (StatusCode, String) {
    let r = c.get(app.url(path)).send().await.unwrap();
    (r.status(), r.text().await.unwrap())
}

async fn post(c: &Client, app: &TestApp, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
    c.post(app.url(path)).form(form).send().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_login_home_logout() {
    let db = TestDb::new(Db::Sqlite).await;
    let app = TestApp::spawn(&db).await;
    let c = browser();

    // Signed out, /home sends to the login page and remembers where to go.
    let r = c.get(app.url("/home")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], "/login?next=%2Fhome");

    let r = c.get(app.url("/register")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let first_cookie = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    let html = r.text().await.unwrap();
    let token = csrf(&html);
    let r = post(
        &c,
        &app,
        "/register",
        &[
            ("username", "Rosalind"),
            ("password", PASSWORD),
            ("csrf", &token),
        ],
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], "/login?registered=1");

    // The same name in another case: "this username is taken", input kept.
    let r = post(
        &c,
        &app,
        "/register",
        &[
            ("username", "ROSALIND"),
            ("password", PASSWORD),
            ("csrf", &token),
        ],
    )
    .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let html = r.text().await.unwrap();
    assert!(html.contains("This username is taken."));
    assert!(html.contains("value=\"ROSALIND\""));
    assert!(!html.contains(PASSWORD), "the password is never sent back");

    // Field errors next to their fields.
    let r = post(
        &c,
        &app,
        "/register",
        &[("username", "ab"), ("password", "short"), ("csrf", &token)],
    )
    .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    assert!(html.contains("id=\"username-error\"") && html.contains("id=\"password-error\""));

    // A wrong password: one generic message, the username kept.
    let (_, html) = page(&c, &app, "/login?next=%2Fhome").await;
    let token = csrf(&html);
    let r = post(
        &c,
        &app,
        "/login",
        &[
            ("username", "rosalind"),
            ("password", "not-the-password"),
            ("csrf", &token),
            ("next", "/home"),
        ],
    )
    .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let html = r.text().await.unwrap();
    assert!(html.contains("Wrong username or password."));
    assert!(html.contains("value=\"rosalind\""));

    let r = post(
        &c,
        &app,
        "/login",
        &[
            ("username", "rosalind"),
            ("password", PASSWORD),
            ("csrf", &token),
            ("next", "/home"),
        ],
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], "/home");
    let set = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        set.starts_with("session=") && set.contains("HttpOnly") && set.contains("SameSite=Lax")
    );
    let id = |c: &str| c.split(';').next().unwrap().to_owned();
    assert_ne!(id(&set), id(&first_cookie), "a new session id at login");

    let (status, html) = page(&c, &app, "/home").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Hello, Rosalind!"), "{html}");

    // Sign out with the form in the header; /home then sends to /login.
    let token = csrf(&html);
    let r = post(&c, &app, "/logout", &[("csrf", &token)]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], "/login");
    let r = c.get(app.url("/home")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_posts_are_refused_and_french_is_spoken() {
    let db = TestDb::new(Db::Sqlite).await;
    let app = TestApp::spawn(&db).await;
    app.register("sam", PASSWORD).await;

    // Another site posting the login form: no session, no token.
    let forger = browser();
    let r = post(
        &forger,
        &app,
        "/login",
        &[("username", "sam"), ("password", PASSWORD)],
    )
    .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(r.text().await.unwrap().contains("sent from another site"));
    // A session but a wrong token.
    let c = browser();
    page(&c, &app, "/login").await;
    let r = post(
        &c,
        &app,
        "/login",
        &[
            ("username", "sam"),
            ("password", PASSWORD),
            ("csrf", "guess"),
        ],
    )
    .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    let r = c
        .get(app.url("/login"))
        .header("accept-language", "fr-FR,fr;q=0.9,en;q=0.5")
        .send()
        .await
        .unwrap();
    let html = r.text().await.unwrap();
    assert!(html.contains("<html lang=\"fr\">") && html.contains("Connexion"));
    // The switch sets a cookie that wins over the header.
    let r = c
        .get(app.url("/lang/en?next=%2Flogin"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["location"], "/login");
    let r = c
        .get(app.url("/login"))
        .header("accept-language", "fr")
        .send()
        .await
        .unwrap();
    assert!(r.text().await.unwrap().contains("Sign in"));
    // Off-site `next` values are ignored.
    let r = c
        .get(app.url("/lang/fr?next=%2F%2Fevil.example"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["location"], "/home");
    app.stop().await;
}

/// Where a redirect goes; it must have a `Location`.
fn location(r: &reqwest::Response) -> &str {
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let value = r.headers().get("location").expect("a Location");
    value.to_str().expect("a visible-ASCII Location")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_language_switch_never_redirects_off_site() {
    let db = TestDb::new(Db::Sqlite).await;
    let app = TestApp::spawn(&db).await;
    let c = browser();
    // Browsers drop a tab: `/\t/evil.example` is `//evil.example` to
    // them. A vertical tab used to give a 303 without a Location.
    for next in ["%2F%09%2Fevil.example", "%2F%0B%2Fevil.example"] {
        let r = c
            .get(app.url(&format!("/lang/en?next={next}")))
            .send()
            .await
            .unwrap();
        assert_eq!(location(&r), "/home", "{next}");
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_in_never_redirects_off_site() {
    let db = TestDb::new(Db::Sqlite).await;
    let app = TestApp::spawn(&db).await;
    let c = signed_in(&app, "ines", "/home").await;
    for next in ["/\t/evil.example", "/\x0b/evil.example"] {
        // Each sign-in is a new session with its own form token.
        let (_, html) = page(&c, &app, "/home").await;
        let token = csrf(&html);
        let r = post(
            &c,
            &app,
            "/login",
            &[
                ("username", "ines"),
                ("password", PASSWORD),
                ("csrf", &token),
                ("next", next),
            ],
        )
        .await;
        assert_eq!(location(&r), "/home", "{next:?}");
    }
    // Already signed in, the login page sends on at once.
    let r = c
        .get(app.url("/login?next=%2F%0B%2Fevil.example"))
        .send()
        .await
        .unwrap();
    assert_eq!(location(&r), "/home");
    app.stop().await;
}

fn between<'a>(html: &'a str, start: &str, end: &str) -> &'a str {
    let i = html
        .find(start)
        .unwrap_or_else(|| panic!("{start} in page"))
        + start.len();
    html[i..].split(end).next().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_keys_from_the_settings_page() {
    let db = TestDb::new(Db::Sqlite).await;
    let app = TestApp::spawn(&db).await;
    app.register("tess", PASSWORD).await;
    let c = browser();
    let r = c.get(app.url("/settings")).send().await.unwrap();
    assert_eq!(r.headers()["location"], "/login?next=%2Fsettings");

    let (_, html) = page(&c, &app, "/login").await;
    let r = post(
        &c,
        &app,
        "/login",
        &[
            ("username", "tess"),
            ("password", PASSWORD),
            ("csrf", &csrf(&html)),
            ("next", "/settings"),
        ],
    )
    .await;
    assert_eq!(r.headers()["location"], "/settings");
    let (status, html) = page(&c, &app, "/settings").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("No keys yet."));
    let token = csrf(&html);

    let r = post(
        &c,
        &app,
        "/settings/keys",
        &[("name", "laptop"), ("days", "forever"), ("csrf", &token)],
    )
    .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("id=\"days-error\""));

    let r = post(
        &c,
        &app,
        "/settings/keys",
        &[("name", "laptop"), ("days", "30"), ("csrf", &token)],
    )
    .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let html = r.text().await.unwrap();
    let secret = between(&html, "<code id=\"secret\" class=\"secret\">", "<").to_owned();
    assert!(secret.starts_with("sk-"), "{secret}");
    assert!(
        html.contains(&format!("api_key=\"{secret}\"")),
        "an openai example"
    );

    // The key works like any API key, as curl would send it.
    let me: serde_json::Value = app
        .get_auth("/auth/me", &secret)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["username"], "tess");

    // Listed without the secret; revoked from the page.
    let (_, html) = page(&c, &app, "/settings").await;
    assert!(html.contains("laptop") && !html.contains(&secret));
    let id = between(&html, "action=\"/settings/keys/", "/revoke\"").to_owned();
    let r = post(
        &c,
        &app,
        &format!("/settings/keys/{id}/revoke"),
        &[("csrf", &token)],
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        app.get_auth("/auth/me", &secret).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let (_, html) = page(&c, &app, "/settings").await;
    assert!(html.contains("revoked"));

    // Without the form's token, nothing is created.
    let r = post(&c, &app, "/settings/keys", &[("name", "sneaky")]).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_examples_ignore_the_host_header() {
    let db = TestDb::new(Db::Sqlite).await;
    let app = TestApp::spawn(&db).await;
    let c = signed_in(&app, "hal", "/settings").await;
    let (_, html) = page(&c, &app, "/settings").await;
    let r = c
        .post(app.url("/settings/keys"))
        .header("host", "evil.example")
        .form(&[("name", "laptop"), ("days", ""), ("csrf", &csrf(&html))])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let html = r.text().await.unwrap();
    assert!(
        !html.contains("evil.example"),
        "the Host header is in the page"
    );
    // `web.public_url` is unset: the listener's own address (the page
    // escapes the slashes of `http://`).
    let listener = app.addr.strip_prefix("http://").unwrap();
    assert!(html.contains(&format!("{listener}/auth/me")), "{html}");
    app.stop().await;
}

async fn signed_in(app: &TestApp, name: &str, next: &str) -> Client {
    app.register(name, PASSWORD).await;
    logged_in(app, name, next).await
}

/// A browser signed in on the console `app` as `name`, an existing user.
async fn logged_in(app: &TestApp, name: &str, next: &str) -> Client {
    let c = browser();
    let (_, html) = page(&c, app, "/login").await;
    let r = post(
        &c,
        app,
        "/login",
        &[
            ("username", name),
            ("password", PASSWORD),
            ("csrf", &csrf(&html)),
            ("next", next),
        ],
    )
    .await;
    assert_eq!(r.headers()["location"], next);
    c
}

const MODEL: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../models/smollm2-135m-instruct-q4_1.gguf"
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_assistant_page_talks_to_the_model_with_the_users_token() {
    let db = TestDb::new(Db::Sqlite).await;
    let mut config = db.config();
    config.llm.model = MODEL.into();
    config.llm.context_per_slot = 1024;
    config.documents.ask.answer_tokens = 24;
    let targets = "auth,ocr,documents,llm,web".parse().unwrap();
    let app = TestApp::start_targets(config.clone(), &targets).await;
    app.wait_ready().await;

    let anonymous = browser();
    let r = anonymous.get(app.url("/chat")).send().await.unwrap();
    assert_eq!(r.headers()["location"], "/login?next=%2Fchat");

    let c = signed_in(&app, "ada", "/chat").await;
    let (status, html) = page(&c, &app, "/chat").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("id=\"empty\""));
    let token = csrf(&html);

    // An empty message is answered on the page, not sent.
    let r = post(&c, &app, "/chat", &[("message", "  "), ("csrf", &token)]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("id=\"chat-error\""));

    let r = post(
        &c,
        &app,
        "/chat",
        &[
            ("message", "What is the capital of France?"),
            ("csrf", &token),
        ],
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.unwrap();
    assert!(html.contains("What is the capital of France?"));
    let reply = between(&html, "<div class=\"turn assistant\">", "</div>");
    let text = between(reply, "<p class=\"text\">", "</p>");
    assert!(!text.trim().is_empty(), "an answer: {reply}");

    // The request went to the asking API, and from there to the LLM API,
    // as this user.
    let metrics = app.text("/metrics").await;
    for route in ["/v1/ask", "/v1/chat/completions"] {
        assert!(
            metrics.contains(&format!("route=\"{route}\",status=\"200\"")),
            "the console used {route}"
        );
    }

    // A second turn keeps the first; starting over clears both.
    let r = post(
        &c,
        &app,
        "/chat",
        &[("message", "And of Italy?"), ("csrf", &token)],
    )
    .await;
    let html = r.text().await.unwrap();
    assert_eq!(html.matches("class=\"turn user\"").count(), 2);

    // The conversation is the documents service's: a restart keeps it,
    // and the Ask page does not list it among the library's.
    app.stop().await;
    let app = TestApp::start_targets(config, &targets).await;
    let (_, html) = page(&c, &app, "/chat").await;
    assert_eq!(html.matches("class=\"turn user\"").count(), 2, "{html}");
    assert!(html.contains("And of Italy?"));
    let (_, html) = page(&c, &app, "/ask").await;
    assert!(!html.contains("What is the capital of France?"), "{html}");
    let token = csrf(&html);
    let r = post(&c, &app, "/chat/clear", &[("csrf", &token)]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (_, html) = page(&c, &app, "/chat").await;
    assert!(html.contains("id=\"empty\""));

    // A forged post is refused.
    let r = post(&c, &app, "/chat", &[("message", "hi"), ("csrf", "forged")]).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_assistant_page_says_so_when_the_model_is_missing() {
    let db = TestDb::new(Db::Sqlite).await;
    let mut config = db.config();
    config.llm.model = "/nonexistent/model.gguf".into();
    let targets = "auth,ocr,documents,llm,web".parse().unwrap();
    let app = TestApp::start_targets(config, &targets).await;
    let c = signed_in(&app, "grace", "/chat").await;
    let (_, html) = page(&c, &app, "/chat").await;
    let r = post(
        &c,
        &app,
        "/chat",
        &[("message", "hello"), ("csrf", &csrf(&html))],
    )
    .await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    let html = r.text().await.unwrap();
    assert!(html.contains("The assistant is not available right now."));
    // The message is kept to send again.
    assert!(html.contains(">hello</textarea>"));
}

fn png(lines: &[&str]) -> Vec<u8> {
    let img = fixtures::render(lines, 56.0);
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

/// The picture at `path` on the console: a JPEG that is kept a while.
async fn pictured(c: &Client, app: &TestApp, path: &str) -> image::DynamicImage {
    let r = c.get(app.url(path)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{path}");
    assert_eq!(r.headers()["content-type"], "image/jpeg");
    assert!(r.headers()["cache-control"]
        .to_str()
        .unwrap()
        .contains("private"));
    image::load_from_memory(&r.bytes().await.unwrap()).expect("a JPEG")
}

/// The ids of the documents the library page lists, in its order.
fn listed(html: &str) -> Vec<String> {
    let row = "<tr data-id=\"";
    let ids: Vec<String> = html
        .split(row)
        .skip(1)
        .map(|rest| rest.split('"').next().unwrap().to_owned())
        .collect();
    assert!(!ids.is_empty(), "no document listed: {html}");
    ids
}

/// Upload one file to the library through the console and follow its page
/// until the text is there: (document id, the document page).
async fn read(c: &Client, app: &TestApp, file: Vec<u8>, name: &str) -> (String, String) {
    let (_, html) = page(c, app, "/library").await;
    let form = Form::new()
        .text("csrf", csrf(&html))
        .text("languages", "eng")
        .part("file", Part::bytes(file).file_name(name.to_owned()));
    let r = c
        .post(app.url("/library/upload"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (_, html) = page(c, app, "/library").await;
    // Newest first.
    let id = listed(&html).remove(0);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, html) = page(c, app, &format!("/library/{id}")).await;
        assert_eq!(status, StatusCode::OK);
        if html.contains("id=\"page-1\"") {
            return (id, html);
        }
        assert!(Instant::now() < deadline, "not read: {html}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_document_page_draws_the_words_over_the_scan() {
    let db = TestDb::new(Db::Sqlite).await;
    let targets = "auth,ocr,documents,web".parse().unwrap();
    let app = TestApp::start_targets(db.config(), &targets).await;
    app.wait_ready().await;
    let c = signed_in(&app, "ada", "/library").await;

    // The reading page of old leads to the library, which keeps what it
    // reads.
    for old in ["/ocr", "/ocr/0190a1b2/source"] {
        let r = c.get(app.url(old)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::MOVED_PERMANENTLY, "{old}");
        assert_eq!(r.headers()["location"], "/library");
    }

    let scan = png(&["Quarterly report", "Revenue grew strongly"]);
    let (id, html) = read(&c, &app, scan.clone(), "scan.png").await;
    let text = between(&html, "<pre class=\"text\">", "</pre>");
    let found = fixtures::cer(text.trim(), "Quarterly report\nRevenue grew strongly");
    assert!(found < 0.1, "character error rate {found}: {text}");
    // The words over the page's picture, with their confidences.
    let picture = format!("/library/{id}/pages/1/image");
    assert!(
        html.contains(&format!("<image href=\"{picture}\"")),
        "{html}"
    );
    assert!(html.matches("<rect class=\"word ").count() >= 5);
    assert!(
        html.contains("Revenue · "),
        "a word's confidence in its title"
    );
    let shown = pictured(&c, &app, &picture).await;
    let scanned = image::load_from_memory(&scan).unwrap();
    assert_eq!(shown.dimensions(), scanned.dimensions());
    let r = c
        .get(app.url(&format!("/library/{id}/download/original")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["content-type"], "image/png");
    assert_eq!(r.bytes().await.unwrap().as_ref(), scan.as_slice());

    // hOCR and JSON downloads, sandboxed.
    let get = |kind: &str| {
        c.get(app.url(&format!("/library/{id}/download/{kind}")))
            .send()
    };
    let r = get("hocr").await.unwrap();
    assert_eq!(
        r.headers()["content-security-policy"],
        "default-src 'none'; sandbox"
    );
    let hocr = r.text().await.unwrap();
    assert!(hocr.contains("ocrx_word") && hocr.contains("Quarterly"));
    let json: serde_json::Value = get("json").await.unwrap().json().await.unwrap();
    assert_eq!(json["pages"][0]["page"], 1);

    // A born-digital PDF's page is rendered under its words too, in the
    // frame of its boxes, and its words are not written over it again.
    let letter = fixtures::pdf(&[fixtures::PdfPageSpec::Text(vec![
        "Rendered under its words.".into(),
    ])]);
    let (pdf_id, html) = read(&c, &app, letter, "letter.pdf").await;
    let picture_of_pdf = format!("/library/{pdf_id}/pages/1/image");
    assert!(
        html.contains(&format!("<image href=\"{picture_of_pdf}\"")),
        "{html}"
    );
    assert!(!html.contains("<rect class=\"paper\""), "{html}");
    assert!(!html.contains(">words.</text>"), "{html}");
    let shown = pictured(&c, &app, &picture_of_pdf).await;
    let json: serde_json::Value = c
        .get(app.url(&format!("/library/{pdf_id}/download/json")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let (w, h) = (
        json["pages"][0]["width"].as_f64().unwrap(),
        json["pages"][0]["height"].as_f64().unwrap(),
    );
    let (sw, sh) = shown.dimensions();
    assert!(sw.max(sh) <= 1600, "{sw}x{sh}");
    let ratio = (f64::from(sw) / f64::from(sh)) / (w / h);
    assert!((0.99..1.01).contains(&ratio), "{sw}x{sh} against {w}x{h}");
    // Its text is drawn: the picture has ink.
    let ink = shown.to_luma8().pixels().filter(|p| p.0[0] < 128).count();
    assert!(ink > 50, "{ink} dark pixels");

    // Another user sees neither the page nor its picture.
    let mallory = signed_in(&app, "mallory", "/library").await;
    let (status, _) = page(&mallory, &app, &format!("/library/{id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let r = mallory.get(app.url(&picture)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    app.stop().await;
}

/// Read a server-sent event stream to its end: (text pieces, last event).
async fn events(r: reqwest::Response) -> (Vec<String>, String) {
    let body = String::from_utf8(r.bytes().await.unwrap().to_vec()).unwrap();
    let mut pieces = Vec::new();
    let mut last = String::new();
    for event in body.split("\n\n").filter(|e| !e.is_empty()) {
        let name = event
            .lines()
            .find_map(|l| l.strip_prefix("event: "))
            .unwrap_or("message");
        let data = event
            .lines()
            .find_map(|l| l.strip_prefix("data: "))
            .unwrap();
        let data: String = serde_json::from_str(data).unwrap();
        if name == "message" {
            pieces.push(data);
        }
        last = name.to_owned();
    }
    (pieces, last)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_assistant_streams_and_a_stop_keeps_what_was_shown() {
    let db = TestDb::new(Db::Sqlite).await;
    let mut config = db.config();
    config.llm.model = MODEL.into();
    config.llm.context_per_slot = 2048;
    config.documents.ask.answer_tokens = 24;
    let targets = "auth,ocr,documents,llm,web".parse().unwrap();
    let app = TestApp::start_targets(config, &targets).await;
    app.wait_ready().await;
    let c = signed_in(&app, "ada", "/chat").await;
    let (_, html) = page(&c, &app, "/chat").await;
    let token = csrf(&html);

    // The next question streams: several pieces, then the end.
    let r = c
        .post(app.url("/chat/stream"))
        .form(&[("csrf", token.as_str()), ("message", "What is the total?")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "text/event-stream");
    let (pieces, last) = events(r).await;
    assert!(pieces.len() > 1, "streamed in pieces: {pieces:?}");
    assert_eq!(last, "done");
    let (_, html) = page(&c, &app, "/chat").await;
    assert!(html.contains("What is the total?"));
    assert!(html.contains(pieces.concat().trim()));
    assert_eq!(html.matches("class=\"turn assistant\"").count(), 1);

    // Stopping (closing the stream) keeps what was shown.
    let r = c
        .post(app.url("/chat/stream"))
        .form(&[
            ("csrf", token.as_str()),
            ("message", "Tell me a long story"),
        ])
        .send()
        .await
        .unwrap();
    let mut body = r.bytes_stream();
    let first = body.next().await.unwrap().unwrap();
    assert!(first.starts_with(b"data: "));
    drop(body);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, html) = page(&c, &app, "/chat").await;
        if html.contains("Tell me a long story") {
            assert_eq!(html.matches("class=\"turn assistant\"").count(), 2);
            break;
        }
        assert!(Instant::now() < deadline, "the stopped answer was not kept");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Refusals come as one failure event with the page's message.
    let r = c
        .post(app.url("/chat/stream"))
        .form(&[("csrf", "forged"), ("message", "hi")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let (pieces, last) = events(r).await;
    assert!(pieces.is_empty());
    assert_eq!(last, "failure");
    let r = c
        .post(app.url("/chat/stream"))
        .form(&[("csrf", token.as_str()), ("message", " ")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);

    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_holds_on_every_console_replica_and_across_a_restart() {
    let db = TestDb::new(Db::Sqlite).await;
    let apis = TestApp::spawn_with(&db, |c| {
        c.server.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    })
    .await;
    let key = "a-console-key-shared-by-its-replicas";
    let one = TestApp::console_for(&apis, &db, key).await;
    let two = TestApp::console_for(&apis, &db, key).await;

    // Signed in on one replica, the user is signed in on the other; the
    // pages alternate between them.
    apis.register("ada", PASSWORD).await;
    let c = logged_in(&one, "ada", "/home").await;
    for app in [&two, &one, &two] {
        let (status, html) = page(&c, app, "/home").await;
        assert_eq!(status, StatusCode::OK, "{}", app.addr);
        assert!(html.contains("Hello, ada!"));
    }
    // A form of one replica posts to the other: an API key, made over HTTP.
    let (status, html) = page(&c, &one, "/settings").await;
    assert_eq!(status, StatusCode::OK, "{html}");
    let r = post(
        &c,
        &two,
        "/settings/keys",
        &[("name", "ci"), ("days", ""), ("csrf", &csrf(&html))],
    )
    .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert!(r.text().await.unwrap().contains("sk-"));

    // A restart signs nobody out.
    one.stop().await;
    let one = TestApp::console_for(&apis, &db, key).await;
    let (status, html) = page(&c, &one, "/home").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Hello, ada!"));

    // A console with another key opens none of these sessions.
    let other = TestApp::console_for(&apis, &db, "another-key-of-at-least-32-bytes!").await;
    let r = c.get(other.url("/home")).send().await.unwrap();
    assert_eq!(r.headers()["location"], "/login?next=%2Fhome");

    // Signing out on one replica ends the session on all of them: the
    // refresh tokens are revoked and the cookie is cleared.
    let (status, html) = page(&c, &two, "/home").await;
    assert_eq!(status, StatusCode::OK, "{html}");
    let r = post(&c, &two, "/logout", &[("csrf", &csrf(&html))]).await;
    assert_eq!(r.headers()["location"], "/login");
    let r = c.get(one.url("/home")).send().await.unwrap();
    assert_eq!(r.headers()["location"], "/login?next=%2Fhome");

    for app in [one, two, other, apis] {
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_sees_the_visitor_behind_a_console_of_its_own() {
    let db = TestDb::new(Db::Sqlite).await;
    let apis = TestApp::spawn_with(&db, |c| {
        c.server.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    })
    .await;
    let console = TestApp::console_for(&apis, &db, "a-console-key-shared-by-its-replicas").await;
    apis.register("grace", PASSWORD).await;

    let c = browser();
    let visitor = "203.0.113.7";
    let r = c
        .get(console.url("/login"))
        .header("x-forwarded-for", visitor)
        .send()
        .await
        .unwrap();
    let token = csrf(&r.text().await.unwrap());
    let r = c
        .post(console.url("/login"))
        .header("x-forwarded-for", visitor)
        .header("x-request-id", "console-login-1")
        .form(&[
            ("username", "grace"),
            ("password", PASSWORD),
            ("csrf", &token),
            ("next", "/home"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["location"], "/home");

    let events = apis.auth().store().audit_events(10).await.unwrap();
    let login = events
        .iter()
        .find(|e| e.event == "login_success")
        .expect("a login in the audit log");
    assert_eq!(login.ip.as_deref(), Some(visitor), "{login:?}");
    assert_eq!(login.request_id.as_deref(), Some("console-login-1"));

    console.stop().await;
    apis.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_library_pages_search_and_ask_with_citations() {
    let db = TestDb::new(Db::Sqlite).await;
    let mut config = db.config();
    config.llm.model = MODEL.into();
    config.llm.context_per_slot = 2048;
    let targets = "auth,ocr,documents,llm,web".parse().unwrap();
    let app = TestApp::start_targets(config, &targets).await;
    app.wait_ready().await;

    let anonymous = browser();
    let r = anonymous.get(app.url("/library")).send().await.unwrap();
    assert_eq!(r.headers()["location"], "/login?next=%2Flibrary");

    let c = signed_in(&app, "clio", "/library").await;
    let t: serde_json::Value = app.login("clio", PASSWORD).await.json().await.unwrap();
    let token = t["access_token"].as_str().unwrap();
    let id = app
        .stored_text(
            token,
            "notes.pdf",
            &["The cellar key is kept in the blue box behind the bakery."],
        )
        .await;

    // The list and the search box, the matched word marked.
    let (status, html) = page(&c, &app, "/library?q=cellars").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains(">notes.pdf</a>"), "{html}");
    assert!(html.contains("<mark>cellar</mark>"), "{html}");
    let link = format!("/library/{}?page=1&amp;mark=", id);
    assert!(html.contains(&link), "{html}");
    // The hit's link marks the matched word on its page, and only there.
    let href = between(&html, &format!("href=\"/library/{id}?"), "#").replace("&amp;", "&");
    let (_, marked) = page(&c, &app, &format!("/library/{id}?{href}")).await;
    let on_page = between(&marked, "id=\"page-1\"", "</section>");
    assert_eq!(on_page.matches("class=\"marked\"").count(), 1, "{on_page}");
    let (_, html) = page(&c, &app, "/library?q=\"unclosed").await;
    assert!(html.contains("id=\"no-hits\""), "{html}");

    // The document's pages.
    let (status, html) = page(&c, &app, &format!("/library/{}", id)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("id=\"page-1\""));
    assert!(html.contains("blue box behind the bakery"));
    let (status, _) = page(&c, &app, "/library/no-such-document").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Asking: an empty question is answered on the page; a real one is
    // answered with the page it rests on, in a conversation kept by the
    // documents service.
    let (_, html) = page(&c, &app, &format!("/ask?document={}", id)).await;
    assert!(
        html.contains(&format!("name=\"doc:{}\" checked", id)),
        "{html}"
    );
    let form_token = csrf(&html);
    let r = post(
        &c,
        &app,
        "/ask",
        &[("question", " "), ("csrf", &form_token)],
    )
    .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("id=\"ask-error\""));
    let chosen = format!("doc:{}", id);
    let r = post(
        &c,
        &app,
        "/ask",
        &[
            ("question", "Where is the cellar key kept?"),
            ("conversation", ""),
            (&chosen, "on"),
            ("csrf", &form_token),
        ],
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let to = r.headers()["location"].to_str().unwrap().to_owned();
    assert!(to.starts_with("/ask?c="), "{to}");
    let (_, html) = page(&c, &app, to.split('#').next().unwrap()).await;
    assert!(html.contains("Where is the cellar key kept?"));
    let latest = between(&html, "id=\"latest\"", "</div>");
    assert!(latest.contains(&link), "{latest}");
    // The citation's link marks the passage's lines on its page.
    let href = between(latest, &format!("href=\"/library/{id}?"), "#").replace("&amp;", "&");
    let (_, cited) = page(&c, &app, &format!("/library/{id}?{href}")).await;
    assert!(cited.contains("<rect class=\"marked\""), "{cited}");
    assert!(
        latest.contains("<blockquote>The cellar key is kept"),
        "{latest}"
    );
    let metrics = app.text("/metrics").await;
    assert!(
        metrics.contains("route=\"/v1/ask\",status=\"200\""),
        "the console used the API"
    );

    // Streamed, as the page's script asks: pieces, then the page to open,
    // in the same conversation.
    let conversation = to.trim_start_matches("/ask?c=").split('#').next().unwrap();
    let r = post(
        &c,
        &app,
        "/ask/stream",
        &[
            ("question", "What colour is the box?"),
            ("conversation", conversation),
            ("csrf", &form_token),
        ],
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let body = r.text().await.unwrap();
    let blocks: Vec<&str> = body.split("\n\n").filter(|b| !b.is_empty()).collect();
    assert!(blocks.len() >= 2, "{body}");
    assert!(
        blocks[..blocks.len() - 1]
            .iter()
            .all(|b| b.starts_with("data: \"")),
        "pieces first: {body}"
    );
    let done = blocks.last().unwrap();
    assert!(done.starts_with("event: done\n"), "{body}");
    assert!(
        done.contains(&format!("/ask?c={conversation}#latest")),
        "{done}"
    );
    let (_, html) = page(&c, &app, &format!("/ask?c={conversation}")).await;
    assert_eq!(html.matches("class=\"turn user\"").count(), 2);
    let r = post(
        &c,
        &app,
        "/ask/stream",
        &[("question", "hi"), ("csrf", "forged")],
    )
    .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_library_page_uploads_downloads_and_deletes() {
    let db = TestDb::new(Db::Sqlite).await;
    let app = TestApp::start_targets(db.config(), &"auth,ocr,documents,web".parse().unwrap()).await;
    app.wait_ready().await;
    let c = signed_in(&app, "iris", "/library").await;
    let (_, html) = page(&c, &app, "/library").await;
    let token = csrf(&html);
    let letter = fixtures::pdf(&[fixtures::PdfPageSpec::Text(vec![
        "Dear neighbours, the well is dry.".into(),
    ])]);
    let form = Form::new()
        .text("csrf", token.clone())
        .text("languages", "eng+fra")
        .part("file", Part::bytes(letter.clone()).file_name("letter.pdf"))
        .part(
            "file",
            Part::bytes(png(&["A second page"])).file_name("note.png"),
        );
    let r = c
        .post(app.url("/library/upload"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], "/library");
    let (_, html) = page(&c, &app, "/library").await;
    assert!(
        html.contains(">letter.pdf</a>") && html.contains(">note.png</a>"),
        "{html}"
    );

    // A file that is not a document is named with the reason; a forged
    // form stores nothing.
    let form = Form::new().text("csrf", token.clone()).part(
        "file",
        Part::bytes(b"hello".to_vec()).file_name("hello.txt"),
    );
    let r = c
        .post(app.url("/library/upload"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("hello.txt: "));
    let form = Form::new()
        .text("csrf", "forged")
        .part("file", Part::bytes(letter.clone()).file_name("forged.pdf"));
    let r = c
        .post(app.url("/library/upload"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    let id = listed(&html).remove(0);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, html) = page(&c, &app, &format!("/library/{id}")).await;
        if html.contains("id=\"page-1\"") {
            break;
        }
        assert!(Instant::now() < deadline, "{html}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Downloads pass on the API's files.
    let r = c
        .get(app.url(&format!("/library/{id}/download/original")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .contains("attachment"));
    assert!(r.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("sandbox"));
    let original = r.bytes().await.unwrap();
    let r = c
        .get(app.url(&format!("/library/{id}/download/pdf")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "application/pdf");
    let r = c
        .get(app.url(&format!("/library/{id}/download/secrets")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    // Deleting needs the box ticked.
    let r = post(
        &c,
        &app,
        &format!("/library/{id}/delete"),
        &[("csrf", &token)],
    )
    .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let r = post(
        &c,
        &app,
        &format!("/library/{id}/delete"),
        &[("csrf", &token), ("confirm", "on")],
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (status, _) = page(&c, &app, &format!("/library/{id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, html) = page(&c, &app, "/library").await;
    assert_eq!(listed(&html).len(), 1, "{html}");
    assert!(!original.is_empty());
    app.stop().await;
}
