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
        let mut m = Mounting {
            config: &config,
            targets,
            budget: CoreBudget::detect(),
            proxies: TrustedProxies::new(config.server.trusted_proxies.clone()),
            readiness: Readiness::default(),
            router: Router::new(),
        };
        let auth = m.auth().await?;
        // Services other than auth verify callers in-process when auth runs
        // here, else through the auth service's JWKS and introspection.
        let verifier = match &auth {
            Some((_, local)) => local.clone(),
            None => remote_verifier(&config)?,
        };
        let (llm_cores, ocr_cores) = m.core_split();
        m.llm(&verifier, llm_cores)?;
        let ocr = m.ocr(&verifier, ocr_cores);
        let (library, workers) = match m.documents(&verifier, ocr.as_ref()).await? {
            Some((library, workers)) => (Some(library), Some(workers)),
            None => (None, None),
        };
        m.web(
            &verifier,
            listener.local_addr().context("the listener's address")?,
        )?;

        let openapi = Arc::new(openapi_document(targets));
        let router = m
            .router
            .route(
                "/openapi.json",
                get(move || {
                    let doc = openapi.clone();
                    async move { axum::Json((*doc).clone()) }
                }),
            )
            .merge(kit::health::router(m.readiness));
        let router = kit::server::with_middleware(router, &config.server);

        Ok(Self {
            listener,
            router,
            grace: Duration::from_secs(config.server.shutdown_grace_secs),
            auth: auth.map(|(auth, _)| auth),
            ocr,
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

/// The services of `targets` mounted one by one on one router, each with
/// its readiness check.
struct Mounting<'a> {
    config: &'a Config,
    targets: &'a Targets,
    budget: CoreBudget,
    proxies: TrustedProxies,
    readiness: Readiness,
    router: Router,
}

impl Mounting<'_> {
    fn mount(&mut self, routes: Router) {
        self.router = std::mem::take(&mut self.router).merge(routes);
    }

    /// The services mounted so far, behind the same middleware as a request
    /// from outside (request id, spans, metrics, limits): what a client in
    /// this process calls.
    fn in_process_client(&self) -> client::Client {
        client::Client::in_process(kit::server::with_middleware(
            self.router.clone(),
            &self.config.server,
        ))
    }

    /// Auth and the verifier it makes for the other services here.
    async fn auth(&mut self) -> anyhow::Result<Option<(auth::Auth, Arc<TokenVerifier>)>> {
        if !self.targets.contains(Service::Auth) {
            return Ok(None);
        }
        // Argon2 runs in bursts; it may use every core, and the semaphore
        // in front of it keeps the queue bounded.
        let auth = auth::Auth::open(self.config.auth.clone(), self.budget.total)
            .await
            .context("starting the auth service")?;
        let local = auth.local_verifier(&self.config.tokens.audience);
        let state = auth::AuthState {
            auth: auth.clone(),
            verifier: local.clone(),
            proxies: self.proxies.clone(),
        };
        if self.targets.serves_introspection() {
            self.mount(auth::introspection_router(state.clone()));
        }
        self.mount(auth::router(state));
        let check = auth.clone();
        self.readiness.add("auth", move || {
            let check = check.clone();
            async move { check.ready().await }
        });
        Ok(Some((auth, local)))
    }

    /// The cores of the LLM and of OCR. llama.cpp and Tesseract keep their
    /// threads busy: when both run here they split the cores (llm gets the
    /// larger half) rather than compete for them. Auth's hashing is short
    /// and bursty and shares.
    fn core_split(&self) -> (usize, usize) {
        let total = self.budget.total;
        if self.targets.contains(Service::Llm) && self.targets.contains(Service::Ocr) {
            let llm = total.div_ceil(2);
            (llm, (total - llm).max(1))
        } else {
            (total, total)
        }
    }

    fn llm(&mut self, verifier: &Arc<TokenVerifier>, cores: usize) -> anyhow::Result<()> {
        if !self.targets.contains(Service::Llm) {
            return Ok(());
        }
        let threads = self.config.llm.threads.unwrap_or(cores);
        let llm = llm::Llm::start(&self.config.llm, threads).context("starting the llm service")?;
        self.mount(llm::router(llm::LlmState {
            llm: llm.clone(),
            verifier: verifier.clone(),
        }));
        self.readiness.add("llm", move || {
            let llm = llm.clone();
            async move { llm.ready() }
        });
        Ok(())
    }

    fn ocr(&mut self, verifier: &Arc<TokenVerifier>, cores: usize) -> Option<ocr::Ocr> {
        if !self.targets.contains(Service::Ocr) {
            return None;
        }
        let ocr = ocr::Ocr::start(self.config.ocr.clone(), cores);
        self.mount(ocr::router(ocr::OcrState {
            ocr: ocr.clone(),
            verifier: verifier.clone(),
        }));
        let check = ocr.clone();
        self.readiness.add("ocr", move || {
            let check = check.clone();
            async move { check.ready() }
        });
        Some(ocr)
    }

    /// How the library reads pages, and how many engines read them: this
    /// process's OCR when it has it, else OCR's API at `documents.ocr_url`.
    fn page_reader(
        &self,
        ocr: Option<&ocr::Ocr>,
    ) -> anyhow::Result<(Arc<dyn documents::reader::PageReader>, usize)> {
        let settings = &self.config.documents;
        match (ocr, &settings.ocr_url) {
            (Some(ocr), _) => Ok((
                Arc::new(documents::reader::LocalOcr(ocr.clone())),
                ocr.workers(),
            )),
            (None, Some(url)) => {
                let key = settings.ocr_api_key.clone().context(
                    "documents.ocr_url needs the API key to read pages with \
                     (SCRIPTORIUM_DOCUMENTS__OCR_API_KEY_FILE)",
                )?;
                let client = client::Client::http(url, api_client()?);
                // As many pages in flight as this machine has cores: the
                // engines are elsewhere, and their replicas scale apart.
                Ok((
                    Arc::new(documents::reader::HttpOcr::new(client, key)),
                    self.budget.total.max(2),
                ))
            }
            (None, None) => anyhow::bail!(
                "the documents target reads pages with OCR: run it with the ocr target \
                 (--target ocr,documents) or set documents.ocr_url \
                 (SCRIPTORIUM_DOCUMENTS__OCR_URL)"
            ),
        }
    }

    async fn documents(
        &mut self,
        verifier: &Arc<TokenVerifier>,
        ocr: Option<&ocr::Ocr>,
    ) -> anyhow::Result<Option<(documents::Library, documents::Workers)>> {
        if !self.targets.contains(Service::Documents) {
            return Ok(None);
        }
        let (reader, engines) = self.page_reader(ocr)?;
        let settings = &self.config.documents;
        let mut lib = documents::Library::open(settings.clone(), reader)
            .await
            .context("starting the documents service")?;
        // Questions go to the OpenAI-compatible API: of this process's llm
        // service when it runs here, else at documents.ask.llm_url.
        if let Some(url) = &settings.ask.llm_url {
            lib = lib.with_llm(client::Client::http(url, api_client()?));
        } else if self.targets.contains(Service::Llm) {
            lib = lib.with_llm(self.in_process_client());
        }
        self.mount(documents::router(documents::DocumentsState {
            library: lib.clone(),
            verifier: verifier.clone(),
            proxies: self.proxies.clone(),
        }));
        let check = lib.clone();
        self.readiness.add("documents", move || {
            let check = check.clone();
            async move { check.ready().await }
        });
        // As many documents as OCR engines, each with its next page decoded
        // and queued while the last is recognized (documents.pages_ahead).
        let count = settings.workers.unwrap_or(engines);
        let workers = documents::Workers::start(&lib, count);
        Ok(Some((lib, workers)))
    }

    /// The console, a client of the APIs like any other: over HTTP at
    /// `web.api_url` (a gateway), or through the router of the services of
    /// this process, without a socket.
    fn web(
        &mut self,
        verifier: &Arc<TokenVerifier>,
        listening: std::net::SocketAddr,
    ) -> anyhow::Result<()> {
        if !self.targets.contains(Service::Web) {
            return Ok(());
        }
        let apis = [
            Service::Auth,
            Service::Llm,
            Service::Ocr,
            Service::Documents,
        ];
        let client = match &self.config.web.api_url {
            Some(url) => client::Client::http(url, api_client()?),
            None if apis.iter().any(|s| self.targets.contains(*s)) => self.in_process_client(),
            None => anyhow::bail!(
                "the web target alone calls the APIs at web.api_url \
                 (SCRIPTORIUM_WEB__API_URL): set it"
            ),
        };
        let key = web::session_key(&self.config.web).context(
            "the console's session key (web.session_key, SCRIPTORIUM_WEB__SESSION_KEY_FILE)",
        )?;
        self.mount(web::router(web::WebState::new(
            client,
            verifier.clone(),
            &key,
            &self.config.web,
            self.proxies.clone(),
            listening,
        )));
        Ok(())
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

/// The HTTP client other services' APIs are called with.
fn api_client() -> anyhow::Result<reqwest::Client> {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(300))
        .build()
        .context("building the HTTP client of the APIs")
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
