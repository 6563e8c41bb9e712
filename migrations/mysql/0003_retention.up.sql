-- Retention bookkeeping: the highest seq per variant that `signalgate prune` deleted (or is
-- about to delete). A resume from below it cannot be served completely: the gateway answers
-- history_pruned instead of a silent gap.
CREATE TABLE IF NOT EXISTS monitor_signal_pruned (
  variant VARCHAR(64) NOT NULL PRIMARY KEY,
  pruned_upto BIGINT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
