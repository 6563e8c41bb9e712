-- Back to trigger-assigned seq and NOTIFY (0001). Events the gateway has not numbered yet are
-- numbered here, after each variant's head, in id order.
DROP TRIGGER IF EXISTS monitor_signal_snapshot_deleted ON monitor_signal_snapshot;
DROP TRIGGER IF EXISTS monitor_signal_seq_deleted ON monitor_signal_seq;
DROP FUNCTION IF EXISTS monitor_signal_snapshot_deleted();
DROP TABLE IF EXISTS signalgate_counter;

WITH numbered AS (
  SELECT e.id,
         COALESCE(s.v, 0) + row_number() OVER (PARTITION BY e.variant ORDER BY e.id) AS seq
    FROM monitor_signal_event e
    LEFT JOIN monitor_signal_seq s ON s.variant = e.variant
   WHERE e.seq IS NULL
)
UPDATE monitor_signal_event e SET seq = numbered.seq FROM numbered WHERE e.id = numbered.id;
INSERT INTO monitor_signal_seq AS s (variant, v)
  SELECT variant, max(seq) FROM monitor_signal_event GROUP BY variant
  ON CONFLICT (variant) DO UPDATE SET v = GREATEST(s.v, excluded.v);
DROP INDEX IF EXISTS idx_event_unsequenced;
ALTER TABLE monitor_signal_event ALTER COLUMN seq SET NOT NULL;

CREATE OR REPLACE FUNCTION monitor_signal_snapshot_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.version := OLD.version + 1;
  RETURN NEW;
END $$;
DROP INDEX IF EXISTS idx_snapshot_pending;
ALTER TABLE monitor_signal_snapshot DROP COLUMN IF EXISTS pending;

DROP TRIGGER IF EXISTS monitor_signal_event_seq ON monitor_signal_event;
CREATE TRIGGER monitor_signal_event_seq BEFORE INSERT ON monitor_signal_event
  FOR EACH ROW EXECUTE FUNCTION monitor_signal_event_seq();
DROP TRIGGER IF EXISTS monitor_signal_event_notify ON monitor_signal_event;
CREATE TRIGGER monitor_signal_event_notify AFTER INSERT ON monitor_signal_event
  FOR EACH ROW EXECUTE FUNCTION monitor_signal_notify();
DROP TRIGGER IF EXISTS monitor_signal_snapshot_notify ON monitor_signal_snapshot;
CREATE TRIGGER monitor_signal_snapshot_notify AFTER INSERT OR UPDATE ON monitor_signal_snapshot
  FOR EACH ROW EXECUTE FUNCTION monitor_signal_notify();
