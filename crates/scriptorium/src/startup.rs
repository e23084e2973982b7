//! Building and running the application for a set of targets.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::routing::get;
use axum::Router;
use kit::client_ip::TrustedProxies;
use kit::cores::CoreBudget;
use kit::health::Readiness;
use kit::token::{RemoteIntrospector, RemoteJwks, TokenVerifier, VerifierConfig};
use tokio::net::TcpListener;

use crate::configuration::Config;
use crate::targets::{Service, Targets};

pub struct Application {
    listener: TcpListener,
    router: Router,
    grace: Duration,
    /// The auth service, when this process runs it (for the CLI and tests).
    pub auth: Option<auth::Auth>,
    /// The OCR service, when this process runs it (for tests).
    pub ocr: Option<ocr::Ocr>,
    /// The document library, when this process runs it (for tests).
    pub library: Option<documents::Library>,
    workers: Option<documents::Workers>,
}

impl Application {
    pub async fn build(config: Config, targets: &Targets) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(config.server.bind)
            .await
            .with_context(|| format!("binding {}", config.server.bind))?;
        let budget = CoreBudget::detect();
        let proxies = TrustedProxies::new(config.server.trusted_proxies.clone());
        let mut readiness = Readiness::default();
        let mut router = Router::new();
        let openapi = openapi_document(targets);

        let mut auth_service = None;
        let mut verifier = None;
        if targets.contains(Service::Auth) {
            // Argon2 runs in bursts; it may use every core, and the
            // semaphore in front of it keeps the queue bounded.
            let auth = auth::Auth::open(config.auth.clone(), budget.total)
                .await
                .context("starting the auth service")?;
            let local = auth.local_verifier(&config.tokens.audience);
            verifier = Some(local.clone());
            let state = auth::AuthState {
                auth: auth.clone(),
                verifier: local,
                proxies: proxies.clone(),
            };
            if targets.serves_introspection() {
                router = router.merge(auth::introspection_router(state.clone()));
            }
            router = router.merge(auth::router(state));
            let check = auth.clone();
            readiness.add("auth", move || {
                let check = check.clone();
                async move { check.ready().await }
            });
            auth_service = Some(auth);
        }
        // Services other than auth verify callers in-process when auth runs
        // here, else through the auth service's JWKS and introspection.
        let verifier = match verifier {
            Some(v) => v,
            None => remote_verifier(&config)?,
        };

        // llama.cpp and Tesseract keep their threads busy: when both run
        // here they split the cores (llm gets the larger half) rather than
        // compete for them. Auth's hashing is short and bursty and shares.
        let both = targets.contains(Service::Llm) && targets.contains(Service::Ocr);
        let llm_cores = if both {
            budget.total.div_ceil(2)
        } else {
            budget.total
        };
        let ocr_cores = if both {
            (budget.total - llm_cores).max(1)
        } else {
            budget.total
        };

        if targets.contains(Service::Llm) {
            let threads = config.llm.threads.unwrap_or(llm_cores);
            let llm = llm::Llm::start(&config.llm, threads).context("starting the llm service")?;
            router = router.merge(llm::router(llm::LlmState {
                llm: llm.clone(),
                verifier: verifier.clone(),
            }));
            readiness.add("llm", move || {
                let llm = llm.clone();
                async move { llm.ready() }
            });
        }

        let mut ocr_service = None;
        if targets.contains(Service::Ocr) {
            let ocr = ocr::Ocr::start(config.ocr.clone(), ocr_cores);
            router = router.merge(ocr::router(ocr::OcrState {
                ocr: ocr.clone(),
                verifier: verifier.clone(),
            }));
            let check = ocr.clone();
            readiness.add("ocr", move || {
                let check = check.clone();
                async move { check.ready() }
            });
            ocr_service = Some(ocr);
        }

        let (mut library, mut workers) = (None, None);
        if targets.contains(Service::Documents) {
            let ocr = ocr_service.clone().context(
                "the documents target reads pages with the OCR engines of its own process: \
                 run it with the ocr target (--target ocr,documents)",
            )?;
            let reader = Arc::new(documents::reader::LocalOcr(ocr.clone()));
            let mut lib = documents::Library::open(config.documents.clone(), reader)
                .await
                .context("starting the documents service")?;
            // Questions go to the OpenAI-compatible API: of this process's
            // llm service when it runs here, else at documents.ask.llm_url.
            if let Some(url) = &config.documents.ask.llm_url {
                lib = lib.with_llm(client::Client::http(url, api_client()?));
            } else if targets.contains(Service::Llm) {
                lib = lib.with_llm(client::Client::in_process(kit::server::with_middleware(
                    router.clone(),
                    &config.server,
                )));
            }
            router = router.merge(documents::router(documents::DocumentsState {
                library: lib.clone(),
                verifier: verifier.clone(),
                proxies: proxies.clone(),
            }));
            let check = lib.clone();
            readiness.add("documents", move || {
                let check = check.clone();
                async move { check.ready().await }
            });
            // One document more than OCR engines: a worker renders its next
            // page only once its last one is recognized, and the extra one
            // keeps the engines busy meanwhile (bench/library.sh: 80% of
            // /v1/ocr's pages/s with as many workers as engines, 94% so).
            let count = config.documents.workers.unwrap_or(ocr.workers() + 1);
            workers = Some(documents::Workers::start(&lib, count));
            library = Some(lib);
        }

