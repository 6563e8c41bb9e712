-- Strategy signal tables from the design document, plus what the realtime cursor needs:
--   * monitor_signal_snapshot.version: incremented by a trigger on every update of the row;
--   * monitor_signal_event.seq: per-variant sequence assigned by a trigger in commit order;
--   * monitor_signal_seq: one counter row per variant. The BEFORE INSERT trigger upserts it, and
--     the row lock is held until the writer commits, so within a variant seq order is commit order
--     and a rolled-back insert rolls its increment back.
-- Writers only ever use the seed columns; they never mention version or seq.

CREATE TABLE IF NOT EXISTS monitor_signal_snapshot (
  id BIGINT AUTO_INCREMENT PRIMARY KEY,
  variant VARCHAR(64) NOT NULL,
  instance_id VARCHAR(64) NOT NULL,
  updated_at DATETIME(6) NOT NULL,
  bar_dt DATETIME(6) NULL,
  bar_interval VARCHAR(16) NULL,
  bar_window INT NULL,
  payload_json JSON NOT NULL,
  version BIGINT NOT NULL DEFAULT 1,
  UNIQUE KEY uk_variant_instance (variant, instance_id),
  KEY idx_updated_at (updated_at),
  KEY idx_bar_dt (bar_dt)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS monitor_signal_event (
  id BIGINT AUTO_INCREMENT PRIMARY KEY,
  variant VARCHAR(64) NOT NULL,
  instance_id VARCHAR(64) NOT NULL,
  vt_symbol VARCHAR(64) NOT NULL,
  bar_dt DATETIME(6) NULL,
  event_type VARCHAR(32) NOT NULL,
  event_key VARCHAR(192) NOT NULL,
  created_at DATETIME(6) NOT NULL,
  payload_json JSON NOT NULL,
  seq BIGINT NULL DEFAULT NULL,
  UNIQUE KEY uk_event_key (event_key),
  UNIQUE KEY uk_variant_seq (variant, seq),
  KEY idx_variant_created (variant, created_at),
  KEY idx_symbol_bar (vt_symbol, bar_dt),
  KEY idx_type_created (event_type, created_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS monitor_signal_seq (
  variant VARCHAR(64) NOT NULL PRIMARY KEY,
  v BIGINT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

DROP TRIGGER IF EXISTS monitor_signal_event_seq;
CREATE TRIGGER monitor_signal_event_seq BEFORE INSERT ON monitor_signal_event FOR EACH ROW
BEGIN
  INSERT INTO monitor_signal_seq (variant, v) VALUES (NEW.variant, 1)
    ON DUPLICATE KEY UPDATE v = v + 1;
  SET NEW.seq = (SELECT v FROM monitor_signal_seq WHERE variant = NEW.variant);
END;

DROP TRIGGER IF EXISTS monitor_signal_snapshot_version;
CREATE TRIGGER monitor_signal_snapshot_version BEFORE UPDATE ON monitor_signal_snapshot FOR EACH ROW
  SET NEW.version = OLD.version + 1;
