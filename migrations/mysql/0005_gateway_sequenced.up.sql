-- Gateway-sequenced events: writers pay nothing for the commit-ordered cursor. See
-- migrations/postgres/0005 for the reasoning. Here the insert trigger (two statements and a
-- counter row locked until the writer commits) goes; an insert is one statement again. An
-- index on `seq` finds the pending (NULL) events; MySQL has no partial indexes.

DROP TRIGGER IF EXISTS monitor_signal_event_seq;
ALTER TABLE monitor_signal_event ADD KEY idx_event_seq (seq);

ALTER TABLE monitor_signal_snapshot
  ADD COLUMN pending TINYINT NOT NULL DEFAULT 1,
  ADD KEY idx_snapshot_pending (pending);

DROP TRIGGER IF EXISTS monitor_signal_snapshot_version;
CREATE TRIGGER monitor_signal_snapshot_version BEFORE UPDATE ON monitor_signal_snapshot FOR EACH ROW
BEGIN
  -- The gateway marking the version it read as published is not a write.
  IF NOT (OLD.pending = 1 AND NEW.pending = 0) THEN
    SET NEW.version = OLD.version + 1;
    SET NEW.pending = 1;
  END IF;
END;

CREATE TABLE IF NOT EXISTS signalgate_counter (
  name VARCHAR(32) NOT NULL PRIMARY KEY,
  n BIGINT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
INSERT IGNORE INTO signalgate_counter (name, n) VALUES ('round', 0), ('deletions', 0);

DROP TRIGGER IF EXISTS monitor_signal_snapshot_deleted;
CREATE TRIGGER monitor_signal_snapshot_deleted AFTER DELETE ON monitor_signal_snapshot FOR EACH ROW
  UPDATE signalgate_counter SET n = n + 1 WHERE name = 'deletions';

-- A counter row deleted (its history wiped by hand) is noticed at the next poll too.
DROP TRIGGER IF EXISTS monitor_signal_seq_deleted;
CREATE TRIGGER monitor_signal_seq_deleted AFTER DELETE ON monitor_signal_seq FOR EACH ROW
  UPDATE signalgate_counter SET n = n + 1 WHERE name = 'deletions';
