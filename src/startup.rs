//! Wiring: [`Application::build`] connects the store, applies migrations, loads the hub, starts
//! the poller (and the demo writer), and binds the listener; [`Application::run_until_stopped`]
//! serves until a shutdown future resolves. Tests bind port 0 and read [`Application::local_addr`].

use std::{future::Future, net::SocketAddr, sync::Arc, time::Duration};

use axum::Router;
use chrono_tz::Tz;
use socketioxide::SocketIo;
use tokio::{net::TcpListener, sync::watch};
use tower_http::cors::CorsLayer;

use crate::{
    bus::{Bus, LocalBus},
    config::{Config, DemoArgs},
    demo, http, poller,
    realtime::{
        self,
        hub::{Hub, HubLimits},
    },
    store::{self, PoolOptions, Store},
    web,
};

/// Shared state of the HTTP handlers.
#[derive(Clone)]
pub struct AppState {
    /// The database.
    pub store: Arc<dyn Store>,
    /// Live state (snapshot cache).
    pub hub: Arc<Hub>,
    /// Zone of VnPy's naive bar times.
    pub bars_tz: Tz,
}

/// What to start besides the server.
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    /// Apply migrations before serving.
    pub migrate: bool,
    /// Run the demo writer in-process with these settings.
    pub demo: Option<DemoArgs>,
}

/// A built, bound, not yet serving gateway.
pub struct Application {
    listener: TcpListener,
    router: Router,
    io: SocketIo,
    store: Arc<dyn Store>,
    hub: Arc<Hub>,
    shutdown_tx: watch::Sender<bool>,
}

/// Delay between attempts to load the hub while the database is unreachable at start.
const LOAD_RETRY: Duration = Duration::from_secs(1);

impl Application {
    /// Builds everything and binds `config.listen`.
    pub async fn build(config: Config, options: BuildOptions) -> anyhow::Result<Self> {
        config.validate()?;
        let url = config.database_url();
        if config.database_url.is_none() {
            tracing::info!(
                url,
                "no --database-url given: using the embedded SQLite database"
            );
        }
        let store = store::connect(
            url,
            &PoolOptions {
                max_connections: config.db_max_connections,
                acquire_timeout: config.acquire_timeout(),
            },
        )
        .await?;
        tracing::info!(backend = store.backend(), url = %store::redact_url(url), "database configured");
        if options.migrate {
            store.migrate().await?;
            tracing::info!("migrations applied");
        }

        let (io_layer, io) = realtime::build_io(&config);
        let hub = Arc::new(Hub::new(
            store.clone(),
            io.clone(),
            HubLimits {
                ring_capacity: config.ring_capacity,
                resume_cap: config.resume_cap,
                max_subscriptions: config.max_subscriptions,
                max_symbols: config.max_symbols,
            },
        ));
        realtime::register(&io, hub.clone());

        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let bus: Arc<dyn Bus> = Arc::new(LocalBus::new());
        tokio::spawn(poller::consume(bus.clone(), hub.clone()));
        let poller_config = poller::PollerConfig {
            interval: Duration::from_millis(config.poll_interval_ms),
            batch: config.poll_batch,
        };
        if let Err(err) = hub.load().await {
            tracing::warn!(error = %err, "cannot load live state yet; retrying in the background");
        }
        tokio::spawn(start_poller(
            store.clone(),
            bus,
            hub.clone(),
            poller_config,
            shutdown_rx.clone(),
        ));

        let bars_tz = config.bars_tz()?;
        if let Some(args) = options.demo {
            let (s, rx) = (store.clone(), shutdown_rx.clone());
            tokio::spawn(async move {
                if let Err(err) = demo::run(s, args, bars_tz, rx).await {
                    tracing::error!(error = %err, "demo writer stopped");
                }
            });
        }

        let state = AppState {
            store: store.clone(),
            hub: hub.clone(),
            bars_tz,
        };
        // CORS wraps Socket.IO too, so long-polling works from dashboards on other origins.
        let router = http::router(state)
            .merge(web::router())
            .layer(io_layer)
            .layer(axum::middleware::map_request(detach_socket_request))
            .layer(CorsLayer::permissive());
        let listener = TcpListener::bind(config.listen).await?;
        Ok(Self {
            listener,
            router,
            io,
            store,
            hub,
            shutdown_tx,
        })
    }

    /// The bound address (the real port when `listen` used port 0).
    pub fn local_addr(&self) -> anyhow::Result<SocketAddr> {
        Ok(self.listener.local_addr()?)
    }

    /// The database behind this gateway.
    pub fn store(&self) -> Arc<dyn Store> {
        self.store.clone()
    }

    /// The realtime hub.
    pub fn hub(&self) -> Arc<Hub> {
        self.hub.clone()
    }

    /// The Socket.IO handle (connected sockets, rooms).
    pub fn io(&self) -> SocketIo {
        self.io.clone()
    }

    /// Serves until `shutdown` resolves, then closes every Socket.IO connection and stops the
    /// poller and the demo writer.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let Self {
            listener,
            router,
            io,
            shutdown_tx,
            ..
        } = self;
        let stop = async move {
            shutdown.await;
            tracing::info!("shutting down");
            let _ = shutdown_tx.send(true);
            io.close().await;
        };
        axum::serve(listener, router)
            .with_graceful_shutdown(stop)
            .await?;
        Ok(())
    }
}

/// Copies the URI and header values of Socket.IO requests into their own small allocations.
///
/// hyper parses a request in place, so its header values are slices of the connection's read
/// buffer (16 KB). Engine.IO keeps the handshake request's parts for the whole life of the
/// session, which kept that buffer alive for every connection: two thirds of the memory of an
/// idle connection. Detaching them lets the buffer go once the connection is upgraded.
async fn detach_socket_request(mut req: axum::extract::Request) -> axum::extract::Request {
    if !req.uri().path().starts_with("/socket.io") {
        return req;
    }
    if let Ok(uri) = axum::http::Uri::try_from(req.uri().to_string()) {
        // axum's router also keeps a clone of the original URI in the extensions.
        req.extensions_mut()
            .insert(axum::extract::OriginalUri(uri.clone()));
        *req.uri_mut() = uri;
    }
    for value in req.headers_mut().values_mut() {
        if let Ok(copy) = axum::http::HeaderValue::from_bytes(value.as_bytes()) {
            *value = copy;
        }
    }
    req
}

async fn start_poller(
    store: Arc<dyn Store>,
    bus: Arc<dyn Bus>,
    hub: Arc<Hub>,
    config: poller::PollerConfig,
    shutdown: watch::Receiver<bool>,
) {
    while !hub.is_loaded() {
        if *shutdown.borrow() {
            return;
        }
        tokio::time::sleep(LOAD_RETRY).await;
        match hub.load().await {
            Ok(()) => tracing::info!("live state loaded"),
            Err(err) => tracing::debug!(error = %err, "still cannot load live state"),
        }
    }
    poller::Poller::new(store, bus, &hub, config)
        .run(shutdown)
        .await;
}
