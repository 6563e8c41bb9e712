//! Wiring, the top of the crate: [`Application::build`] connects the store, applies migrations,
//! loads the hub, starts the supervised background tasks (bus consumer, poller, live bars, demo
//! writer) and binds the listener; [`Application::run_until_stopped`] serves until a shutdown
//! future resolves, then cancels every task and waits for it, and closes the pool. Tests bind
//! port 0 and read [`Application::local_addr`].
//!
//! - `feeding`: standalone or group, decided in one place ([`crate::group::Group`] starts and
//!   stops the poller by role);
//! - `settings`: the configuration's sections turned into the plain values the modules take.

use std::{
    future::Future,
    net::SocketAddr,
    sync::Arc,
    time::{Duration, Instant},
};

use axum::Router;
use socketioxide::SocketIo;
use tokio::net::TcpListener;
use tower::Layer;

mod feeding;
mod settings;

use self::feeding::Feeding;
pub use self::settings::{connect, connect_migrated};
use crate::{
    bus::{Bus, LocalBus},
    config::{Config, DemoArgs, ServeArgs},
    demo,
    group::PollParts,
    http::{self, AppState, metrics::MetricsState},
    lifecycle::Supervisor,
    poller::PollerStatus,
    realtime::{
        self,
        admission::Admission,
        auth::SocketAuth,
        bars::{
            LiveBars,
            poller::{BarPoller, LocalRoute},
        },
        consumer,
        fanout::Fanout,
        hub::Hub,
    },
    serve::{ConnLimits, Server},
    shutdown::Closing,
    store::Store,
    web,
};

/// What to start besides the server.
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    /// Apply migrations before serving.
    pub migrate: bool,
    /// Run the demo writer in-process with these settings.
    pub demo: Option<DemoArgs>,
}

impl From<ServeArgs> for BuildOptions {
    /// What `serve`'s flags ask for.
    fn from(args: ServeArgs) -> Self {
        Self {
            migrate: !args.no_migrate,
            demo: args.demo.then_some(args.demo_args),
        }
    }
}

/// A built, bound, not yet serving gateway.
#[derive(Debug)]
pub struct Application {
    listener: TcpListener,
    router: Router,
    conn_limits: ConnLimits,
    io: SocketIo,
    store: Arc<dyn Store>,
    hub: Arc<Hub>,
    fanout: Arc<Fanout>,
    live_bars: Arc<LiveBars>,
    tasks: Supervisor,
    metrics_addr: Option<SocketAddr>,
    shutdown_timeout: Duration,
    closing: Closing,
}

/// Delay between attempts to load the hub while the database is unreachable at start.
const LOAD_RETRY: Duration = Duration::from_secs(1);
/// `/readyz` turns 503 when the poller has not completed a poll for this many idle intervals
/// (plus the longest back-off, so one slow database round trip is not an outage).
const STALE_POLLS: u32 = 10;

