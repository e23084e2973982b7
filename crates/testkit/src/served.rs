//! A service's router on a port of its own, for as long as the value lives.

use tokio::sync::oneshot;

use crate::Api;

pub struct Served {
    api: Api,
    stop: Option<oneshot::Sender<()>>,
}

impl Served {
    /// Serve `router` on 127.0.0.1, port 0.
    pub async fn start(router: axum::Router) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a free port");
        let addr = format!("http://{}", listener.local_addr().expect("bound"));
        let (tx, rx) = oneshot::channel::<()>();
        let service = router.into_make_service_with_connect_info::<std::net::SocketAddr>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, service)
                .with_graceful_shutdown(async move {
                    let _ = rx.await;
                })
                .await;
        });
        Self {
            api: Api::new(addr),
            stop: Some(tx),
        }
    }
}

impl std::ops::Deref for Served {
    type Target = Api;
    fn deref(&self) -> &Api {
        &self.api
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}
