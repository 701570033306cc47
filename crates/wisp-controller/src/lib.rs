//! wisp's Controller: the HTTP face of the platform.
//!
//! It speaks a subset of the Apache OpenWhisk REST API (actions, blocking
//! invocations, API keys with HTTP Basic auth) plus web routes, turns each call into
//! an invocation on the [`Invoker`](wisp_invoker::Invoker), and keeps actions in the
//! [`Registry`](wisp_registry::Registry).
//!
//! Request path: hyper connection → [`routes::route`] → handler in [`api`] →
//! registry (metadata) → invoker (fresh instance) → response.

pub mod api;
pub mod auth;
pub mod error;
pub mod routes;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use wisp_invoker::Invoker;
use wisp_registry::{ActionRecord, Limits, Registry};

pub use auth::ApiKey;
pub use error::ApiError;

/// Operator settings of the Controller; every field has a documented default.
#[derive(Debug, Clone)]
pub struct ControllerConfig {
    /// The key that may use the API; it owns the default namespace.
    pub api_key: ApiKey,
    /// Largest deploy body (the module, possibly base64 in JSON): 64 MiB.
    pub max_deploy_bytes: usize,
    /// Largest invocation or web request body: 10 MiB.
    pub max_body_bytes: usize,
    /// Limits of actions deployed without their own.
    pub default_limits: Limits,
    /// Highest `limits.timeout` an action may ask for, in ms: 300 000 (5 min).
    pub max_timeout_ms: u64,
    /// Highest `limits.memory` an action may ask for, in MiB; at most the engine's
    /// per-instance maximum.
    pub max_memory_mb: u64,
}

impl ControllerConfig {
    /// Defaults for everything but the key.
    pub fn new(api_key: ApiKey) -> Self {
        ControllerConfig {
            api_key,
            max_deploy_bytes: 64 << 20,
            max_body_bytes: 10 << 20,
            default_limits: Limits::default(),
            max_timeout_ms: 300_000,
            max_memory_mb: 512,
        }
    }
}

/// Shared state of all connections.
pub struct Controller {
    config: ControllerConfig,
    registry: Arc<dyn Registry>,
    invoker: Arc<Invoker>,
    /// Action metadata by `namespace/name`, mirrored from the registry so the
    /// invocation path never reads the database.
    actions: RwLock<HashMap<String, Arc<ActionRecord>>>,
}

impl Controller {
    /// Loads every stored action's metadata. Compiled code is loaded lazily, from
    /// the invoker's disk cache, on first call.
    pub fn new(
        config: ControllerConfig,
        registry: Arc<dyn Registry>,
        invoker: Arc<Invoker>,
    ) -> anyhow::Result<Self> {
        let mut actions = HashMap::new();
        for rec in registry.all_actions()? {
            actions.insert(format!("{}/{}", rec.namespace, rec.name), Arc::new(rec));
        }
        Ok(Controller {
            config,
            registry,
            invoker,
            actions: RwLock::new(actions),
        })
    }

    /// Number of actions deployed.
    pub fn action_count(&self) -> usize {
        self.actions.read().map(|a| a.len()).unwrap_or(0)
    }
}

/// How long shutdown waits for requests in flight before closing connections.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Serves HTTP/1.1 on `listener` until `shutdown` resolves, then stops accepting,
/// lets requests in flight finish (up to [`SHUTDOWN_GRACE`]) and returns.
pub async fn serve(
    listener: TcpListener,
    controller: Arc<Controller>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and similar: back off, keep serving.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let controller = controller.clone();
        let service = hyper::service::service_fn(move |req| {
            let controller = controller.clone();
            async move { Ok::<_, std::convert::Infallible>(api::handle(&controller, req, peer).await) }
        });
        let conn = http1::Builder::new()
            .keep_alive(true)
            .serve_connection(TokioIo::new(stream), service);
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(%peer, "connection ended: {e}");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("requests still in flight after {SHUTDOWN_GRACE:?}; closing");
    }
    Ok(())
}

/// The address a listener is bound to, for the ready line.
pub fn local_addr(listener: &TcpListener) -> std::io::Result<SocketAddr> {
    listener.local_addr()
}
