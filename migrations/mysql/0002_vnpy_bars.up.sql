-- VnPy's bar tables exactly as vnpy_mysql (peewee) creates them. Created only if absent: an
-- existing VnPy database is used as it is. The gateway only reads them (the demo writes).
CREATE TABLE IF NOT EXISTS `dbbardata` (
  `id` INTEGER AUTO_INCREMENT NOT NULL PRIMARY KEY,
  `symbol` VARCHAR(255) NOT NULL,
  `exchange` VARCHAR(255) NOT NULL,
  `datetime` DATETIME NOT NULL,
  `interval` VARCHAR(255) NOT NULL,
  `volume` DOUBLE NOT NULL,
  `turnover` DOUBLE NOT NULL,
  `open_interest` DOUBLE NOT NULL,
  `open_price` DOUBLE NOT NULL,
  `high_price` DOUBLE NOT NULL,
  `low_price` DOUBLE NOT NULL,
  `close_price` DOUBLE NOT NULL,
  UNIQUE KEY `dbbardata_symbol_exchange_interval_datetime` (`symbol`, `exchange`, `interval`, `datetime`)
);

CREATE TABLE IF NOT EXISTS `dbbaroverview` (
  `id` INTEGER AUTO_INCREMENT NOT NULL PRIMARY KEY,
  `symbol` VARCHAR(255) NOT NULL,
  `exchange` VARCHAR(255) NOT NULL,
  `interval` VARCHAR(255) NOT NULL,
  `count` INTEGER NOT NULL,
  `start` DATETIME NOT NULL,
  `end` DATETIME NOT NULL,
  UNIQUE KEY `dbbaroverview_symbol_exchange_interval` (`symbol`, `exchange`, `interval`)
);
