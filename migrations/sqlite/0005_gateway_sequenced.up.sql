-- Gateway-sequenced events, as on the server databases (see migrations/postgres/0005): the
-- insert trigger goes, the poller numbers pending (NULL-seq) events, snapshot rows carry
-- `pending`, and `signalgate_counter` holds the numbering round and the count of deleted snapshot and counter rows.

DROP TRIGGER IF EXISTS monitor_signal_event_seq;
CREATE INDEX IF NOT EXISTS idx_event_unsequenced ON monitor_signal_event (id) WHERE seq IS NULL;

ALTER TABLE monitor_signal_snapshot ADD COLUMN pending INTEGER NOT NULL DEFAULT 1;
CREATE INDEX IF NOT EXISTS idx_snapshot_pending ON monitor_signal_snapshot (id) WHERE pending = 1;

DROP TRIGGER IF EXISTS monitor_signal_snapshot_version;
CREATE TRIGGER monitor_signal_snapshot_version AFTER UPDATE ON monitor_signal_snapshot
FOR EACH ROW WHEN NEW.version = OLD.version AND NOT (OLD.pending = 1 AND NEW.pending = 0) BEGIN
  UPDATE monitor_signal_snapshot SET version = OLD.version + 1, pending = 1 WHERE id = NEW.id;
END;

CREATE TABLE IF NOT EXISTS signalgate_counter (
  name TEXT NOT NULL PRIMARY KEY,
  n INTEGER NOT NULL
);
INSERT OR IGNORE INTO signalgate_counter (name, n) VALUES ('round', 0), ('deletions', 0);

CREATE TRIGGER IF NOT EXISTS monitor_signal_snapshot_deleted AFTER DELETE ON monitor_signal_snapshot
FOR EACH ROW BEGIN
  UPDATE signalgate_counter SET n = n + 1 WHERE name = 'deletions';
END;

CREATE TRIGGER IF NOT EXISTS monitor_signal_seq_deleted AFTER DELETE ON monitor_signal_seq
FOR EACH ROW BEGIN
  UPDATE signalgate_counter SET n = n + 1 WHERE name = 'deletions';
END;
