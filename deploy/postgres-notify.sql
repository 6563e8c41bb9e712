-- Opt-in, PostgreSQL only: wake signalgate's poller at every commit that writes an event or a
-- snapshot, instead of at its next poll (20 ms while active, --poll-interval-ms when idle).
--
-- Not installed by `signalgate migrate`, because it taxes the writers: NOTIFY takes a global
-- lock at commit and holds it through the commit's flush, so every notifying transaction of
-- the database commits one at a time. Measured (pgbench, single-row inserts, 8 writers, this
-- project's 2-core machine): 0.39-0.41x the plain schema's commits/s with these triggers,
-- 0.96-0.98x without (BENCHMARKS.md, issue 16). Statement-level triggers send one
-- notification per statement (the gateway reads what changed itself); the snapshot trigger
-- ignores the gateway's own `pending` updates (UPDATE OF the writers' columns).
--
-- Install: psql "$DATABASE_URL" -f deploy/postgres-notify.sql
-- Remove:  DROP TRIGGER monitor_signal_event_wake ON monitor_signal_event;
--          DROP TRIGGER monitor_signal_snapshot_wake ON monitor_signal_snapshot;

CREATE OR REPLACE FUNCTION monitor_signal_wake() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('signalgate', '');
  RETURN NULL;
END $$;

DROP TRIGGER IF EXISTS monitor_signal_event_wake ON monitor_signal_event;
CREATE TRIGGER monitor_signal_event_wake AFTER INSERT ON monitor_signal_event
  FOR EACH STATEMENT EXECUTE FUNCTION monitor_signal_wake();
DROP TRIGGER IF EXISTS monitor_signal_snapshot_wake ON monitor_signal_snapshot;
CREATE TRIGGER monitor_signal_snapshot_wake
  AFTER INSERT OR UPDATE OF updated_at, payload_json ON monitor_signal_snapshot
  FOR EACH STATEMENT EXECUTE FUNCTION monitor_signal_wake();
