ALTER TABLE monitor_signal_snapshot ADD COLUMN version BIGINT NOT NULL DEFAULT 1;
ALTER TABLE monitor_signal_event ADD COLUMN seq BIGINT NULL DEFAULT NULL;
CREATE TABLE IF NOT EXISTS monitor_signal_seq (
  variant VARCHAR(64) NOT NULL PRIMARY KEY,
  v BIGINT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
-- number the existing events per variant in id order
UPDATE monitor_signal_event e
  JOIN (SELECT id, ROW_NUMBER() OVER (PARTITION BY variant ORDER BY id) AS rn
          FROM monitor_signal_event) r ON r.id = e.id
   SET e.seq = r.rn;
ALTER TABLE monitor_signal_event ADD UNIQUE KEY uk_variant_seq (variant, seq);
-- seed the counters
INSERT INTO monitor_signal_seq (variant, v)
  SELECT variant, MAX(seq) FROM monitor_signal_event GROUP BY variant
  ON DUPLICATE KEY UPDATE v = GREATEST(v, VALUES(v));
