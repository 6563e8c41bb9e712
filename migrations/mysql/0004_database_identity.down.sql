DROP TABLE IF EXISTS signalgate_meta;
