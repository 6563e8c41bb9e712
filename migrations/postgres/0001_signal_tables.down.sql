DROP TABLE IF EXISTS monitor_signal_event;
DROP TABLE IF EXISTS monitor_signal_snapshot;
DROP TABLE IF EXISTS monitor_signal_seq;
DROP FUNCTION IF EXISTS monitor_signal_notify();
DROP FUNCTION IF EXISTS monitor_signal_snapshot_version();
DROP FUNCTION IF EXISTS monitor_signal_event_seq();
