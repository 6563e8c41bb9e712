DROP TRIGGER IF EXISTS monitor_signal_snapshot_version;
DROP TRIGGER IF EXISTS monitor_signal_event_seq;
DROP TABLE IF EXISTS monitor_signal_seq;
DROP TABLE IF EXISTS monitor_signal_event;
DROP TABLE IF EXISTS monitor_signal_snapshot;
