//! Requests of a running service as the tests make them: its address, a
//! client, and the auth API's steps most tests begin with.

use std::time::Duration;

use reqwest::{Response, StatusCode};
use serde_json::{json, Value};

/// The password every test account has.
pub const PASSWORD: &str = "vellum-quill-inkwell-42";

pub struct Api {
    /// `http://127.0.0.1:{port}`.
    pub addr: String,
    pub client: reqwest::Client,
}

impl Api {
    pub fn new(addr: String) -> Self {
        Self {
            addr,
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .expect("a client"),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.addr, path)
    }

    pub async fn post(&self, path: &str, body: Value) -> Response {
        self.client
            .post(self.url(path))
            .json(&body)
            .send()
            .await
            .expect("request sent")
    }

    /// `GET path` with `token`.
    pub async fn get_auth(&self, path: &str, token: &str) -> Response {
        self.client
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("request sent")
    }

    /// `GET path` without a credential.
    async fn get(&self, path: &str) -> Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("request sent")
    }

    /// The body of `GET path` as text (e.g. `/metrics`).
    pub async fn text(&self, path: &str) -> String {
        self.get(path).await.text().await.expect("a text body")
    }

    /// The JSON body of `GET path`.
    pub async fn get_json(&self, path: &str) -> Value {
        self.get(path).await.json().await.expect("a JSON body")
    }

    /// A new API key of the user behind `access`; the creation response.
    pub async fn create_api_key(&self, access: &str, name: &str) -> Value {
        let r = self
            .client
            .post(self.url("/auth/api-keys"))
            .bearer_auth(access)
            .json(&json!({ "name": name }))
            .send()
            .await
            .expect("request sent");
        assert_eq!(r.status(), StatusCode::CREATED);
        r.json().await.expect("a JSON body")
    }

    pub async fn register(&self, username: &str, password: &str) -> Response {
        self.post(
            "/auth/register",
            json!({ "username": username, "password": password }),
        )
        .await
    }

    pub async fn login(&self, username: &str, password: &str) -> Response {
        self.post(
            "/auth/login",
            json!({ "username": username, "password": password }),
        )
        .await
    }

    /// Register and log in; returns the token response.
    pub async fn signed_up(&self, username: &str) -> Value {
        let r = self.register(username, PASSWORD).await;
        assert_eq!(r.status(), StatusCode::CREATED, "register {username}");
        let r = self.login(username, PASSWORD).await;
        assert_eq!(r.status(), StatusCode::OK, "login {username}");
        r.json().await.expect("a JSON body")
    }
}
