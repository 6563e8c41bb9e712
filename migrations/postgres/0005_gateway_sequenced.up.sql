-- Gateway-sequenced events: writers pay nothing for the commit-ordered cursor.
--
-- Before: a BEFORE INSERT trigger took the next `seq` from the variant's counter row (locked
-- until the writer committed, so one variant's writers committed one at a time) and AFTER
-- triggers sent NOTIFY (a global lock held through every notifying commit). Now:
--   * an event is inserted with `seq` NULL ("pending"); the gateway's poller numbers pending
--     events in short transactions of its own (see docs/schema.md, "How seq is assigned"), so
--     `seq` order is the order in which events became visible to the numbering round;
--   * a snapshot row carries `pending`, set by the existing version trigger on every write and
--     cleared by the gateway once it has read that version: an idle poll is one indexed probe,
--     whatever the number of variants;
--   * `signalgate_counter` holds the numbering round (a compare-and-set serialises gateways and
--     tells one gateway that another numbered) and a count of deletions of snapshot rows and
--     of `monitor_signal_seq` rows (bumped by statement triggers, so a deletion is noticed at
--     the next poll).
-- NOTIFY is opt-in now (docs/schema.md, "Wake-ups by NOTIFY"); the function stays.

DROP TRIGGER IF EXISTS monitor_signal_event_seq ON monitor_signal_event;
DROP TRIGGER IF EXISTS monitor_signal_event_notify ON monitor_signal_event;
DROP TRIGGER IF EXISTS monitor_signal_snapshot_notify ON monitor_signal_snapshot;
ALTER TABLE monitor_signal_event ALTER COLUMN seq DROP NOT NULL;
CREATE INDEX IF NOT EXISTS idx_event_unsequenced ON monitor_signal_event (id) WHERE seq IS NULL;

ALTER TABLE monitor_signal_snapshot ADD COLUMN IF NOT EXISTS pending BOOLEAN NOT NULL DEFAULT TRUE;
CREATE INDEX IF NOT EXISTS idx_snapshot_pending ON monitor_signal_snapshot (id) WHERE pending;

CREATE OR REPLACE FUNCTION monitor_signal_snapshot_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF OLD.pending AND NOT NEW.pending THEN
    -- The gateway marks the version it read as published: not a write.
    RETURN NEW;
  END IF;
  NEW.version := OLD.version + 1;
  NEW.pending := TRUE;
  RETURN NEW;
END $$;

CREATE TABLE IF NOT EXISTS signalgate_counter (
  name VARCHAR(32) PRIMARY KEY,
  n BIGINT NOT NULL
);
INSERT INTO signalgate_counter (name, n) VALUES ('round', 0), ('deletions', 0)
  ON CONFLICT (name) DO NOTHING;

CREATE OR REPLACE FUNCTION monitor_signal_snapshot_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE signalgate_counter SET n = n + 1 WHERE name = 'deletions';
  RETURN NULL;
END $$;
DROP TRIGGER IF EXISTS monitor_signal_snapshot_deleted ON monitor_signal_snapshot;
CREATE TRIGGER monitor_signal_snapshot_deleted AFTER DELETE ON monitor_signal_snapshot
  FOR EACH STATEMENT EXECUTE FUNCTION monitor_signal_snapshot_deleted();
DROP TRIGGER IF EXISTS monitor_signal_seq_deleted ON monitor_signal_seq;
CREATE TRIGGER monitor_signal_seq_deleted AFTER DELETE ON monitor_signal_seq
  FOR EACH STATEMENT EXECUTE FUNCTION monitor_signal_snapshot_deleted();
