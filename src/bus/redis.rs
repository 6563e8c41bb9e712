//! Redis pub/sub behind the [`Bus`] trait (group mode).
//!
//! * Two fred clients: one for commands (the publish and lease scripts), one
//!   [`SubscriberClient`] for the channel. Both reconnect forever; `manage_subscriptions`
//!   resubscribes after a Redis restart; an unresponsive connection is closed and reopened;
//!   every command has a timeout so a dead Redis surfaces as an error, not a hang.
//! * Publishing goes through a Lua script that checks the lease holder first: a leader that lost
//!   its lease cannot publish. Every payload carries the publisher's term ([`Envelope`]).
//! * Receiving: [`RedisBus::incoming`] yields envelopes in channel order plus a
//!   [`Incoming::Resync`] after every reconnect and every broadcast lag: pub/sub is at most
//!   once, so the consumer then compares its heads with the database instead of trusting the
//!   stream (see [`crate::group`]).
//!
//! Keys (all under one hash tag, so a cluster keeps them on one slot; `<tag>` is
//! `<group>@<database identity>`, so a group is bound to its database): `signalgate:{<tag>}:lease`
//! (holder and term of the leader, with a TTL), `signalgate:{<tag>}:term` (the fencing counter)
//! the channel `signalgate:{<tag>}:bus` and the live-bar interest `signalgate:{<tag>}:bars:interest`
//! (see [`crate::group`]). Nothing per variant is stored.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use async_trait::async_trait;
use fred::{
    clients::SubscriberClient,
    prelude::{
        Builder, Client, ClientLike, Config as FredConfig, EventInterface, PubsubInterface,
        ReconnectPolicy,
    },
    types::{config::UnresponsiveConfig, scripts::Script},
};
use futures_util::{Stream, StreamExt};
use tokio::sync::broadcast::error::RecvError;

use super::{
    Bus, BusError, BusMessage, BusReceiver,
    envelope::{Envelope, EnvelopeError},
};

/// Pub/sub messages buffered per receiver before it counts as lagging (then: resync from the
/// database). Several seconds of peak traffic.
const CHANNEL_CAPACITY: usize = 8192;
/// Reconnect back-off: 100 ms doubling up to 1 s, forever.
const RECONNECT_MIN_MS: u32 = 100;
const RECONNECT_MAX_MS: u32 = 1000;

/// Publishes `ARGV[3]` on channel `ARGV[2]` only if the lease `KEYS[1]` is held by `ARGV[1]`.
/// Returns 0 when the lease is not ours, else 1 + the number of receivers.
const PUBLISH_LUA: &str = r"
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
return redis.call('PUBLISH', ARGV[2], ARGV[3]) + 1
";

/// Key names of one group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupKeys {
    /// The lease: `<instance>:<term>` of the leader, expiring after the TTL.
    pub lease: String,
    /// The term counter (INCR on every election).
    pub term: String,
    /// The pub/sub channel.
    pub channel: String,
    /// The bar series followed anywhere in the group (a sorted set scored by expiry).
    pub bar_interest: String,
}

impl GroupKeys {
    /// The keys of group `group` on the database with identity `database_id`: two
    /// deployments that share a Redis and a group name but not a database never share a key.
    pub fn new(group: &str, database_id: &str) -> Self {
        let tag = format!("{group}@{database_id}");
        Self {
            lease: format!("signalgate:{{{tag}}}:lease"),
            term: format!("signalgate:{{{tag}}}:term"),
            channel: format!("signalgate:{{{tag}}}:bus"),
            bar_interest: format!("signalgate:{{{tag}}}:bars:interest"),
        }
    }
}

/// The lease this instance holds while it leads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseToken {
    /// The lease value, `<instance>:<term>`.
    pub token: String,
    /// The term won with it.
    pub term: u64,
}

/// What the subscription yields.
#[derive(Debug)]
pub enum Incoming {
    /// A message, with its publisher's term.
    Envelope(u64, Envelope),
    /// Messages may have been missed (reconnect, lag): compare positions with the database.
    Resync(&'static str),
}

/// The newest term seen on the channel, shared by every reader of this bus.
#[derive(Debug, Default)]
pub struct Terms {
    /// Messages of older terms are dropped.
    current: AtomicU64,
    /// Highest term ever seen here: the floor for the next election (survives Redis restarts
    /// that lose the counter).
    highest: AtomicU64,
}

impl Terms {
    /// Whether a message of `term` is current (and remembers `term` if it is newer).
    pub fn accept(&self, term: u64) -> bool {
        self.highest.fetch_max(term, Ordering::SeqCst);
        self.current.fetch_max(term, Ordering::SeqCst) <= term
    }

