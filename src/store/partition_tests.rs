//! Unit tests of `partition.rs`: month arithmetic and partition names.

use super::*;

#[test]
fn months_step_over_years_and_name_partitions() {
    let m = Month {
        year: 2026,
        month: 11,
    };
    assert_eq!(
        m.plus(2),
        Month {
            year: 2027,
            month: 1
        }
    );
    assert_eq!(
        m.plus(-11),
        Month {
            year: 2025,
            month: 12
        }
    );
    assert_eq!(m.partition(), "monitor_signal_event_p202611");
    assert_eq!(
        Month::from_partition("monitor_signal_event_p202611"),
        Some(m)
    );
    assert_eq!(Month::from_partition("monitor_signal_event_default"), None);
    assert_eq!(Month::from_partition("monitor_signal_event_p202613"), None);
    assert_eq!(m.literal(), "'2026-11-01 00:00:00+00'");
    assert_eq!(m.start().to_rfc3339(), "2026-11-01T00:00:00+00:00");
}
