//! Access-token verification rejects everything but a well-formed EdDSA token
//! from a published key, for this issuer and audience, before it expires.

mod common;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use common::{Db, TestApp, TestDb};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::StatusCode;
use ring::rand::SystemRandom;
use ring::signature::{Ed25519KeyPair, KeyPair};
use serde_json::{json, Value};

struct Key {
    pkcs8: Vec<u8>,
    public: Vec<u8>,
}

fn new_key() -> Key {
    let doc = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).unwrap();
    let pair = Ed25519KeyPair::from_pkcs8(doc.as_ref()).unwrap();
    Key {
        pkcs8: doc.as_ref().to_vec(),
        public: pair.public_key().as_ref().to_vec(),
    }
}

fn pem(key: &Key) -> String {
    format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        STANDARD.encode(&key.pkcs8)
    )
}

fn sign(key: &Key, kid: &str, claims: &Value) -> String {
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some(kid.to_owned());
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_ed_der(&key.pkcs8)).unwrap()
}

fn claims(sub: &str, aud: &str, iss: &str, exp_offset: i64) -> Value {
    let now = kit::unix_now();
    json!({ "iss": iss, "sub": sub, "aud": [aud], "iat": now, "exp": now + exp_offset,
            "jti": "test", "name": "nora" })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_valid_eddsa_tokens_pass() {
    let key = new_key();
    let db = TestDb::new(Db::Sqlite).await;
    let app = TestApp::spawn_with(&db, |c| {
        c.auth.signing_key = Some(pem(&key).into());
    })
    .await;
    let t = app.signed_up("nora").await;
    let kid = jsonwebtoken::decode_header(t["access_token"].as_str().unwrap())
        .unwrap()
        .kid
        .unwrap();
    let me: Value = app
        .get_auth("/auth/me", t["access_token"].as_str().unwrap())
        .await
        .json()
        .await
        .unwrap();
    let sub = me["id"].as_str().unwrap();

    // Control: a token we sign ourselves with the configured key passes, so
    // every rejection below is about the one thing that changed.
    let good = sign(&key, &kid, &claims(sub, "scriptorium", "scriptorium", 300));
    assert_eq!(
        app.get_auth("/auth/me", &good).await.status(),
        StatusCode::OK
    );

    let mut rejected = vec![
        (
            "expired",
            sign(&key, &kid, &claims(sub, "scriptorium", "scriptorium", -120)),
        ),
        (
            "wrong aud",
            sign(
                &key,
                &kid,
                &claims(sub, "another-service", "scriptorium", 300),
            ),
        ),
        (
            "wrong iss",
            sign(
                &key,
                &kid,
                &claims(sub, "scriptorium", "somebody-else", 300),
            ),
        ),
    ];
    let mut early = claims(sub, "scriptorium", "scriptorium", 7200);
    early["nbf"] = json!(kit::unix_now() + 3600);
    rejected.push(("nbf an hour ahead", sign(&key, &kid, &early)));
    let stranger = new_key();
    rejected.push((
        "unknown key",
        sign(
            &stranger,
            "unknown-kid",
            &claims(sub, "scriptorium", "scriptorium", 300),
        ),
    ));
    rejected.push((
        "known kid, other key",
        sign(
            &stranger,
            &kid,
            &claims(sub, "scriptorium", "scriptorium", 300),
        ),
    ));
    let payload =
        URL_SAFE_NO_PAD.encode(claims(sub, "scriptorium", "scriptorium", 300).to_string());
    let none_header =
        URL_SAFE_NO_PAD.encode(json!({ "alg": "none", "typ": "JWT", "kid": kid }).to_string());
    rejected.push(("alg none", format!("{none_header}.{payload}.")));
    // HS256 "signed" with the public key, in each form an attacker could pick.
    let jwks: Value = app.get_json("/.well-known/jwks.json").await;
    let x = jwks["keys"][0]["x"].as_str().unwrap().to_owned();
    for (label, secret) in [
        ("HS256 with raw public key", key.public.clone()),
        ("HS256 with x", x.clone().into_bytes()),
        ("HS256 with the JWKS", jwks.to_string().into_bytes()),
    ] {
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(kid.clone());
        let token = jsonwebtoken::encode(
            &header,
            &claims(sub, "scriptorium", "scriptorium", 300),
            &EncodingKey::from_secret(&secret),
        )
        .unwrap();
        rejected.push((label, token));
    }
    for (label, token) in rejected {
        let r = app.get_auth("/auth/me", &token).await;
        assert_eq!(
            r.status(),
            StatusCode::UNAUTHORIZED,
            "{label} must be rejected"
        );
        let intro: Value = app
            .post("/auth/introspect", json!({ "token": token }))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(intro["active"], false, "{label} is inactive");
    }
    app.stop().await;
}

/// Split mode: a service in another process verifies access tokens with the
/// auth service's JWKS over HTTP and API keys through its introspection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_verifier_uses_jwks_and_introspection_over_http() {
    let db = TestDb::new(Db::Sqlite).await;
    let app = TestApp::spawn(&db).await;
    let t = app.signed_up("quinn").await;
    let access = t["access_token"].as_str().unwrap();
    let created: Value = app.create_api_key(access, "remote").await;
    let secret = created["secret"].as_str().unwrap();

    let mut config = db.config();
    config.tokens.auth_url = Some(app.addr.clone());
    let verifier = scriptorium::startup::remote_verifier(&config).unwrap();
    let p = verifier
        .verify(access)
        .await
        .expect("access token verifies");
    assert_eq!(p.username, "quinn");
    let p = verifier.verify(secret).await.expect("API key verifies");
    assert_eq!(p.username, "quinn");
    assert!(verifier.verify("sk-not-a-key").await.is_err());
    assert!(verifier.verify("not.a.jwt").await.is_err());

    // With the auth service gone, a new key cannot be fetched: 503, not 401.
    let fresh = scriptorium::startup::remote_verifier(&config).unwrap();
    app.stop().await;
    let err = fresh.verify(access).await.unwrap_err();
    assert!(
        matches!(err, kit::token::VerifyError::Upstream(_)),
        "{err:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_audience_is_explained_without_internals() {
    let key = new_key();
    let db = TestDb::new(Db::Sqlite).await;
    let app = TestApp::spawn_with(&db, |c| {
        c.auth.signing_key = Some(pem(&key).into());
    })
    .await;
    let t = app.signed_up("olive").await;
    let kid = jsonwebtoken::decode_header(t["access_token"].as_str().unwrap())
        .unwrap()
        .kid
        .unwrap();
    let token = sign(
        &key,
        &kid,
        &claims("someone", "another-service", "scriptorium", 300),
    );
    let r = app.get_auth("/auth/me", &token).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let body = r.text().await.unwrap();
    assert!(!body.contains("InvalidAudience"), "{body}");
    assert!(
        body.contains("the token is not meant for this service"),
        "{body}"
    );
    app.stop().await;
}

/// With every service in one process, nobody needs introspection over HTTP,
/// and the route (which answers anyone) is not there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn introspection_is_not_served_in_all_mode() {
    let db = TestDb::new(Db::Sqlite).await;
    let mut config = db.config();
    config.llm.model = "/nonexistent/model.gguf".into();
    let app = TestApp::start_targets(config, &scriptorium::targets::Targets::all()).await;
    let t = app.signed_up("pavel").await;
    let body = json!({ "token": t["access_token"] });
    let r = app.post("/auth/introspect", body).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = app
        .client
        .get(app.url("/auth/introspect"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    app.stop().await;
}
