BEGIN;
LOCK TABLE monitor_signal_event IN EXCLUSIVE MODE;
ALTER TABLE monitor_signal_snapshot ADD COLUMN version BIGINT NOT NULL DEFAULT 1;
ALTER TABLE monitor_signal_event ADD COLUMN seq BIGINT NULL;
CREATE TABLE IF NOT EXISTS monitor_signal_seq (
  variant VARCHAR(64) PRIMARY KEY,
  v BIGINT NOT NULL
);
UPDATE monitor_signal_event e
   SET seq = r.rn
  FROM (SELECT id, ROW_NUMBER() OVER (PARTITION BY variant ORDER BY id) AS rn
          FROM monitor_signal_event) r
 WHERE e.id = r.id;
ALTER TABLE monitor_signal_event ALTER COLUMN seq SET NOT NULL;  -- as in a fresh install
ALTER TABLE monitor_signal_event ADD CONSTRAINT uk_variant_seq UNIQUE (variant, seq);
INSERT INTO monitor_signal_seq AS s (variant, v)
  SELECT variant, MAX(seq) FROM monitor_signal_event GROUP BY variant
  ON CONFLICT (variant) DO UPDATE SET v = GREATEST(s.v, excluded.v);
COMMIT;
