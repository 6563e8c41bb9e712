//! The Redis wire format of group mode: `<term> <kind> <json>`.
//!
//! * `term` is the leadership term of the publisher (a fencing counter taken with the lease):
//!   consumers drop anything from a term older than the newest they have seen.
//! * `kind` is `m` (a [`BusMessage`] in its own wire form, [`BusMessage::to_json`]), `h` (the
//!   leader's [`StreamPositions`]) or `r` (the leader resigned: try to take over now; no JSON).
//!
//! A text header in front of the JSON keeps the bus message's bytes as they are: nothing is
//! parsed or serialised twice to add the term.

use super::{BusMessage, StreamPositions};

/// One Redis pub/sub message.
#[derive(Debug, Clone)]
pub enum Envelope {
    /// A poller message.
    Message(BusMessage),
    /// The leader's heartbeat: what it has published so far, sent about once a second; a
    /// consumer that is behind refills the gap from the database.
    Heartbeat(StreamPositions),
    /// The leader released its lease (shutting down): followers should try to take over.
    Resign,
}

/// Why a pub/sub payload could not be read.
#[derive(Debug, thiserror::Error)]
pub enum EnvelopeError {
    /// Not `<term> <kind> ...`.
    #[error("malformed envelope header")]
    Header,
    /// Unknown kind letter.
    #[error("unknown envelope kind '{0}'")]
    Kind(String),
    /// The JSON body did not parse.
    #[error("invalid envelope body: {0}")]
    Json(#[from] serde_json::Error),
}

impl Envelope {
    /// The wire form, tagged with `term`.
    pub fn encode(&self, term: u64) -> Result<String, serde_json::Error> {
        Ok(match self {
            Self::Message(m) => format!("{term} m {}", m.to_json()?),
            Self::Heartbeat(h) => format!("{term} h {}", serde_json::to_string(h)?),
            Self::Resign => format!("{term} r"),
        })
    }

    /// Parses the wire form into `(term, envelope)`.
    pub fn decode(text: &str) -> Result<(u64, Self), EnvelopeError> {
        let (term, rest) = text.split_once(' ').ok_or(EnvelopeError::Header)?;
        let term: u64 = term.parse().map_err(|_| EnvelopeError::Header)?;
        let (kind, body) = rest.split_once(' ').unwrap_or((rest, ""));
        let env = match kind {
            "m" => Self::Message(BusMessage::from_json(body)?),
            "h" => Self::Heartbeat(serde_json::from_str(body)?),
            "r" => Self::Resign,
            other => return Err(EnvelopeError::Kind(other.chars().take(8).collect())),
        };
        Ok((term, env))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bus::EventBatch;

    #[test]
    fn round_trips_every_kind_and_rejects_garbage() {
        let msg = Envelope::Message(BusMessage::Events(EventBatch {
            variant: "v".into(),
            after_seq: 1,
            upto_seq: 2,
            events: Vec::new(),
        }));
        let text = msg.encode(7).expect("encodes");
        assert!(text.starts_with("7 m {\"events\""), "{text}");
        let (term, back) = Envelope::decode(&text).expect("decodes");
        assert_eq!(term, 7);
        assert!(matches!(back, Envelope::Message(BusMessage::Events(b)) if b.upto_seq == 2));

        let mut hb = StreamPositions::default();
        hb.heads.insert("v".into(), 9);
        hb.versions
            .entry("v".into())
            .or_default()
            .insert("i".into(), 3);
        let text = Envelope::Heartbeat(hb.clone()).encode(8).expect("encodes");
        let (term, back) = Envelope::decode(&text).expect("decodes");
        assert_eq!(term, 8);
        assert!(matches!(back, Envelope::Heartbeat(h) if h == hb));

        let (term, back) = Envelope::decode("9 r").expect("decodes");
        assert_eq!(term, 9);
        assert!(matches!(back, Envelope::Resign));

        for bad in ["", "x m {}", "7", "7 q {}", "7 m {\"nope\":1}", "7 h [1]"] {
            assert!(Envelope::decode(bad).is_err(), "{bad}");
        }
    }
}
