-- VnPy's bar tables as vnpy_sqlite (peewee) creates them. Created only if absent.
CREATE TABLE IF NOT EXISTS "dbbardata" (
  "id" INTEGER NOT NULL PRIMARY KEY,
  "symbol" VARCHAR(255) NOT NULL,
  "exchange" VARCHAR(255) NOT NULL,
  "datetime" DATETIME NOT NULL,
  "interval" VARCHAR(255) NOT NULL,
  "volume" REAL NOT NULL,
  "turnover" REAL NOT NULL,
  "open_interest" REAL NOT NULL,
  "open_price" REAL NOT NULL,
  "high_price" REAL NOT NULL,
  "low_price" REAL NOT NULL,
  "close_price" REAL NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS "dbbardata_symbol_exchange_interval_datetime"
  ON "dbbardata" ("symbol", "exchange", "interval", "datetime");

CREATE TABLE IF NOT EXISTS "dbbaroverview" (
  "id" INTEGER NOT NULL PRIMARY KEY,
  "symbol" VARCHAR(255) NOT NULL,
  "exchange" VARCHAR(255) NOT NULL,
  "interval" VARCHAR(255) NOT NULL,
  "count" INTEGER NOT NULL,
  "start" DATETIME NOT NULL,
  "end" DATETIME NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS "dbbaroverview_symbol_exchange_interval"
  ON "dbbaroverview" ("symbol", "exchange", "interval");
