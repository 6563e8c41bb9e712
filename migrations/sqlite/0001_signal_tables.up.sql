-- Strategy signal tables (SQLite flavour, JSON as TEXT, times as 'YYYY-MM-DD HH:MM:SS.ffffff'
-- UTC text). SQLite has one writer at a time, so commit order is insert order; triggers still
-- maintain version and seq so writers use only the seed columns, as on the server databases.
-- SQLite cannot modify NEW in a BEFORE trigger, so seq is set by an AFTER INSERT trigger.

CREATE TABLE IF NOT EXISTS monitor_signal_snapshot (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  variant TEXT NOT NULL,
  instance_id TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  bar_dt TEXT NULL,
  bar_interval TEXT NULL,
  bar_window INTEGER NULL,
  payload_json TEXT NOT NULL,
  version INTEGER NOT NULL DEFAULT 1,
  CONSTRAINT uk_variant_instance UNIQUE (variant, instance_id)
);
CREATE INDEX IF NOT EXISTS idx_snapshot_updated_at ON monitor_signal_snapshot (updated_at);
CREATE INDEX IF NOT EXISTS idx_snapshot_bar_dt ON monitor_signal_snapshot (bar_dt);

CREATE TABLE IF NOT EXISTS monitor_signal_event (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  variant TEXT NOT NULL,
  instance_id TEXT NOT NULL,
  vt_symbol TEXT NOT NULL,
  bar_dt TEXT NULL,
  event_type TEXT NOT NULL,
  event_key TEXT NOT NULL,
  created_at TEXT NOT NULL,
  payload_json TEXT NOT NULL,
  seq INTEGER NULL,
  CONSTRAINT uk_event_key UNIQUE (event_key),
  CONSTRAINT uk_variant_seq UNIQUE (variant, seq)
);
CREATE INDEX IF NOT EXISTS idx_event_variant_created ON monitor_signal_event (variant, created_at);
CREATE INDEX IF NOT EXISTS idx_event_symbol_bar ON monitor_signal_event (vt_symbol, bar_dt);
CREATE INDEX IF NOT EXISTS idx_event_type_created ON monitor_signal_event (event_type, created_at);

CREATE TABLE IF NOT EXISTS monitor_signal_seq (
  variant TEXT PRIMARY KEY,
  v INTEGER NOT NULL
);

CREATE TRIGGER IF NOT EXISTS monitor_signal_event_seq AFTER INSERT ON monitor_signal_event
FOR EACH ROW BEGIN
  INSERT OR IGNORE INTO monitor_signal_seq (variant, v) VALUES (NEW.variant, 0);
  UPDATE monitor_signal_seq SET v = v + 1 WHERE variant = NEW.variant;
  UPDATE monitor_signal_event
     SET seq = (SELECT v FROM monitor_signal_seq WHERE variant = NEW.variant)
   WHERE id = NEW.id;
END;

CREATE TRIGGER IF NOT EXISTS monitor_signal_snapshot_version AFTER UPDATE ON monitor_signal_snapshot
FOR EACH ROW WHEN NEW.version = OLD.version BEGIN
  UPDATE monitor_signal_snapshot SET version = OLD.version + 1 WHERE id = NEW.id;
END;
