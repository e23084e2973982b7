//! The document library as the tests drive it: the platform on a test
//! database, a signed-up user, and requests of the library's API.

use std::time::{Duration, Instant};

use reqwest::multipart::{Form, Part};
use reqwest::StatusCode;
use scriptorium::configuration::Config;
use wire::documents::{Document, DocumentStatus};

use super::{TestApp, TestDb};

pub fn targets() -> scriptorium::targets::Targets {
    "auth,ocr,documents".parse().unwrap()
}

pub struct Library {
    pub app: TestApp,
    pub token: String,
    pub db: TestDb,
}

/// The library on `db`, ready.
pub async fn serve(db: &TestDb, tweak: impl FnOnce(&mut Config)) -> TestApp {
    let mut config = db.config();
    tweak(&mut config);
    let app = TestApp::start_targets(config, &targets()).await;
    let ready = app.wait_ready().await;
    assert_eq!(ready["checks"]["documents"], "ok", "{ready}");
    app
}

/// The library on a new `db`, and a user of it.
pub async fn start(db: TestDb, tweak: impl FnOnce(&mut Config)) -> Library {
    let app = serve(&db, tweak).await;
    let t = app.signed_up("reader").await;
    Library {
        token: t["access_token"].as_str().unwrap().to_owned(),
        app,
        db,
    }
}

impl Library {
    pub async fn upload_as(&self, token: &str, bytes: Vec<u8>, name: &str) -> reqwest::Response {
        let form = Form::new().part("file", Part::bytes(bytes).file_name(name.to_owned()));
        self.app
            .client
            .post(self.app.url("/v1/documents?languages=eng%2Bfra"))
            .bearer_auth(token)
            .multipart(form)
            .send()
            .await
            .unwrap()
    }

    pub async fn upload(&self, bytes: Vec<u8>, name: &str) -> Document {
        let r = self.upload_as(&self.token, bytes, name).await;
        assert_eq!(r.status(), StatusCode::ACCEPTED);
        let location = r.headers()["location"].to_str().unwrap().to_owned();
        let doc: Document = r.json().await.unwrap();
        assert_eq!(location, format!("/v1/documents/{}", doc.id));
        doc
    }

    pub async fn delete_as(&self, token: &str, id: &str) -> reqwest::Response {
        self.app
            .client
            .delete(self.app.url(&format!("/v1/documents/{id}")))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.app.get_auth(path, &self.token).await
    }

    pub async fn document(&self, id: &str) -> Document {
        let r = self.get(&format!("/v1/documents/{id}")).await;
        assert_eq!(r.status(), StatusCode::OK);
        r.json().await.unwrap()
    }

    /// The document's pages as read (`/json`).
    pub async fn json(&self, id: &str) -> wire::ocr::Document {
        let r = self.get(&format!("/v1/documents/{id}/json")).await;
        assert_eq!(r.status(), StatusCode::OK);
        r.json().await.unwrap()
    }

    /// Poll until `done` says so of the document.
    pub async fn wait_for(&self, id: &str, done: impl Fn(&Document) -> bool) -> Document {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let doc = self.document(id).await;
            if done(&doc) {
                return doc;
            }
            assert!(Instant::now() < deadline, "still {doc:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn wait_done(&self, id: &str) -> Document {
        let doc = self
            .wait_for(id, |d| {
                matches!(d.status, DocumentStatus::Done | DocumentStatus::Failed)
            })
            .await;
        assert_eq!(doc.status, DocumentStatus::Done, "{doc:?}");
        doc
    }

    pub fn recognized(&self) -> u64 {
        self.app.ocr.as_ref().unwrap().pages_recognized()
    }

    pub fn library(&self) -> &documents::Library {
        self.app.library.as_ref().unwrap()
    }
}