    /// The newest term accepted.
    pub fn current(&self) -> u64 {
        self.current.load(Ordering::SeqCst)
    }

    /// The highest term ever seen.
    pub fn highest(&self) -> u64 {
        self.highest.load(Ordering::SeqCst)
    }

    /// After a reconnect: Redis may have restarted and lost its counter, so accept any term
    /// again (a stale leader cannot publish: the script checks the lease).
    pub fn reset(&self) {
        self.current.store(0, Ordering::SeqCst);
    }
}

/// Redis pub/sub for one group.
pub struct RedisBus {
    client: Client,
    subscriber: SubscriberClient,
    keys: GroupKeys,
    publish: Script,
    lease: Mutex<Option<LeaseToken>>,
    terms: Arc<Terms>,
    /// The clients' connection tasks (ended by [`RedisBus::quit`]).
    tasks: Mutex<Vec<tokio::task::JoinHandle<Result<(), fred::prelude::Error>>>>,
}

impl std::fmt::Debug for RedisBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisBus")
            .field("channel", &self.keys.channel)
            .finish()
    }
}

fn transport(err: impl std::fmt::Display) -> BusError {
    BusError::Transport(err.to_string())
}

impl RedisBus {
    /// Clients for `url` (not connected yet) in the group `keys`; every command fails after
    /// `timeout`.
    pub fn new(url: &str, keys: GroupKeys, timeout: Duration) -> Result<Self, BusError> {
        let mut config = FredConfig::from_url(url).map_err(transport)?;
        // Start even while Redis is down (degraded mode); the reconnect policy keeps trying.
        config.fail_fast = false;
        let mut builder = Builder::from_config(config);
        builder
            .with_performance_config(|p| {
                p.default_command_timeout = timeout;
                p.broadcast_channel_capacity = CHANNEL_CAPACITY;
            })
            .with_connection_config(|c| {
                c.connection_timeout = timeout;
                c.internal_command_timeout = timeout;
                // A connection with a command unanswered this long is closed and reopened.
                c.unresponsive = UnresponsiveConfig {
                    max_timeout: Some(timeout * 2),
                    interval: (timeout / 4).max(Duration::from_millis(10)),
                };
            })
            .set_policy(ReconnectPolicy::new_exponential(
                0, // retry forever
                RECONNECT_MIN_MS,
                RECONNECT_MAX_MS,
                2,
            ));
        Ok(Self {
            client: builder.build().map_err(transport)?,
            subscriber: builder.build_subscriber_client().map_err(transport)?,
            keys,
            publish: Script::from_lua(PUBLISH_LUA),
            lease: Mutex::new(None),
            terms: Arc::new(Terms::default()),
            tasks: Mutex::new(Vec::new()),
        })
    }

    /// Starts both connections in the background (they retry until Redis answers).
    pub fn connect(&self) {
        let handles = [self.client.connect(), self.subscriber.connect()];
        if let Ok(mut tasks) = self.tasks.lock() {
            tasks.extend(handles);
        }
    }

    /// Closes both connections (ends the subscription stream). While Redis is unreachable
    /// `QUIT` cannot be sent: the connection tasks, still retrying, are then ended outright.
    pub async fn quit(&self) {
        let wait = Duration::from_millis(500);
        if self.client.is_connected() {
            let _ = tokio::time::timeout(wait, self.client.quit()).await;
        }
        if self.subscriber.is_connected() {
            let _ = tokio::time::timeout(wait, self.subscriber.quit()).await;
        }
        let tasks = self
            .tasks
            .lock()
            .map(|mut t| std::mem::take(&mut *t))
            .unwrap_or_default();
        for task in tasks {
            task.abort();
        }
    }

    /// The command client (lease scripts).
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The subscriber client.
    pub fn subscriber(&self) -> &SubscriberClient {
        &self.subscriber
    }

    /// Key names.
    pub fn keys(&self) -> &GroupKeys {
        &self.keys
    }

    /// Terms seen on the channel.
    pub fn terms(&self) -> Arc<Terms> {
        self.terms.clone()
    }

    /// Sets (on winning) or clears (on losing) the lease publishes are fenced with.
    pub fn set_lease(&self, lease: Option<LeaseToken>) {
        if let Ok(mut l) = self.lease.lock() {
            *l = lease;
        }
    }

