//! The auth service's API end to end, on SQLite and on PostgreSQL.

mod common;

use testkit::{both_backends, Db, PASSWORD};

use std::time::Duration;

use common::{TestApp, TestDb};
use reqwest::StatusCode;
use serde_json::{json, Value};
use sqlx::Row;

async fn problem(r: reqwest::Response) -> Value {
    assert_eq!(
        r.headers()["content-type"],
        "application/problem+json",
        "errors are problem documents"
    );
    r.json().await.unwrap()
}

async fn register_201_then_409_in_any_case(db: Db) {
    let db = TestDb::new(db).await;
    let app = TestApp::spawn(&db).await;
    let r = app.register("Alice", PASSWORD).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["username"], "Alice");
    assert!(body["id"].as_str().is_some_and(|s| !s.is_empty()));
    for taken in ["Alice", "alice", "ALICE", "\u{FF21}lice"] {
        let r = app.register(taken, PASSWORD).await;
        assert_eq!(r.status(), StatusCode::CONFLICT, "{taken} is taken");
        let p = problem(r).await;
        assert_eq!(p["type"], "https://scriptorium.dev/problems/username-taken");
    }
    app.stop().await;
}

async fn register_422_with_field_errors(db: Db) {
    let db = TestDb::new(db).await;
    let app = TestApp::spawn(&db).await;
    let cases = [
        ("ab", PASSWORD, "username"),
        (&"a".repeat(33) as &str, PASSWORD, "username"),
        ("bad name", PASSWORD, "username"),
        ("bob", "short", "password"),
        ("bob", "password123", "password"),
        ("bob", &"Zq8#vL2!pW".repeat(13), "password"),
    ];
    for (username, password, field) in cases {
        let r = app.register(username, password).await;
        assert_eq!(
            r.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{username}/{field}"
        );
        let p = problem(r).await;
        let fields: Vec<&str> = p["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["field"].as_str().unwrap())
            .collect();
        assert!(fields.contains(&field), "{fields:?} names {field}");
    }
    // A body of the wrong shape is a 422 problem too, never a panic.
    let r = app.post("/auth/register", json!({ "username": 5 })).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    problem(r).await;
    // Malformed JSON is a 400 problem.
    let r = app
        .client
        .post(app.url("/auth/register"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    problem(r).await;
    app.stop().await;
}

async fn login_401_is_the_same_for_unknown_user_and_wrong_password(db: Db) {
    let db = TestDb::new(db).await;
    let app = TestApp::spawn(&db).await;
    app.signed_up("carol").await;
    let wrong = app.login("carol", "not-the-password-at-all").await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let unknown = app.login("nobody-here", PASSWORD).await;
    assert_eq!(unknown.status(), StatusCode::UNAUTHORIZED);
    let (a, b) = (problem(wrong).await, problem(unknown).await);
    assert_eq!(a, b, "one generic answer for both cases");
    // Case-insensitive login.
    assert_eq!(app.login("CAROL", PASSWORD).await.status(), StatusCode::OK);
    app.stop().await;
}

async fn lockout_429_then_recovery(db: Db) {
    let db = TestDb::new(db).await;
    let app = TestApp::spawn_with(&db, |c| {
        c.auth.throttle.account_max_failures = 3;
        c.auth.throttle.lockout_base_secs = 2;
    })
    .await;
    app.signed_up("dave").await;
    for _ in 0..3 {
        assert_eq!(
            app.login("dave", "wrong-password-x").await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    let r = app.login("dave", PASSWORD).await;
    assert_eq!(
        r.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "locked even with the right password"
    );
    let wait: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&wait), "Retry-After {wait}");
    problem(r).await;
    tokio::time::sleep(Duration::from_millis(2200)).await;
    assert_eq!(
        app.login("dave", PASSWORD).await.status(),
        StatusCode::OK,
        "recovered"
    );
    // Success reset the count: one failure does not lock again.
    assert_eq!(
        app.login("dave", "wrong-password-x").await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(app.login("dave", PASSWORD).await.status(), StatusCode::OK);
    let events = app.auth().store().audit_events(100).await.unwrap();
    assert!(events.iter().any(|e| e.event == "lockout"));
    app.stop().await;
}

async fn registration_is_rate_limited_per_address(db: Db) {
    let db = TestDb::new(db).await;
    let app = TestApp::spawn_with(&db, |c| c.auth.throttle.register_per_ip = 2).await;
    assert_eq!(
        app.register("reg1", PASSWORD).await.status(),
        StatusCode::CREATED
    );
    assert_eq!(
        app.register("reg2", PASSWORD).await.status(),
        StatusCode::CREATED
    );
    let r = app.register("reg3", PASSWORD).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(r.headers().contains_key("retry-after"));
    // A spoofed X-Forwarded-For is not believed by default.
    let r = app
        .client
        .post(app.url("/auth/register"))
        .header("x-forwarded-for", "203.0.113.9")
        .json(&json!({ "username": "reg4", "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    app.stop().await;
}

async fn refresh_rotates_and_reuse_revokes_the_family(db: Db) {
    let db = TestDb::new(db).await;
    let app = TestApp::spawn_with(&db, |c| c.auth.refresh_reuse_grace_secs = 0).await;
    let t = app.signed_up("erin").await;
    assert_eq!(t["token_type"], "Bearer");
    assert_eq!(t["expires_in"], 900);
    let r1 = t["refresh_token"].as_str().unwrap().to_owned();
    let r = app
        .post("/auth/refresh", json!({ "refresh_token": r1 }))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let t2: Value = r.json().await.unwrap();
    let r2 = t2["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(r1, r2, "rotated");
    assert_eq!(
        app.get_auth("/auth/me", t2["access_token"].as_str().unwrap())
            .await
            .status(),
        StatusCode::OK
    );
    // Presenting the spent token again: the whole family is revoked.
    let r = app
        .post("/auth/refresh", json!({ "refresh_token": r1 }))
        .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = app
        .post("/auth/refresh", json!({ "refresh_token": r2 }))
        .await;
    assert_eq!(
        r.status(),
        StatusCode::UNAUTHORIZED,
        "descendant revoked too"
    );
    // Another login is a new family and still works.
    let t3: Value = app.login("erin", PASSWORD).await.json().await.unwrap();
    let r = app
        .post(
            "/auth/refresh",
            json!({ "refresh_token": t3["refresh_token"] }),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let events = app.auth().store().audit_events(100).await.unwrap();
    assert!(events.iter().any(|e| e.event == "refresh_reuse"));
    app.stop().await;
}

async fn concurrent_refresh_within_grace_succeeds(db: Db) {
    let db = TestDb::new(db).await;
    let app = TestApp::spawn_with(&db, |c| c.auth.refresh_reuse_grace_secs = 10).await;
    let t = app.signed_up("frank").await;
    let body = json!({ "refresh_token": t["refresh_token"] });
    let (a, b) = tokio::join!(
        app.post("/auth/refresh", body.clone()),
        app.post("/auth/refresh", body)
    );
    assert_eq!(a.status(), StatusCode::OK);
    assert_eq!(b.status(), StatusCode::OK);
    let (a, b): (Value, Value) = (a.json().await.unwrap(), b.json().await.unwrap());
    // Both children remain usable: the family was not revoked.
    for child in [a, b] {
        let r = app
            .post(
                "/auth/refresh",
                json!({ "refresh_token": child["refresh_token"] }),
            )
            .await;
        assert_eq!(r.status(), StatusCode::OK);
    }
    app.stop().await;
}

async fn logout_revokes_the_family(db: Db) {
    let db = TestDb::new(db).await;
    let app = TestApp::spawn(&db).await;
    let t = app.signed_up("gina").await;
    let body = json!({ "refresh_token": t["refresh_token"] });
    let r = app.post("/auth/logout", body.clone()).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        app.post("/auth/refresh", body).await.status(),
        StatusCode::UNAUTHORIZED
    );
    // Unknown tokens are accepted silently (RFC 7009).
    let r = app
        .post("/auth/logout", json!({ "refresh_token": "rt_unknown" }))
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let events = app.auth().store().audit_events(100).await.unwrap();
    assert!(events.iter().any(|e| e.event == "logout"));
    app.stop().await;
}

async fn me_requires_a_valid_token(db: Db) {
    let db = TestDb::new(db).await;
    let app = TestApp::spawn(&db).await;
    let t = app.signed_up("hank").await;
    let r = app
        .get_auth("/auth/me", t["access_token"].as_str().unwrap())
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let me: Value = r.json().await.unwrap();
    assert_eq!(me["username"], "hank");
    let r = app.client.get(app.url("/auth/me")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(r.headers()["www-authenticate"], "Bearer");
    let r = app.get_auth("/auth/me", "garbage.token.here").await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    app.stop().await;
}

async fn password_hash_is_argon2id_with_owasp_parameters(db: Db) {
    let db = TestDb::new(db).await;
    let app = TestApp::spawn(&db).await;
    app.register("ivy", PASSWORD).await;
    let row = sqlx::query("SELECT password_hash FROM users WHERE username_key = $1")
        .bind("ivy")
        .fetch_one(app.auth().store().pool())
        .await
        .unwrap();
    let hash: String = row.get(0);
    assert!(
        hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{hash}"
    );
    assert!(!hash.contains(PASSWORD));
    app.stop().await;
}

async fn api_keys_lifecycle(db: Db) {
    let db = TestDb::new(db).await;
    let app = TestApp::spawn(&db).await;
    let t = app.signed_up("jack").await;
    let access = t["access_token"].as_str().unwrap();
    let r = app
        .client
        .post(app.url("/auth/api-keys"))
        .bearer_auth(access)
        .json(&json!({ "name": "notebook" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let created: Value = r.json().await.unwrap();
    let secret = created["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("sk-") && secret.len() > 40);
    let id = created["id"].as_str().unwrap().to_owned();

    let list: Value = app
        .get_auth("/auth/api-keys", access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert!(
        !list.to_string().contains(&secret),
        "the secret is shown once"
    );

    // The key authenticates like a token.
    let me: Value = app
        .get_auth("/auth/me", &secret)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["username"], "jack");
    let intro: Value = app
        .post("/auth/introspect", json!({ "token": secret }))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(intro["active"], true);
    assert_eq!(intro["username"], "jack");
    assert_eq!(intro["token_type"], "api_key");
    let intro: Value = app
        .post("/auth/introspect", json!({ "token": access }))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(intro["active"], true);
    assert_eq!(intro["token_type"], "access_token");
    let intro: Value = app
        .post("/auth/introspect", json!({ "token": "sk-forged" }))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(intro["active"], false);
    // The edge's check (Istio's ext_authz) passes both credentials, on any
    // method and path, and nothing else.
    for credential in [secret.as_str(), access] {
        let r = app
            .client
            .post(app.url("/auth/check/v1/chat/completions"))
            .bearer_auth(credential)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
    }
    let r = app
        .client
        .get(app.url("/auth/check/v1/models"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let r = app.get_auth("/auth/check/v1/models", "sk-forged").await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    // Nobody else can revoke it.
    let other = app.signed_up("kate").await;
    let r = app
        .client
        .delete(app.url(&format!("/auth/api-keys/{id}")))
        .bearer_auth(other["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    let r = app
        .client
        .delete(app.url(&format!("/auth/api-keys/{id}")))
        .bearer_auth(access)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        app.get_auth("/auth/me", &secret).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.get_auth("/auth/check/v1/models", &secret)
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );

    // Expired keys do not work; expiry must be in the future.
    let r = app
        .client
        .post(app.url("/auth/api-keys"))
        .bearer_auth(access)
        .json(&json!({ "name": "old", "expires_at": 1 }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    app.stop().await;
}

async fn audit_log_never_holds_secrets(db: Db) {
    let db = TestDb::new(db).await;
    let app = TestApp::spawn(&db).await;
    let t = app.signed_up("liam").await;
    app.login("liam", "a-wrong-password-1").await;
    app.post(
        "/auth/logout",
        json!({ "refresh_token": t["refresh_token"] }),
    )
    .await;
    let events = app.auth().store().audit_events(100).await.unwrap();
    let kinds: Vec<&str> = events.iter().map(|e| e.event.as_str()).collect();
    for wanted in ["register", "login_success", "login_failure", "logout"] {
        assert!(kinds.contains(&wanted), "{wanted} in {kinds:?}");
    }
    assert!(events.iter().all(|e| e.ip.as_deref() == Some("127.0.0.1")));
    assert!(events.iter().any(|e| e.request_id.is_some()));
    let dump = format!("{events:?}");
    for secret in [
        PASSWORD,
        "a-wrong-password-1",
        t["refresh_token"].as_str().unwrap(),
        t["access_token"].as_str().unwrap(),
    ] {
        assert!(!dump.contains(secret));
    }
    app.stop().await;
}

/// `scriptorium users disable` as another process runs it: a second auth
/// service on the same database, so the server's user cache is not told.
async fn disable_elsewhere(db: &TestDb, username: &str) {
    let other = auth::Auth::open(db.config().auth, 1).await.unwrap();
    assert!(other.disable_user(username).await.unwrap());
}

async fn a_disabled_account_cannot_create_api_keys(db: Db) {
    let db = TestDb::new(db).await;
    // A long cache: only a read from the database can notice the change.
    let app = TestApp::spawn_with(&db, |c| c.auth.user_cache_secs = 600).await;
    let t = app.signed_up("olga").await;
    let access = t["access_token"].as_str().unwrap();
    app.create_api_key(access, "before").await;
    disable_elsewhere(&db, "olga").await;
    let r = app
        .client
        .post(app.url("/auth/api-keys"))
        .bearer_auth(access)
        .json(&json!({ "name": "after" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let p = problem(r).await;
    assert_eq!(
        p["type"],
        "https://scriptorium.dev/problems/account-disabled"
    );
    app.stop().await;
}

async fn a_disabled_accounts_api_keys_stop_at_once(db: Db) {
    let db = TestDb::new(db).await;
    let app = TestApp::spawn_with(&db, |c| c.auth.user_cache_secs = 600).await;
    let t = app.signed_up("pia").await;
    let created = app
        .create_api_key(t["access_token"].as_str().unwrap(), "k")
        .await;
    let secret = created["secret"].as_str().unwrap();
    assert_eq!(
        app.get_auth("/auth/me", secret).await.status(),
        StatusCode::OK
    );
    disable_elsewhere(&db, "pia").await;
    assert_eq!(
        app.get_auth("/auth/me", secret).await.status(),
        StatusCode::UNAUTHORIZED
    );
    app.stop().await;
}

/// A server behind a proxy on 127.0.0.1, so that `X-Forwarded-For` names
/// the client.
async fn behind_a_proxy(db: &TestDb, tweak: impl FnOnce(&mut common::Config)) -> TestApp {
    TestApp::spawn_with(db, |c| {
        c.server.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
        tweak(c);
    })
    .await
}

async fn login_from(app: &TestApp, from: &str, username: &str, password: &str) -> StatusCode {
    app.client
        .post(app.url("/auth/login"))
        .header("x-forwarded-for", from)
        .json(&json!({ "username": username, "password": password }))
        .send()
        .await
        .unwrap()
        .status()
}

const ATTACKER: &str = "203.0.113.66";
const OWNER: &str = "198.51.100.7";

async fn failures_elsewhere_do_not_lock_the_owner_out(db: Db) {
    let db = TestDb::new(db).await;
    let app = behind_a_proxy(&db, |_| {}).await;
    app.signed_up("bob").await;
    for _ in 0..5 {
        let status = login_from(&app, ATTACKER, "bob", "wrong-password-x").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(
        login_from(&app, ATTACKER, "bob", PASSWORD).await,
        StatusCode::TOO_MANY_REQUESTS,
        "the guesser's address is locked out of bob"
    );
    assert_eq!(
        login_from(&app, OWNER, "bob", PASSWORD).await,
        StatusCode::OK,
        "bob still logs in from his own address"
    );
    app.stop().await;
}

async fn guessing_from_many_addresses_locks_the_account(db: Db) {
    let db = TestDb::new(db).await;
    let app = behind_a_proxy(&db, |c| c.auth.throttle.account_wide_max_failures = 4).await;
    app.signed_up("cleo").await;
    for i in 1..=4 {
        let from = format!("203.0.113.{i}");
        let status = login_from(&app, &from, "cleo", "wrong-password-x").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{from}");
    }
    assert_eq!(
        login_from(&app, OWNER, "cleo", PASSWORD).await,
        StatusCode::TOO_MANY_REQUESTS,
        "locked for every address"
    );
    app.stop().await;
}

async fn lookalikes_of_a_taken_name_are_taken(db: Db) {
    let db = TestDb::new(db).await;
    let app = TestApp::spawn(&db).await;
    assert_eq!(
        app.register("alice", PASSWORD).await.status(),
        StatusCode::CREATED
    );
    for lookalike in ["\u{430}lice", "ali\u{441}e", "alice\u{301}"] {
        let r = app.register(lookalike, PASSWORD).await;
        assert_eq!(r.status(), StatusCode::CONFLICT, "{lookalike:?}");
        let p = problem(r).await;
        assert_eq!(p["type"], "https://scriptorium.dev/problems/username-taken");
    }
    assert_eq!(
        app.register("alicia", PASSWORD).await.status(),
        StatusCode::CREATED
    );
    app.stop().await;
}

async fn older_accounts_get_their_skeleton_at_start_up(db: Db) {
    let db = TestDb::new(db).await;
    let app = TestApp::spawn(&db).await;
    // A row as written before skeletons were stored.
    sqlx::query(
        "INSERT INTO users (id, username, username_key, password_hash, created_at) \
         VALUES ('legacy', 'zo\u{EB}', 'zo\u{EB}', 'x', 0)",
    )
    .execute(app.auth().store().pool())
    .await
    .unwrap();
    auth::Auth::open(db.config().auth, 1).await.unwrap();
    let r = app.register("zoe", PASSWORD).await;
    assert_eq!(r.status(), StatusCode::CONFLICT, "zoe looks like zo\u{EB}");
    app.stop().await;
}

both_backends!(
    register_201_then_409_in_any_case,
    register_422_with_field_errors,
    login_401_is_the_same_for_unknown_user_and_wrong_password,
    lockout_429_then_recovery,
    registration_is_rate_limited_per_address,
    refresh_rotates_and_reuse_revokes_the_family,
    concurrent_refresh_within_grace_succeeds,
    logout_revokes_the_family,
    me_requires_a_valid_token,
    password_hash_is_argon2id_with_owasp_parameters,
    api_keys_lifecycle,
    audit_log_never_holds_secrets,
    a_disabled_account_cannot_create_api_keys,
    a_disabled_accounts_api_keys_stop_at_once,
    failures_elsewhere_do_not_lock_the_owner_out,
    guessing_from_many_addresses_locks_the_account,
    lookalikes_of_a_taken_name_are_taken,
    older_accounts_get_their_skeleton_at_start_up,
);
