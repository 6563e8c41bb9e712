//! Domain types shared by every layer: validated identifiers ([`Variant`], [`VtSymbol`],
//! [`Interval`]), the wire shapes ([`Snapshot`], [`Event`], [`Bar`], [`OverviewSummary`]) and
//! time helpers.
//!
//! Parsing happens once, at the edge (HTTP query, Socket.IO payload, CLI); everything behind it
//! takes the validated newtypes.

mod bars;
mod ids;
mod model;
mod overview;
mod schema;
mod time;

pub use bars::{Bar, bucket_bars, resample};
pub use ids::{InstanceId, Interval, MAX_NAME_LEN, ParseError, Variant, VtSymbol};
#[cfg(test)]
pub(crate) use model::test_event;
pub use model::{Event, EventType, Snapshot, VariantSummary, parse_payload};
pub use overview::{InstanceSummary, LastEvent, Lights, OverviewSummary};
pub use time::{MAX_TIME, MIN_TIME, fmt_time, local_to_utc, parse_time, utc_to_local};
