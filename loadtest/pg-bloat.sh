#!/usr/bin/env bash
# PostgreSQL: what N single-row event inserts leave behind in the gateway's tables (sizes, live
# and dead tuples, updates and HOT updates, autovacuum runs, WAL written), with a gateway
# running and numbering them, for today's schema and (GATEWAY_DOWN=1) the one before
# migration 0005 (seq counter trigger and NOTIFY).
#
#   loadtest/pg-bloat.sh                     (N=1000000, 8 pgbench clients on 8 variants)
#   N=200000 GATEWAY_DOWN=1 loadtest/pg-bloat.sh
#
# It creates its own database sgt_bloat_<random>, starts `signalgate serve` on a free port
# against it, runs pgbench (-t N/8, one INSERT … ON CONFLICT DO NOTHING per transaction), waits
# until every event is numbered, stops the gateway, prints one table and drops the database
# (also on Ctrl-C). It changes no server setting.
#
# Environment: PG (default postgres://postgres@127.0.0.1:5432), N, CLIENTS (8), VARIANTS (8),
# GATEWAY_DOWN (0), SIGNALGATE_BIN (default: the release binary, else the debug one).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PG="${PG:-postgres://postgres@127.0.0.1:5432}"
N="${N:-1000000}"
CLIENTS="${CLIENTS:-8}"
VARIANTS="${VARIANTS:-8}"
GATEWAY_DOWN="${GATEWAY_DOWN:-0}"
target="${CARGO_TARGET_DIR:-$ROOT/target}"
if [[ -z "${SIGNALGATE_BIN:-}" ]]; then
    SIGNALGATE_BIN="$target/release/signalgate"
    [[ -x "$SIGNALGATE_BIN" ]] || SIGNALGATE_BIN="$target/debug/signalgate"
fi
command -v pgbench >/dev/null || { echo "pgbench not installed (apt-get install postgresql-client)" >&2; exit 2; }

name="sgt_bloat_$(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n')"
work="$(mktemp -d)"
gw=""
cleanup() {
    [[ -n "$gw" ]] && kill "$gw" 2>/dev/null && wait "$gw" 2>/dev/null || true
    psql "$PG/postgres" -qAt -c "DROP DATABASE IF EXISTS $name WITH (FORCE)" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT INT TERM
q() { psql "$PG/$name" -qAt -c "$1"; }

psql "$PG/postgres" -qAt -c "CREATE DATABASE $name" >/dev/null
"$SIGNALGATE_BIN" migrate --database-url "$PG/$name" >"$work/migrate.log" 2>&1 || { cat "$work/migrate.log" >&2; exit 1; }
for ((d = 0; d < GATEWAY_DOWN; d++)); do
    "$SIGNALGATE_BIN" migrate --down --database-url "$PG/$name" >"$work/migrate.log" 2>&1 || { cat "$work/migrate.log" >&2; exit 1; }
done
schema="$(q "SELECT max(version) FROM _sqlx_migrations")"
echo "== database $name at migration $schema; $N inserts by $CLIENTS clients on $VARIANTS variants" >&2

# Today's schema needs a gateway to number the events; before 0005 the trigger numbered them
# (and today's binary cannot poll that schema), so no gateway runs then.
if ((GATEWAY_DOWN == 0)); then
    "$SIGNALGATE_BIN" serve --no-migrate --listen 127.0.0.1:0 --database-url "$PG/$name" >"$work/gw.log" 2>&1 &
    gw=$!
fi

cat >"$work/insert.sql" <<'SQL'
\set vid :client_id % :variants
INSERT INTO monitor_signal_event (variant, instance_id, vt_symbol, bar_dt, event_type, event_key, created_at, payload_json) VALUES ('bl_' || :vid::text, 'bl-' || :client_id::text, 'rb2405.SHFE', NULL, 'signal', gen_random_uuid()::text, now(), '{"n":1,"signal_type":"buy","price":3612.5,"reason":"td9 exhaustion","td_count":9}') ON CONFLICT DO NOTHING;
SQL
wal0="$(q "SELECT pg_current_wal_lsn()")"
start=$SECONDS
pgbench -n -M prepared -f "$work/insert.sql" -D "variants=$VARIANTS" -c "$CLIENTS" -j "$CLIENTS" \
    -t $((N / CLIENTS)) -P 30 "$PG/$name" 2>&1 | grep -E "^(progress|tps)" >&2
echo "== pgbench done in $((SECONDS - start)) s; waiting for the gateway to number every event" >&2
deadline=$((SECONDS + 300))
until [[ "$(q "SELECT count(*) FROM monitor_signal_event WHERE seq IS NULL")" == 0 ]]; do
    ((SECONDS < deadline)) || { echo "events still unnumbered after 300 s" >&2; exit 1; }
    sleep 1
done
if [[ -n "$gw" ]]; then
    kill "$gw" && wait "$gw" 2>/dev/null || true
    gw=""
fi
sleep 2 # let the backends' statistics reach the cumulative views
wal="$(q "SELECT pg_size_pretty(pg_wal_lsn_diff(pg_current_wal_lsn(), '$wal0'))")"

echo "| migration | table | size | live tuples | dead tuples | updates | HOT updates | autovacuums |"
echo "|---|---|---|---|---|---|---|---|"
q "SELECT '$schema', relname, pg_size_pretty(pg_total_relation_size(relid)), n_live_tup, n_dead_tup,
          n_tup_upd, n_tup_hot_upd, autovacuum_count
     FROM pg_stat_user_tables
    WHERE relname IN ('monitor_signal_event', 'monitor_signal_seq', 'signalgate_counter')
    ORDER BY relname" | awk -F'|' '{ printf "| %s | `%s` | %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6, $7, $8 }'
echo
echo "WAL written during the run: $wal"
