-- VnPy's bar tables exactly as vnpy_postgresql (peewee) creates them. Created only if absent.
CREATE TABLE IF NOT EXISTS "dbbardata" (
  "id" SERIAL NOT NULL PRIMARY KEY,
  "symbol" VARCHAR(255) NOT NULL,
  "exchange" VARCHAR(255) NOT NULL,
  "datetime" TIMESTAMP NOT NULL,
  "interval" VARCHAR(255) NOT NULL,
  "volume" DOUBLE PRECISION NOT NULL,
  "turnover" DOUBLE PRECISION NOT NULL,
  "open_interest" DOUBLE PRECISION NOT NULL,
  "open_price" DOUBLE PRECISION NOT NULL,
  "high_price" DOUBLE PRECISION NOT NULL,
  "low_price" DOUBLE PRECISION NOT NULL,
  "close_price" DOUBLE PRECISION NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS "dbbardata_symbol_exchange_interval_datetime"
  ON "dbbardata" ("symbol", "exchange", "interval", "datetime");

CREATE TABLE IF NOT EXISTS "dbbaroverview" (
  "id" SERIAL NOT NULL PRIMARY KEY,
  "symbol" VARCHAR(255) NOT NULL,
  "exchange" VARCHAR(255) NOT NULL,
  "interval" VARCHAR(255) NOT NULL,
  "count" INTEGER NOT NULL,
  "start" TIMESTAMP NOT NULL,
  "end" TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS "dbbaroverview_symbol_exchange_interval"
  ON "dbbaroverview" ("symbol", "exchange", "interval");
