//! The console's documents page (upload, progress, text, word overlay,
//! downloads, "ask about this document") and the streamed assistant, over
//! real HTTP with a cookie jar, against the real OCR engine and model.

mod common;

use std::io::Cursor;
use std::time::{Duration, Instant};

use common::{Db, TestApp, TestDb, PASSWORD};
use futures::StreamExt;
use reqwest::multipart::{Form, Part};
use reqwest::redirect::Policy;
use reqwest::{Client, StatusCode};

const MODEL: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../models/smollm2-135m-instruct-q4_1.gguf"
);

fn browser() -> Client {
    Client::builder()
        .cookie_store(true)
        .redirect(Policy::none())
        .build()
        .unwrap()
}

fn csrf(html: &str) -> String {
    let start = html.find("name=\"csrf\" value=\"").expect("a CSRF field") + 19;
    html[start..].split('"').next().unwrap().to_owned()
}

async fn page(c: &Client, app: &TestApp, path: &str) -> (StatusCode, String) {
    let r = c.get(app.url(path)).send().await.unwrap();
    (r.status(), r.text().await.unwrap())
}

async fn signed_in(app: &TestApp, name: &str) -> Client {
    app.register(name, PASSWORD).await;
    let c = browser();
    let (_, html) = page(&c, app, "/login").await;
    let form = [
        ("username", name),
        ("password", PASSWORD),
        ("csrf", &csrf(&html)),
        ("next", "/ocr"),
    ];
    let r = c.post(app.url("/login")).form(&form).send().await.unwrap();
    assert_eq!(r.headers()["location"], "/ocr");
    c
}

fn png(lines: &[&str]) -> Vec<u8> {
    let img = fixtures::render(lines, 56.0);
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

async fn upload(c: &Client, app: &TestApp, csrf: &str, file: Vec<u8>) -> reqwest::Response {
    let form = Form::new()
        .text("csrf", csrf.to_owned())
        .text("languages", "eng")
        .part("file", Part::bytes(file).file_name("scan.png"));
    c.post(app.url("/ocr"))
        .multipart(form)
        .send()
        .await
        .unwrap()
}

/// Upload a page and follow the job page until it is finished.
async fn read(c: &Client, app: &TestApp, file: Vec<u8>) -> (String, String) {
    let (_, html) = page(c, app, "/ocr").await;
    let r = upload(c, app, &csrf(&html), file).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    let id = location
        .strip_prefix("/ocr/")
        .expect("the job page")
        .to_owned();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, html) = page(c, app, &location).await;
        assert_eq!(status, StatusCode::OK);
        if !html.contains("http-equiv=\"refresh\"") {
            return (id, html);
        }
        assert!(html.contains("<progress"), "a progress bar while reading");
        assert!(Instant::now() < deadline, "the job did not finish");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_documents_page_reads_an_upload_with_the_users_token() {
    let db = TestDb::new(Db::Sqlite).await;
    let app = TestApp::spawn(&db).await;
    app.wait_ready().await;

    let anonymous = browser();
    let r = anonymous.get(app.url("/ocr")).send().await.unwrap();
    assert_eq!(r.headers()["location"], "/login?next=%2Focr");

    let c = signed_in(&app, "ada").await;
    let scan = png(&["Quarterly report", "Revenue grew strongly"]);
    let (id, html) = read(&c, &app, scan.clone()).await;
    let text = html
        .split("<pre id=\"ocr-text\" class=\"ocr-text\">")
        .nth(1)
        .and_then(|rest| rest.split("</pre>").next())
        .expect("the text");
    let found = fixtures::cer(text.trim(), "Quarterly report\nRevenue grew strongly");
    assert!(found < 0.1, "character error rate {found}: {text}");
    // The words over the uploaded image, with their confidences.
    assert!(html.contains(&format!("<image href=\"/ocr/{id}/source\"")));
    assert!(html.matches("<rect class=\"word ").count() >= 5);
    assert!(
        html.contains("Revenue · "),
        "a word's confidence in its title"
    );

    // The image comes back to its uploader only.
    let r = c
        .get(app.url(&format!("/ocr/{id}/source")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["content-type"], "image/png");
    assert_eq!(r.bytes().await.unwrap().as_ref(), scan.as_slice());

    // Downloads in three formats.
    let get = |format: &str| {
        c.get(app.url(&format!("/ocr/{id}/download/{format}")))
            .send()
    };
    let r = get("text").await.unwrap();
    assert!(r.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .starts_with("attachment"));
    assert!(r.text().await.unwrap().contains("Revenue"));
    let hocr = get("hocr").await.unwrap().text().await.unwrap();
    assert!(hocr.contains("ocrx_word") && hocr.contains("Quarterly"));
    let json: serde_json::Value = get("json").await.unwrap().json().await.unwrap();
    assert_eq!(json["pages"][0]["page"], 1);
    assert_eq!(get("exe").await.unwrap().status(), StatusCode::NOT_FOUND);

    // Another user sees neither the job nor the image.
    let mallory = signed_in(&app, "mallory").await;
    let (status, html) = page(&mallory, &app, &format!("/ocr/{id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(html.contains("unknown or has expired"));
    let r = mallory
        .get(app.url(&format!("/ocr/{id}/source")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let (status, _) = page(&mallory, &app, "/ocr/..%2F..%2Fauth%2Fme").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Bad uploads get a message on the page, never a 500.
    let (_, html) = page(&c, &app, "/ocr").await;
    let token = csrf(&html);
    let r = upload(&c, &app, &token, b"just some text".to_vec()).await;
    assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(r.text().await.unwrap().contains("id=\"ocr-error\""));
    let r = upload(&c, &app, &token, Vec::new()).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("Choose a file first."));
    // A forged upload is refused.
    let r = upload(&c, &app, "forged", scan).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

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
async fn ask_about_a_document_and_stream_the_answers() {
    let db = TestDb::new(Db::Sqlite).await;
    let mut config = common::test_config(&db.url);
    config.llm.model = MODEL.into();
    config.llm.context_per_slot = 2048;
    config.web.chat_max_tokens = 24;
    let app = TestApp::start_targets(config, &"auth,ocr,llm,web".parse().unwrap()).await;
    app.wait_ready().await;
    let c = signed_in(&app, "ada").await;

    // "Ask about this document": its text goes into the conversation.
    let (id, html) = read(&c, &app, png(&["Invoice 4711", "Total due 250 euros"])).await;
    let r = c
        .post(app.url(&format!("/ocr/{id}/ask")))
        .form(&[("csrf", csrf(&html).as_str()), ("question", "")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["location"], "/chat");
    let (_, html) = page(&c, &app, "/chat").await;
    assert!(html.contains("Here is the text of a document:"));
    assert!(html.contains("Invoice 4711"));
    assert!(html.contains("Summarize this document"));
    assert_eq!(html.matches("class=\"turn assistant\"").count(), 1);
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
    assert_eq!(html.matches("class=\"turn assistant\"").count(), 2);

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
            assert_eq!(html.matches("class=\"turn assistant\"").count(), 3);
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
