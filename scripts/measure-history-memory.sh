#!/bin/bash
# Usage: scripts/measure-history-memory.sh <signalgate release binary> <label>
# Gateway RSS before/after 100 variants x 4096 events with no client, on the shared MariaDB
# (a throwaway database sgt_fmeas_*, dropped at the end). See docs/performance.md.
# 100 variants x 4096 events, no client, MariaDB; prints gateway RSS before/after.
set -euo pipefail
BIN=$1; LABEL=$2
DB=sgt_fmeas_$(head -c4 /dev/urandom | od -An -tx4 | tr -d ' ')
URL=mysql://root@127.0.0.1:3306/$DB
PORT=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
mysql -uroot -h127.0.0.1 -e "CREATE DATABASE $DB"
trap 'kill $GW 2>/dev/null || true; mysql -uroot -h127.0.0.1 -e "DROP DATABASE IF EXISTS $DB"' EXIT
env -u RUST_LOG $BIN migrate --database-url $URL >/dev/null 2>&1
env -u RUST_LOG $BIN serve --no-migrate --database-url $URL --listen 127.0.0.1:$PORT > "${TMPDIR:-/tmp}/signalgate-measure-$LABEL.log" 2>&1 &
GW=$!
until curl -fs http://127.0.0.1:$PORT/readyz >/dev/null; do sleep 0.2; done
sleep 3
rss() { awk '/VmRSS/{print $2}' /proc/$GW/status; }
R0=$(rss)
echo "$LABEL: RSS idle before writes: $R0 KB"
# 100 variants x 4096 events, one INSERT ... SELECT per variant (the seq trigger runs per row).
for v in $(seq -w 0 99); do
  mysql -uroot -h127.0.0.1 $DB -e "
  SET SESSION max_recursive_iterations = 10000;
  INSERT INTO monitor_signal_event (variant, instance_id, vt_symbol, bar_dt, event_type, event_key, created_at, payload_json)
  WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < 4096)
  SELECT 'mem_v$v', 'inst-01', 'rb2405.SHFE', NOW(6) - INTERVAL i MINUTE, 'signal',
         CONCAT('mem_v$v|inst-01|rb2405.SHFE|', i, '|buy'), NOW(6),
         JSON_OBJECT('signal_type','buy','price',3521.5+i,'volume',2,'reason','breakout above the 20-bar high')
  FROM n"
done
TOTAL=$(mysql -uroot -h127.0.0.1 -N $DB -e "SELECT COUNT(*) FROM monitor_signal_event")
echo "$LABEL: events written: $TOTAL"
# Wait until the poller has caught up (lag 0 on every variant), then let the allocator settle.
until [ "$(curl -fs http://127.0.0.1:$PORT/metrics | grep '^signalgate_event_lag{' | awk '$2!=0' | wc -l)" = 0 ] && \
      [ "$(curl -fs http://127.0.0.1:$PORT/metrics | grep -c '^signalgate_event_lag{')" -ge 100 ]; do sleep 1; done
sleep 5
R1=$(rss)
echo "$LABEL: RSS after 100 x 4096 events, no client: $R1 KB (growth $(( (R1-R0)/1024 )) MB)"
curl -fs http://127.0.0.1:$PORT/metrics | grep -E '^signalgate_(history|resumes)' || true
