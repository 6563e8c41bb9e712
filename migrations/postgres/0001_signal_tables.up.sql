-- Strategy signal tables (PostgreSQL flavour of the design document), plus what the realtime
-- cursor needs. See migrations/mysql/0001 for the reasoning; here additionally every change
-- sends NOTIFY signalgate, '<variant>' at commit so the poller wakes at once.

CREATE TABLE IF NOT EXISTS monitor_signal_snapshot (
  id BIGSERIAL PRIMARY KEY,
  variant VARCHAR(64) NOT NULL,
  instance_id VARCHAR(64) NOT NULL,
  updated_at TIMESTAMPTZ NOT NULL,
  bar_dt TIMESTAMPTZ NULL,
  bar_interval VARCHAR(16) NULL,
  bar_window INT NULL,
  payload_json JSONB NOT NULL,
  version BIGINT NOT NULL DEFAULT 1,
  CONSTRAINT uk_variant_instance UNIQUE (variant, instance_id)
);
CREATE INDEX IF NOT EXISTS idx_snapshot_updated_at ON monitor_signal_snapshot (updated_at);
CREATE INDEX IF NOT EXISTS idx_snapshot_bar_dt ON monitor_signal_snapshot (bar_dt);

CREATE TABLE IF NOT EXISTS monitor_signal_event (
  id BIGSERIAL PRIMARY KEY,
  variant VARCHAR(64) NOT NULL,
  instance_id VARCHAR(64) NOT NULL,
  vt_symbol VARCHAR(64) NOT NULL,
  bar_dt TIMESTAMPTZ NULL,
  event_type VARCHAR(32) NOT NULL,
  event_key VARCHAR(192) NOT NULL,
  created_at TIMESTAMPTZ NOT NULL,
  payload_json JSONB NOT NULL,
  seq BIGINT NOT NULL,
  CONSTRAINT uk_event_key UNIQUE (event_key),
  CONSTRAINT uk_variant_seq UNIQUE (variant, seq)
);
CREATE INDEX IF NOT EXISTS idx_event_variant_created ON monitor_signal_event (variant, created_at);
CREATE INDEX IF NOT EXISTS idx_event_symbol_bar ON monitor_signal_event (vt_symbol, bar_dt);
CREATE INDEX IF NOT EXISTS idx_event_type_created ON monitor_signal_event (event_type, created_at);

CREATE TABLE IF NOT EXISTS monitor_signal_seq (
  variant VARCHAR(64) PRIMARY KEY,
  v BIGINT NOT NULL
);

CREATE OR REPLACE FUNCTION monitor_signal_event_seq() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO monitor_signal_seq AS s (variant, v) VALUES (NEW.variant, 1)
    ON CONFLICT (variant) DO UPDATE SET v = s.v + 1
    RETURNING s.v INTO NEW.seq;
  RETURN NEW;
END $$;

CREATE OR REPLACE FUNCTION monitor_signal_snapshot_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.version := OLD.version + 1;
  RETURN NEW;
END $$;

CREATE OR REPLACE FUNCTION monitor_signal_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('signalgate', NEW.variant);
  RETURN NULL;
END $$;

DROP TRIGGER IF EXISTS monitor_signal_event_seq ON monitor_signal_event;
CREATE TRIGGER monitor_signal_event_seq BEFORE INSERT ON monitor_signal_event
  FOR EACH ROW EXECUTE FUNCTION monitor_signal_event_seq();
DROP TRIGGER IF EXISTS monitor_signal_snapshot_version ON monitor_signal_snapshot;
CREATE TRIGGER monitor_signal_snapshot_version BEFORE UPDATE ON monitor_signal_snapshot
  FOR EACH ROW EXECUTE FUNCTION monitor_signal_snapshot_version();
DROP TRIGGER IF EXISTS monitor_signal_event_notify ON monitor_signal_event;
CREATE TRIGGER monitor_signal_event_notify AFTER INSERT ON monitor_signal_event
  FOR EACH ROW EXECUTE FUNCTION monitor_signal_notify();
DROP TRIGGER IF EXISTS monitor_signal_snapshot_notify ON monitor_signal_snapshot;
CREATE TRIGGER monitor_signal_snapshot_notify AFTER INSERT OR UPDATE ON monitor_signal_snapshot
  FOR EACH ROW EXECUTE FUNCTION monitor_signal_notify();
