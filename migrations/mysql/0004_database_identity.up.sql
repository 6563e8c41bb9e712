-- The database's identity: one row ('database_id', <random 32 hex digits>) written once, here.
-- A gateway group binds its Redis keys to it and every stream epoch starts with it, so two
-- databases (or one database dropped and recreated, or restored elsewhere) are never mistaken
-- for each other. Gateway-owned: writers never touch it.
CREATE TABLE IF NOT EXISTS signalgate_meta (
  name VARCHAR(64) NOT NULL PRIMARY KEY,
  value VARCHAR(255) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

INSERT IGNORE INTO signalgate_meta (name, value)
  VALUES ('database_id', LEFT(SHA2(CONCAT(UUID(), RAND(), NOW(6), CONNECTION_ID()), 256), 32));
