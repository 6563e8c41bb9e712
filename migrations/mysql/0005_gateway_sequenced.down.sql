-- Back to trigger-assigned seq (0001). Events the gateway has not numbered yet are numbered
-- here, after each variant's head, in id order.
DROP TRIGGER IF EXISTS monitor_signal_snapshot_deleted;
DROP TRIGGER IF EXISTS monitor_signal_seq_deleted;
DROP TABLE IF EXISTS signalgate_counter;

UPDATE monitor_signal_event e
  JOIN (SELECT p.id,
               COALESCE(s.v, 0) + ROW_NUMBER() OVER (PARTITION BY p.variant ORDER BY p.id) AS n
          FROM monitor_signal_event p
          LEFT JOIN monitor_signal_seq s ON s.variant = p.variant
         WHERE p.seq IS NULL) x ON x.id = e.id
   SET e.seq = x.n;
INSERT INTO monitor_signal_seq (variant, v)
  SELECT variant, MAX(seq) FROM monitor_signal_event GROUP BY variant
  ON DUPLICATE KEY UPDATE v = GREATEST(v, VALUES(v));
ALTER TABLE monitor_signal_event DROP KEY idx_event_seq;

DROP TRIGGER IF EXISTS monitor_signal_snapshot_version;
CREATE TRIGGER monitor_signal_snapshot_version BEFORE UPDATE ON monitor_signal_snapshot FOR EACH ROW
  SET NEW.version = OLD.version + 1;
ALTER TABLE monitor_signal_snapshot DROP KEY idx_snapshot_pending, DROP COLUMN pending;

DROP TRIGGER IF EXISTS monitor_signal_event_seq;
CREATE TRIGGER monitor_signal_event_seq BEFORE INSERT ON monitor_signal_event FOR EACH ROW
BEGIN
  INSERT INTO monitor_signal_seq (variant, v) VALUES (NEW.variant, 1)
    ON DUPLICATE KEY UPDATE v = v + 1;
  SET NEW.seq = (SELECT v FROM monitor_signal_seq WHERE variant = NEW.variant);
END;
