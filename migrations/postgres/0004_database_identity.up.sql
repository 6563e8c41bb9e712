-- The database's identity: one row ('database_id', <random 32 hex digits>) written once, here.
-- A gateway group binds its Redis keys to it and every stream epoch starts with it, so two
-- databases (or one database dropped and recreated, or restored elsewhere) are never mistaken
-- for each other. Gateway-owned: writers never touch it.
CREATE TABLE IF NOT EXISTS signalgate_meta (
  name VARCHAR(64) PRIMARY KEY,
  value VARCHAR(255) NOT NULL
);

INSERT INTO signalgate_meta (name, value)
  VALUES ('database_id',
          md5(random()::text || clock_timestamp()::text || pg_backend_pid()::text || current_database()))
  ON CONFLICT (name) DO NOTHING;