    /// Subscribes to the channel (tracked: resubscribed after reconnects).
    pub async fn subscribe_channel(&self) -> Result<(), BusError> {
        self.subscriber
            .subscribe(self.keys.channel.clone())
            .await
            .map_err(transport)
    }

    /// Whether the subscriber is connected and subscribed.
    pub fn is_subscribed(&self) -> bool {
        self.subscriber.is_connected()
            && self
                .subscriber
                .tracked_channels()
                .iter()
                .any(|c| &**c == self.keys.channel.as_str())
    }

    /// Publishes `env` with the lease's term; fails if this instance does not hold the lease.
    pub async fn publish_envelope(&self, env: &Envelope) -> Result<(), BusError> {
        let Some(lease) = self.lease.lock().ok().and_then(|l| l.clone()) else {
            return Err(BusError::Transport("not the group leader".into()));
        };
        let payload = env.encode(lease.term).map_err(transport)?;
        let sent: i64 = self
            .publish
            .evalsha_with_reload(
                &self.client,
                vec![self.keys.lease.clone()],
                vec![lease.token, self.keys.channel.clone(), payload],
            )
            .await
            .map_err(transport)?;
        if sent == 0 {
            return Err(BusError::Transport("the leader lease was lost".into()));
        }
        Ok(())
    }

    /// Everything arriving on the channel, in order, with a [`Incoming::Resync`] after every
    /// reconnect and lag. Ends when the bus quits.
    pub fn incoming(&self) -> impl Stream<Item = Incoming> + Send + 'static {
        let state = (
            self.subscriber.message_rx(),
            self.subscriber.reconnect_rx(),
            self.keys.channel.clone(),
        );
        futures_util::stream::unfold(
            state,
            |(mut messages, mut reconnects, channel)| async move {
                let item = loop {
                    tokio::select! {
                        biased;
                        r = reconnects.recv() => match r {
                            Ok(_) | Err(RecvError::Lagged(_)) => break Incoming::Resync("reconnected"),
                            Err(RecvError::Closed) => return None,
                        },
                        m = messages.recv() => match m {
                            Ok(msg) if *msg.channel == *channel => {
                                match decode(msg.value.as_str().as_deref()) {
                                    Ok((term, env)) => break Incoming::Envelope(term, env),
                                    Err(err) => tracing::error!(error = %err, "unreadable group message; ignored"),
                                }
                            }
                            Ok(_) => {}
                            Err(RecvError::Lagged(n)) => {
                                tracing::warn!(missed = n, "group bus receiver lagged; resyncing from the database");
                                break Incoming::Resync("lagged");
                            }
                            Err(RecvError::Closed) => return None,
                        },
                    }
                };
                Some((item, (messages, reconnects, channel)))
            },
        )
    }
}

fn decode(text: Option<&str>) -> Result<(u64, Envelope), EnvelopeError> {
    Envelope::decode(text.ok_or(EnvelopeError::Header)?)
}

#[async_trait]
impl Bus for RedisBus {
    async fn publish(&self, msg: BusMessage) -> Result<(), BusError> {
        self.publish_envelope(&Envelope::Message(msg)).await
    }

    /// Messages of the current term only (heartbeats and resyncs are for [`crate::group`]).
    fn subscribe(&self) -> BusReceiver {
        let terms = self.terms.clone();
        BusReceiver::new(self.incoming().filter_map(move |item| {
            let msg = match item {
                Incoming::Envelope(term, Envelope::Message(m)) if terms.accept(term) => Some(m),
                _ => None,
            };
            std::future::ready(msg)
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_share_one_hash_tag() {
        let k = GroupKeys::new("prod", "5eed");
        assert_eq!(k.lease, "signalgate:{prod@5eed}:lease");
        assert_eq!(k.term, "signalgate:{prod@5eed}:term");
        assert_eq!(k.channel, "signalgate:{prod@5eed}:bus");
        assert_eq!(k.bar_interest, "signalgate:{prod@5eed}:bars:interest");
        assert_ne!(
            GroupKeys::new("prod", "0ther"),
            k,
            "another database, another group"
        );
    }

    #[test]
    fn older_terms_are_dropped_until_a_reset() {
        let t = Terms::default();
        assert!(t.accept(3));
        assert!(t.accept(3));
        assert!(!t.accept(2), "older term");
        assert!(t.accept(5));
        assert_eq!((t.current(), t.highest()), (5, 5));
        t.reset();
        assert!(
            t.accept(1),
            "after a Redis restart the counter may start over"
        );
        assert_eq!((t.current(), t.highest()), (1, 5));
    }
}
