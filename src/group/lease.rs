//! The leader lease: one Redis key holding `<instance>:<term>` with a TTL, and a term counter
//! (a fencing token) taken in the same atomic script.
//!
//! * acquire: `SET NX PX`, then `INCR` the term (raised above the highest term this instance
//!   has seen, so a Redis restart that lost the counter cannot reuse an old term). An instance
//!   that still holds the lease from before (e.g. after a Redis hiccup made it step down) gets
//!   it back with its term.
//! * renew: `PEXPIRE` only if the value is still ours.
//! * release: `DEL` only if ours, and announce it on the channel so followers take over now.
//!
//! Publishing is fenced by the same check ([`crate::bus::RedisBus::publish_envelope`]).

use std::time::Duration;

use fred::{
    prelude::{Client, Error},
    types::scripts::Script,
};

use crate::bus::{Envelope, GroupKeys, LeaseToken};

/// KEYS: lease, term. ARGV: instance id, ttl ms, term floor. Returns the term won, or 0.
const ACQUIRE_LUA: &str = r"
local held = redis.call('GET', KEYS[1])
if held then
  local id, term = string.match(held, '^(.*):(%d+)$')
  if id == ARGV[1] then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
    return tonumber(term)
  end
  return 0
end
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 0 end
local term = redis.call('INCR', KEYS[2])
local floor = tonumber(ARGV[3])
if term <= floor then
  term = floor + 1
  redis.call('SET', KEYS[2], term)
end
redis.call('SET', KEYS[1], ARGV[1] .. ':' .. term, 'PX', ARGV[2])
return term
";

/// KEYS: lease. ARGV: token, ttl ms. Returns 1 if renewed, 0 if the lease is not ours.
const RENEW_LUA: &str = r"
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
return redis.call('PEXPIRE', KEYS[1], ARGV[2])
";

/// KEYS: lease. ARGV: token, channel, resign message. Returns 1 if released.
const RELEASE_LUA: &str = r"
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
redis.call('PUBLISH', ARGV[2], ARGV[3])
return 1
";

/// The lease scripts of one instance in one group.
#[derive(Debug, Clone)]
pub struct Lease {
    keys: GroupKeys,
    instance: String,
    ttl_ms: u64,
    acquire: Script,
    renew: Script,
    release: Script,
}

impl Lease {
    /// Lease operations for `instance` with time-to-live `ttl`.
    pub fn new(keys: GroupKeys, instance: String, ttl: Duration) -> Self {
        Self {
            keys,
            instance,
            ttl_ms: ttl.as_millis() as u64,
            acquire: Script::from_lua(ACQUIRE_LUA),
            renew: Script::from_lua(RENEW_LUA),
            release: Script::from_lua(RELEASE_LUA),
        }
    }

    /// Tries to become leader with a term above `floor`; `None` if someone else leads.
    pub async fn acquire(&self, client: &Client, floor: u64) -> Result<Option<LeaseToken>, Error> {
        let term: i64 = self
            .acquire
            .evalsha_with_reload(
                client,
                vec![self.keys.lease.clone(), self.keys.term.clone()],
                vec![
                    self.instance.clone(),
                    self.ttl_ms.to_string(),
                    floor.to_string(),
                ],
            )
            .await?;
        Ok((term > 0).then(|| LeaseToken {
            token: format!("{}:{term}", self.instance),
            term: term as u64,
        }))
    }

    /// Extends the lease; false if it is no longer ours.
    pub async fn renew(&self, client: &Client, lease: &LeaseToken) -> Result<bool, Error> {
        let renewed: i64 = self
            .renew
            .evalsha_with_reload(
                client,
                vec![self.keys.lease.clone()],
                vec![lease.token.clone(), self.ttl_ms.to_string()],
            )
            .await?;
        Ok(renewed == 1)
    }

    /// Gives the lease up at once and tells the followers.
    pub async fn release(&self, client: &Client, lease: &LeaseToken) -> Result<bool, Error> {
        let resign = Envelope::Resign
            .encode(lease.term)
            .unwrap_or_else(|_| format!("{} r", lease.term));
        let released: i64 = self
            .release
            .evalsha_with_reload(
                client,
                vec![self.keys.lease.clone()],
                vec![lease.token.clone(), self.keys.channel.clone(), resign],
            )
            .await?;
        Ok(released == 1)
    }
}