impl Application {
    /// Builds everything and binds `config.http.listen`.
    pub async fn build(config: Config, options: BuildOptions) -> anyhow::Result<Self> {
        config.validate()?;
        config.auth.check_exposure(config.http.listen)?;
        let verifier = settings::verifier(&config.auth)?.map(Arc::new);
        if verifier.is_none() {
            tracing::info!("authentication is off: every variant is readable by anyone");
        }
        let url = config.database.url();
        if config.database.database_url.is_none() {
            tracing::info!(%url, "no --database-url given: using the embedded SQLite database");
        }
        let store = settings::connect(&config.database).await?;
        tracing::info!(backend = store.backend(), %url, "database configured");
        if options.migrate {
            store.migrate().await?;
            tracing::info!("migrations applied");
        }
        let bars_tz = config.database.bars_tz()?;

        let hub = Arc::new(Hub::new(
            store.clone(),
            settings::hub_limits(&config.realtime),
        ));
        let live_bars = Arc::new(LiveBars::new(store.clone(), bars_tz));
        let origins = config.http.origins(verifier.is_some());
        let admission = Arc::new(Admission::new(config.limits.max_connections, &origins));
        let (io_layer, io) = realtime::build_io(
            settings::transport(&config.realtime),
            hub.clone(),
            live_bars.clone(),
            SocketAuth(verifier.clone()),
            admission,
        );
        let tasks = Supervisor::new();
        // Test builds only: the real binary's critical tasks can be made to panic.
        #[cfg(feature = "test-hooks")]
        if let Ok(names) = std::env::var("SIGNALGATE_TEST_INJECT_PANIC") {
            for name in names.split(',') {
                tasks.inject_panic(name);
            }
        }
        let fanout = Arc::new(Fanout::new(io.clone(), tasks.clone()));

        // Standalone or group: every difference between the two is behind `feeding`.
        let bus: Arc<dyn Bus> = Arc::new(LocalBus::new());
        let status = Arc::new(PollerStatus::default());
        let poller_config = settings::poller(&config.database);
        let parts = PollParts {
            store: store.clone(),
            hub: hub.clone(),
            local: bus.clone(),
            poller: poller_config,
            liveness: status.clone(),
            retention: config.retention.retention,
        };
        let feeding = Feeding::new(settings::membership(&config.redis), parts).await?;
        let rx = feeding.receiver(bus.subscribe());
        let (h, lb, f) = (hub.clone(), live_bars.clone(), fanout.clone());
        // Critical tasks end only when cancelled; any other end stops the process (see
        // `lifecycle`).
        tasks.spawn_critical("bus-consumer", |token| consumer::run(rx, h, lb, f, token));

        let every = Duration::from_millis(config.realtime.overview_interval_ms);
        let (h, f) = (hub.clone(), fanout.clone());
        tasks.spawn("overview", move |token| {
            realtime::overview::run(h, f, every, token)
        });

        let local_bars = LocalRoute::new(live_bars.clone(), bus.clone());
        let bar_route = feeding.bar_route(live_bars.clone(), local_bars, &tasks);
        let bar_poller = BarPoller::new(
            store.clone(),
            bars_tz,
            bar_route,
            config.database.bars_poll_interval(),
        );
        tasks.spawn_critical("live-bars", move |token| bar_poller.run(token));

        if let Err(err) = hub.load().await {
            tracing::warn!(error = %err, "cannot load live state yet; retrying in the background");
        }
        let group_status = feeding.status();
        feeding.start(hub.clone(), &tasks);

        if let Some(args) = options.demo {
            let s = store.clone();
            tasks.spawn("demo-writer", move |token| async move {
                if let Err(err) = demo::run(s, args, bars_tz, token).await {
                    tracing::error!(error = %err, "demo writer stopped");
                }
            });
        }

        let state = AppState {
            store: store.clone(),
            hub: hub.clone(),
            bars_tz,
            overview_interval_ms: config.realtime.overview_interval_ms,
            poller: status,
            group: group_status,
            fault: tasks.fault(),
            poll_stale_after: poller_config.interval * STALE_POLLS + Duration::from_secs(5),
            auth: verifier,
            rate_limit: http::rate_limit::build(
                config.limits.rate_limit,
                config.limits.rate_limit_burst,
                &tasks,
            ),
        };
        let metrics_state = MetricsState {
            io: io.clone(),
            hub: hub.clone(),
            group: state.group.clone(),
        };
        let (metrics_router, metrics_addr) =
            match http::metrics::start(config.metrics.metrics_listen, metrics_state, &tasks).await?
            {
                http::metrics::Serving::Main(r) => (r, None),
                http::metrics::Serving::Separate(addr) => (Router::new(), Some(addr)),
            };
        let app = http::router(state)
            .merge(metrics_router)
            .merge(web::router())
            .fallback(http::not_found)
            .layer(axum::middleware::map_response(
                http::error::json_error_bodies,
            ));
        // The Socket.IO layer wraps the whole app exactly once: each `layer()` call creates its
        // own Engine.IO session table, and `Router::layer` calls it for every route and fallback
        // (a long-polling session would then be unknown to the next request's copy). CORS wraps
        // Socket.IO too, so long-polling works from dashboards on other origins.
        let closing = Closing::default();
        let router = Router::new()
            .fallback_service(io_layer.layer(app))
            .layer(axum::middleware::map_request(realtime::detach_request))
            .layer(axum::middleware::from_fn_with_state(
                closing.clone(),
                crate::shutdown::refuse_new_sessions,
            ))
            .layer(axum::middleware::from_fn(http::error::limit_request_size))
            .layer(http::cors(&origins));
        let listen = config.http.listen;
        let listener = TcpListener::bind(listen)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {listen}: {e}"))?;
        Ok(Self {
            listener,
            router,
            conn_limits: settings::conn_limits(&config.http),
            io,
            store,
            hub,
            fanout,
            live_bars,
            tasks,
            metrics_addr,
            shutdown_timeout: config.limits.shutdown_timeout,
            closing,
        })
    }

