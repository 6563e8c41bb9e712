-- Back to trigger-assigned seq (0001). Events the gateway has not numbered yet are numbered
-- here, after each variant's head, in id order.
DROP TRIGGER IF EXISTS monitor_signal_snapshot_deleted;
DROP TRIGGER IF EXISTS monitor_signal_seq_deleted;
DROP TABLE IF EXISTS signalgate_counter;

UPDATE monitor_signal_event
   SET seq = x.n
  FROM (SELECT p.id AS id,
               COALESCE(s.v, 0) + row_number() OVER (PARTITION BY p.variant ORDER BY p.id) AS n
          FROM monitor_signal_event p
          LEFT JOIN monitor_signal_seq s ON s.variant = p.variant
         WHERE p.seq IS NULL) AS x
 WHERE monitor_signal_event.id = x.id;
INSERT INTO monitor_signal_seq (variant, v)
  SELECT variant, MAX(seq) FROM monitor_signal_event WHERE seq IS NOT NULL GROUP BY variant
  ON CONFLICT (variant) DO UPDATE SET v = MAX(v, excluded.v);
DROP INDEX IF EXISTS idx_event_unsequenced;

DROP TRIGGER IF EXISTS monitor_signal_snapshot_version;
CREATE TRIGGER monitor_signal_snapshot_version AFTER UPDATE ON monitor_signal_snapshot
FOR EACH ROW WHEN NEW.version = OLD.version BEGIN
  UPDATE monitor_signal_snapshot SET version = OLD.version + 1 WHERE id = NEW.id;
END;
DROP INDEX IF EXISTS idx_snapshot_pending;
ALTER TABLE monitor_signal_snapshot DROP COLUMN pending;

CREATE TRIGGER IF NOT EXISTS monitor_signal_event_seq AFTER INSERT ON monitor_signal_event
FOR EACH ROW BEGIN
  INSERT OR IGNORE INTO monitor_signal_seq (variant, v) VALUES (NEW.variant, 0);
  UPDATE monitor_signal_seq SET v = v + 1 WHERE variant = NEW.variant;
  UPDATE monitor_signal_event
     SET seq = (SELECT v FROM monitor_signal_seq WHERE variant = NEW.variant)
   WHERE id = NEW.id;
END;
