//! What `/readyz` reports about the group: this instance's role and term, and counters of the
//! events that matter when something goes wrong (degraded periods, repairs, resyncs).

use std::sync::atomic::{AtomicI64, AtomicU8, AtomicU64, Ordering};

use serde_json::{Value, json};

/// The part this instance plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Role {
    /// No `--redis-url`: polls the database itself, alone.
    Standalone = 0,
    /// Holds the lease: polls the database and publishes to the group.
    Leader = 1,
    /// Consumes the leader's messages.
    Follower = 2,
    /// Redis unreachable: polls the database itself until Redis is back.
    Degraded = 3,
}

impl Role {
    /// The name shown in `/readyz`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Standalone => "standalone",
            Self::Leader => "leader",
            Self::Follower => "follower",
            Self::Degraded => "degraded",
        }
    }

    fn from_u8(v: u8) -> Self {
        match v {
            1 => Self::Leader,
            2 => Self::Follower,
            3 => Self::Degraded,
            _ => Self::Standalone,
        }
    }
}

/// Counters that only grow.
#[derive(Debug, Default)]
pub struct Counters {
    /// Times this instance entered degraded mode.
    pub degraded_entries: AtomicU64,
    /// Terms won.
    pub terms_won: AtomicU64,
    /// Gaps found by a heartbeat or resync and refilled from the database.
    pub repairs: AtomicU64,
    /// Comparisons with the database after a reconnect or a lagging receiver.
    pub resyncs: AtomicU64,
    /// Messages dropped because their term was older than the newest seen.
    pub stale_dropped: AtomicU64,
    /// Messages dropped by the test hook (`--redis-test-drop-every`).
    pub test_dropped: AtomicU64,
}

/// Shared between the group tasks and the health handler.
#[derive(Debug)]
pub struct GroupStatus {
    instance: String,
    /// `--redis-group`.
    group: String,
    /// The database identity the group is bound to.
    database_id: String,
    role: AtomicU8,
    term: AtomicU64,
    /// Unix ms of the last message or heartbeat received from the group (0 = none yet).
    last_heard_ms: AtomicI64,
    /// Unix ms when this instance last became leader (0 = never).
    leader_since_ms: AtomicI64,
    /// Event counters.
    pub counters: Counters,
}

impl Default for GroupStatus {
    fn default() -> Self {
        Self::new(String::new(), Role::Standalone)
    }
}

fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

impl GroupStatus {
    /// A status for `instance` starting in `role`.
    pub fn new(instance: String, role: Role) -> Self {
        Self {
            instance,
            group: String::new(),
            database_id: String::new(),
            role: AtomicU8::new(role as u8),
            term: AtomicU64::new(0),
            last_heard_ms: AtomicI64::new(0),
            leader_since_ms: AtomicI64::new(0),
            counters: Counters::default(),
        }
    }

    /// The same status, in group `group` bound to the database identity `database_id`.
    pub fn bound_to(mut self, group: &str, database_id: &str) -> Self {
        group.clone_into(&mut self.group);
        database_id.clone_into(&mut self.database_id);
        self
    }

    /// `--redis-group`.
    pub fn group(&self) -> &str {
        &self.group
    }

    /// The database identity the group is bound to.
    pub fn database_id(&self) -> &str {
        &self.database_id
    }

    /// This instance's id in the group.
    pub fn instance(&self) -> &str {
        &self.instance
    }

    /// The current role.
    pub fn role(&self) -> Role {
        Role::from_u8(self.role.load(Ordering::SeqCst))
    }

    /// Changes the role (counting entries into degraded mode and won terms).
    pub fn set_role(&self, role: Role) {
        let old = Role::from_u8(self.role.swap(role as u8, Ordering::SeqCst));
        if old != role {
            match role {
                Role::Degraded => bump(&self.counters.degraded_entries),
                Role::Leader => {
                    bump(&self.counters.terms_won);
                    self.leader_since_ms
                        .store(chrono::Utc::now().timestamp_millis(), Ordering::SeqCst);
                }
                _ => {}
            }
        }
    }

    /// The term this instance leads in, or the newest it has seen.
    pub fn term(&self) -> u64 {
        self.term.load(Ordering::SeqCst)
    }

    /// Records the current term.
    pub fn set_term(&self, term: u64) {
        self.term.store(term, Ordering::SeqCst);
    }

    /// Something arrived from the group.
    pub fn heard(&self) {
        self.last_heard_ms
            .store(chrono::Utc::now().timestamp_millis(), Ordering::Relaxed);
    }

    /// Milliseconds since something arrived from the group (`None`: never).
    pub fn silent_for_ms(&self) -> Option<i64> {
        let last = self.last_heard_ms.load(Ordering::Relaxed);
        (last > 0).then(|| chrono::Utc::now().timestamp_millis() - last)
    }

    /// Counts one repair.
    pub fn repaired(&self) {
        bump(&self.counters.repairs);
    }

    /// The `/readyz` view.
    pub fn to_json(&self) -> Value {
        let c = &self.counters;
        let n = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let role = self.role();
        if role == Role::Standalone {
            return json!({"role": role.as_str()});
        }
        json!({
            "role": role.as_str(),
            "name": self.group,
            "database_id": self.database_id,
            "instance": self.instance,
            "term": self.term(),
            "last_heard_ms_ago": self.silent_for_ms(),
            "leader_since_unix_ms": self.leader_since_ms.load(Ordering::SeqCst),
            "degraded_entries": n(&c.degraded_entries),
            "terms_won": n(&c.terms_won),
            "repairs": n(&c.repairs),
            "resyncs": n(&c.resyncs),
            "stale_dropped": n(&c.stale_dropped),
            "test_dropped": n(&c.test_dropped),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_changes_are_counted_once() {
        let s = GroupStatus::new("a".into(), Role::Follower);
        s.set_role(Role::Degraded);
        s.set_role(Role::Degraded);
        s.set_role(Role::Leader);
        s.set_role(Role::Follower);
        s.set_role(Role::Leader);
        let v = s.to_json();
        assert_eq!(v["role"], "leader");
        assert_eq!(v["degraded_entries"], 1);
        assert_eq!(v["terms_won"], 2);
        assert_eq!(
            GroupStatus::default().to_json(),
            json!({"role": "standalone"})
        );
    }
}