    /// The bound address (the real port when `listen` used port 0).
    pub fn local_addr(&self) -> anyhow::Result<SocketAddr> {
        Ok(self.listener.local_addr()?)
    }

    /// The separate `/metrics` listener's address (with `--metrics-listen`).
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }

    /// The database behind this gateway.
    pub fn store(&self) -> Arc<dyn Store> {
        self.store.clone()
    }

    /// The realtime hub.
    pub fn hub(&self) -> Arc<Hub> {
        self.hub.clone()
    }

    /// The fan-out (slow-client counters).
    pub fn fanout(&self) -> Arc<Fanout> {
        self.fanout.clone()
    }

    /// The live-bar registry (which series are followed).
    pub fn live_bars(&self) -> Arc<LiveBars> {
        self.live_bars.clone()
    }

    /// The Socket.IO handle (connected sockets, rooms).
    pub fn io(&self) -> SocketIo {
        self.io.clone()
    }

    /// The supervisor of the background tasks (how many are running).
    pub fn tasks(&self) -> Supervisor {
        self.tasks.clone()
    }

    /// Serves until `shutdown` resolves (or a critical task fails: then, after the shutdown, it
    /// returns an error naming the task), then stops accepting, tells every Socket.IO client
    /// `server_shutdown` and closes its connection (see [`crate::shutdown`]), lets in-flight
    /// requests finish, cancels every background task and waits for them, and closes the
    /// database pool, all within `--shutdown-timeout`.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let Self {
            listener,
            router,
            conn_limits,
            io,
            store,
            tasks,
            shutdown_timeout,
            closing,
            ..
        } = self;
        let token = tasks.token().clone();
        let (stopping_tx, stopping_rx) = tokio::sync::oneshot::channel::<Instant>();
        let stop = async move {
            tokio::select! {
                _ = shutdown => {}
                _ = token.cancelled() => {}
            }
            tracing::info!(timeout = ?shutdown_timeout, "shutting down");
            let _ = stopping_tx.send(Instant::now() + shutdown_timeout);
            token.cancel();
            crate::shutdown::close_sockets(&io, &closing).await;
        };
        let mut serve = Box::pin(Server::new(listener, router, conn_limits).run(stop));
        // In-flight requests may finish until the deadline; what is left then is dropped.
        let mut deadline = None;
        tokio::select! {
            () = &mut serve => {},
            at = stopping_rx => {
                let at = at.unwrap_or_else(|_| Instant::now());
                deadline = Some(at);
                tokio::select! {
                    () = &mut serve => {},
                    _ = tokio::time::sleep_until(at.into()) => {
                        tracing::warn!("shutdown timeout reached; dropping open connections");
                    }
                }
            }
        }
        // Dropping the server drops the connections still open.
        drop(serve);
        let left = deadline.map_or(shutdown_timeout, |d| {
            d.saturating_duration_since(Instant::now())
        });
        if !tasks.shutdown(left).await {
            tracing::warn!("shutdown timeout reached; some background tasks did not finish");
        }
        if tokio::time::timeout(Duration::from_secs(1), store.close())
            .await
            .is_err()
        {
            tracing::warn!("database pool did not close within 1 s");
        }
        if let Some(name) = tasks.fault().failed() {
            anyhow::bail!(
                "critical task {name} ended unexpectedly; stopped so that it is restarted"
            );
        }
        Ok(())
    }
}