        if targets.contains(Service::Web) {
            // The console is a client of the APIs like any other: over HTTP
            // at `web.api_url` (a gateway), or through the router of the
            // services of this process, without a socket.
            let apis = [
                Service::Auth,
                Service::Llm,
                Service::Ocr,
                Service::Documents,
            ];
            let client = match &config.web.api_url {
                Some(url) => client::Client::http(url, api_client()?),
                // The same middleware as a request from outside: request
                // id, spans, metrics, limits.
                None if apis.iter().any(|s| targets.contains(*s)) => client::Client::in_process(
                    kit::server::with_middleware(router.clone(), &config.server),
                ),
                None => anyhow::bail!(
                    "the web target alone calls the APIs at web.api_url \
                     (SCRIPTORIUM_WEB__API_URL): set it"
                ),
            };
            let listening = listener.local_addr().context("the listener's address")?;
            let key = web::session_key(&config.web).context(
                "the console's session key (web.session_key, SCRIPTORIUM_WEB__SESSION_KEY_FILE)",
            )?;
            router = router.merge(web::router(web::WebState::new(
                client,
                verifier.clone(),
                &key,
                &config.web,
                proxies.clone(),
                listening,
            )));
        }

        let openapi = Arc::new(openapi);
        router = router
            .route(
                "/openapi.json",
                get(move || {
                    let doc = openapi.clone();
                    async move { axum::Json((*doc).clone()) }
                }),
            )
            .merge(kit::health::router(readiness));
        let router = kit::server::with_middleware(router, &config.server);

        Ok(Self {
            listener,
            router,
            grace: Duration::from_secs(config.server.shutdown_grace_secs),
            auth: auth_service,
            ocr: ocr_service,
            library,
            workers,
        })
    }

    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        tracing::info!(addr = %self.listener.local_addr()?, "listening");
        let served = kit::server::serve(self.listener, self.router, self.grace, shutdown).await;
        // Workers store the page they are reading and hand their documents
        // back to the queue.
        if let Some(workers) = self.workers {
            workers.stop().await;
        }
        served
    }
}

/// The OpenAPI document of the services in `targets`, generated from code.
pub fn openapi_document(targets: &Targets) -> utoipa::openapi::OpenApi {
    let mut doc = utoipa::openapi::OpenApiBuilder::new()
        .info(
            utoipa::openapi::InfoBuilder::new()
                .title("Scriptorium")
                .version(env!("CARGO_PKG_VERSION"))
                .build(),
        )
        .build();
    // Each service's document is its router's own (utoipa-axum): what a
    // process serves is what it documents.
    if targets.contains(Service::Auth) {
        doc.merge(auth::openapi());
    }
    if targets.serves_introspection() {
        doc.merge(auth::introspection_openapi());
    }
    if targets.contains(Service::Ocr) {
        doc.merge(ocr::openapi());
    }
    if targets.contains(Service::Documents) {
        doc.merge(documents::openapi());
    }
    if targets.contains(Service::Llm) {
        doc.merge(llm::openapi());
    }
    doc
}

/// The HTTP client the console calls the APIs with.
fn api_client() -> anyhow::Result<reqwest::Client> {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(300))
        .build()
        .context("building the console's HTTP client")
}

/// A verifier for services running apart from the auth service.
pub fn remote_verifier(config: &Config) -> anyhow::Result<Arc<TokenVerifier>> {
    let base = config
        .tokens
        .auth_url
        .as_deref()
        .context("tokens.auth_url must be set when auth runs in another process")?
        .trim_end_matches('/');
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()?;
    let vc = VerifierConfig {
        issuer: config.tokens.issuer.clone(),
        audience: config.tokens.audience.clone(),
        api_key_cache_ttl: Duration::from_secs(config.tokens.api_key_cache_secs),
        ..VerifierConfig::default()
    };
    Ok(Arc::new(TokenVerifier::new(
        vc,
        Arc::new(RemoteJwks::new(
            client.clone(),
            format!("{base}/.well-known/jwks.json"),
        )),
        Arc::new(RemoteIntrospector::new(
            client,
            format!("{base}/auth/introspect"),
        )),
    )))
}
