DROP TABLE IF EXISTS monitor_signal_pruned;
