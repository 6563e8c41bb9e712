//! One shape for "how far a stream got": every variant's head `seq`, every snapshot's version,
//! the epochs of variants whose history was reset, and the database they belong to. The poller
//! starts from one ([`crate::poller::Poller::new`]), the hub reports its own
//! ([`crate::realtime::hub::Hub::seed`]), the group leader sends one about once a second as its
//! heartbeat, and a follower's feed compares one built from the database's own
//! [`PollState`] (centrifuge's `StreamPosition`, for a whole stream set).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::store::PollState;

/// Stream positions. Its JSON is the heartbeat's wire format (`heads`, `versions`, and
/// `epochs` / `database` when not empty).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamPositions {
    /// variant → last published (or applied) seq.
    pub heads: HashMap<String, i64>,
    /// variant → instance → last published snapshot version.
    pub versions: HashMap<String, HashMap<String, i64>>,
    /// variant → epoch, for variants whose history was reset (the rest are in the initial one).
    #[serde(default, skip_serializing_if = "HashMap::is_empty")]
    pub epochs: HashMap<String, String>,
    /// The database identity: the initial epoch of the variants not in `epochs` (empty: not
    /// known yet).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub database: String,
}

impl StreamPositions {
    /// The published version of one snapshot row.
    pub fn version(&self, variant: &str, instance: &str) -> Option<i64> {
        self.versions.get(variant)?.get(instance).copied()
    }

    /// The head of `variant`, 0 if none was published.
    pub fn head(&self, variant: &str) -> i64 {
        self.heads.get(variant).copied().unwrap_or(0)
    }
}

impl From<PollState> for StreamPositions {
    /// The database's own positions (no epochs: those exist only in a gateway).
    fn from(state: PollState) -> Self {
        let mut positions = Self {
            heads: state.seqs.into_iter().collect(),
            database: state.database_id,
            ..Self::default()
        };
        for (variant, instance, version) in state.versions {
            positions
                .versions
                .entry(variant)
                .or_default()
                .insert(instance, version);
        }
        positions
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_database_read_becomes_positions() {
        let state = PollState {
            database_id: "db1".into(),
            seqs: vec![("a".into(), 7)],
            versions: vec![("a".into(), "i1".into(), 3), ("b".into(), "i2".into(), 1)],
            pending: Vec::new(),
        };
        let p = StreamPositions::from(state);
        assert_eq!((p.head("a"), p.head("b")), (7, 0));
        assert_eq!(p.version("a", "i1"), Some(3));
        assert_eq!(p.version("b", "i2"), Some(1));
        assert_eq!(p.version("b", "i1"), None);
        assert_eq!(p.database, "db1");
    }

    #[test]
    fn the_wire_format_is_the_heartbeats() {
        let mut p = StreamPositions::default();
        p.heads.insert("a".into(), 2);
        assert_eq!(
            serde_json::to_string(&p).expect("json"),
            r#"{"heads":{"a":2},"versions":{}}"#
        );
        let back: StreamPositions =
            serde_json::from_str(r#"{"heads":{"a":2},"versions":{},"database":"x"}"#)
                .expect("parse");
        assert_eq!((back.head("a"), back.database.as_str()), (2, "x"));
    }
}
