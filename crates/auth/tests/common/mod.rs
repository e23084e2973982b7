//! The auth service alone, on a port of its own: its router behind the
//! services' common middleware, on a database of either backend.

#![allow(dead_code)]

use auth::{Auth, AuthConfig, AuthState};
use kit::client_ip::TrustedProxies;
use kit::config::ServerConfig;
use testkit::{Api, Db, Served};

/// What a test may change before the service starts.
#[derive(Clone)]
pub struct Config {
    pub auth: AuthConfig,
    pub server: ServerConfig,
}

/// A database for one test; a SQLite file lives as long as this value.
pub struct TestDb {
    pub url: String,
    _dir: tempfile::TempDir,
}

impl TestDb {
    pub async fn new(db: Db) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        Self {
            url: testkit::database(db, dir.path(), "auth").await,
            _dir: dir,
        }
    }

    /// A test configuration on this database.
    pub fn config(&self) -> Config {
        let mut auth = AuthConfig {
            database_url: self.url.clone(),
            max_connections: 5,
            key_cache_secs: 0,
            ..AuthConfig::default()
        };
        // Tests register many users from one address.
        auth.throttle.register_per_ip = 10_000;
        auth.throttle.ip_max_failures = 10_000;
        Config {
            auth,
            server: ServerConfig::default(),
        }
    }
}

pub struct TestApp {
    served: Served,
    auth: Auth,
}

impl TestApp {
    pub async fn spawn(db: &TestDb) -> Self {
        Self::spawn_with(db, |_| {}).await
    }

    pub async fn spawn_with(db: &TestDb, tweak: impl FnOnce(&mut Config)) -> Self {
        kit::metrics::handle();
        let mut config = db.config();
        tweak(&mut config);
        let auth = Auth::open(config.auth.clone(), 2)
            .await
            .expect("the auth service opens");
        let state = AuthState {
            verifier: auth.local_verifier("scriptorium"),
            auth: auth.clone(),
            proxies: TrustedProxies::new(config.server.trusted_proxies.clone()),
        };
        // Introspection as the auth target serves it on its own.
        let router = auth::router(state.clone()).merge(auth::introspection_router(state));
        let router = kit::server::with_middleware(router, &config.server);
        Self {
            served: Served::start(router).await,
            auth,
        }
    }

    /// The service itself, for what the API does not show.
    pub fn auth(&self) -> &Auth {
        &self.auth
    }

    /// Stop serving (as dropping it does).
    pub async fn stop(self) {
        drop(self.served);
    }
}

impl std::ops::Deref for TestApp {
    type Target = Api;
    fn deref(&self) -> &Api {
        &self.served
    }
}
