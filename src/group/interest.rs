//! Which bar series are followed anywhere in the group: one Redis sorted set per group
//! (`signalgate:{group}:bars:interest`), member `<vt_symbol>:<interval>` (the room name without
//! `bars:`), score the time the interest expires.
//!
//! * Every instance announces the series its clients follow about once a second and at once
//!   when one is added ([`Interest::announce`]): each member's score becomes now + the TTL.
//! * The leader reads the members that have not expired ([`Interest::read`]), dropping the
//!   expired ones, before every bar poll.
//!
//! Nobody removes a member: a series one instance stops following may still be followed by
//! another, so it simply expires [`INTEREST_TTL`] after the last announcement. An instance that
//! dies stops announcing, so its interest expires too. Both scripts take the time from Redis
//! (`TIME`), so the instances' clocks do not matter; the key itself expires a TTL after the last
//! announcement, so an idle group leaves nothing behind.

use std::time::Duration;

use fred::{
    prelude::{Client, Error},
    types::scripts::Script,
};

use crate::{
    domain::{Interval, VtSymbol},
    store::BarSeries,
};

/// How long an announcement holds: three announcement periods, so one slow round is harmless.
pub const INTEREST_TTL: Duration = Duration::from_secs(3);
/// How often every instance announces its series (besides at once on a new one).
pub const ANNOUNCE_EVERY: Duration = Duration::from_secs(1);
/// Members per announcement script (bounded arguments per call).
const MEMBERS_PER_CALL: usize = 500;

/// KEYS: interest. ARGV: ttl ms, members... Sets every member's expiry to now + ttl.
const ANNOUNCE_LUA: &str = r"
redis.replicate_commands()
local t = redis.call('TIME')
local expires = string.format('%d', tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + tonumber(ARGV[1]))
for i = 2, #ARGV do
  redis.call('ZADD', KEYS[1], expires, ARGV[i])
end
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return #ARGV - 1
";

/// KEYS: interest. Drops expired members and returns the others.
const READ_LUA: &str = r"
redis.replicate_commands()
local t = redis.call('TIME')
local now = string.format('%d', tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000))
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
return redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. now, '+inf')
";

/// The interest scripts of one group.
#[derive(Debug, Clone)]
pub struct Interest {
    key: String,
    announce: Script,
    read: Script,
}

/// The sorted-set member of `series`.
pub fn member(series: &BarSeries) -> String {
    format!("{}:{}", series.vt_symbol, series.interval.as_str())
}

/// The series of a member; `None` if it is not one (written by something else).
pub fn parse_member(member: &str) -> Option<BarSeries> {
    let (vt_symbol, interval) = member.rsplit_once(':')?;
    Some(BarSeries {
        vt_symbol: VtSymbol::parse(vt_symbol).ok()?,
        interval: Interval::parse(interval).ok()?,
    })
}

impl Interest {
    /// The interest stored at `key`.
    pub fn new(key: String) -> Self {
        Self {
            key,
            announce: Script::from_lua(ANNOUNCE_LUA),
            read: Script::from_lua(READ_LUA),
        }
    }

    /// Announces that `series` are followed (for the next [`INTEREST_TTL`]).
    pub async fn announce(&self, client: &Client, series: &[BarSeries]) -> Result<(), Error> {
        let ttl = INTEREST_TTL.as_millis().to_string();
        for chunk in series.chunks(MEMBERS_PER_CALL) {
            let args: Vec<String> = std::iter::once(ttl.clone())
                .chain(chunk.iter().map(member))
                .collect();
            let _: i64 = self
                .announce
                .evalsha_with_reload(client, vec![self.key.clone()], args)
                .await?;
        }
        Ok(())
    }

    /// The series followed somewhere in the group right now.
    pub async fn read(&self, client: &Client) -> Result<Vec<BarSeries>, Error> {
        let members: Vec<String> = self
            .read
            .evalsha_with_reload(client, vec![self.key.clone()], Vec::<String>::new())
            .await?;
        Ok(members
            .iter()
            .filter_map(|m| {
                let s = parse_member(m);
                if s.is_none() {
                    tracing::warn!(member = %m, "ignoring an unreadable bar interest entry");
                }
                s
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_round_trip_and_garbage_is_skipped() {
        let s = BarSeries {
            vt_symbol: VtSymbol::parse("a:b.SHFE").expect("symbol"),
            interval: Interval::Hour,
        };
        assert_eq!(member(&s), "a:b.SHFE:1h");
        assert_eq!(parse_member(&member(&s)), Some(s));
        // Resampled intervals travel like stored ones (the leader polls them for the group).
        let five = parse_member("rb2405.SHFE:5m").map(|s| s.interval);
        assert_eq!(five, Some(Interval::Minute5));
        for bad in ["", "rb2405.SHFE", "rb2405.SHFE:2m", "nodot:1m"] {
            assert_eq!(parse_member(bad), None, "{bad}");
        }
    }
}
