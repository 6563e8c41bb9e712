#!/usr/bin/env bash
# Cross-check of the `writers` scenario with tools nobody on this project wrote: pgbench and
# mysqlslap, single-row autocommit event inserts, the design document's plain tables vs the
# tables after `signalgate migrate`, side by side in alternating rounds (median of ROUNDS).
#
#   loadtest/crosscheck.sh [postgres|mysql]...      (default: both)
#
# Cells: 8 writers on 1 variant, 8 writers on 8 variants, 1 writer on 1 variant.
#  - PostgreSQL: pgbench -n -M prepared -c W -j W -T SECONDS with a custom script of one INSERT
#    … ON CONFLICT DO NOTHING per transaction; variant 'xc_' || (client_id % V); tps from pgbench.
#  - MariaDB/MySQL: W mysqlslap processes in parallel, each --concurrency=1 with its own variant
#    (w % V) and MY_QUERIES inserts (INSERT IGNORE, event_key = UUID()); tps = all inserts ÷ the
#    wall time of the slowest process. (One mysqlslap with --concurrency=W cannot give each
#    client its own variant.)
# It creates its own databases sgt_bench_<random>_plain / _gw (the plain tables from
# `signalgate-loadtest seed-ddl`, the gateway's from `signalgate migrate`) and drops them at the
# end (also on Ctrl-C); it never touches other databases and changes no server setting.
#
# Environment:
#   PG       PostgreSQL server   (default postgres://postgres@127.0.0.1:5432)
#   MY       MariaDB/MySQL server (default mysql://root@127.0.0.1:3306; user, host, port are used)
#   SIGNALGATE_BIN, LOADTEST_BIN   binaries (default: $CARGO_TARGET_DIR or target, release,
#                                  else debug)
#   SECONDS_PER_RUN  pgbench -T (default 5); MY_QUERIES inserts per mysqlslap writer (default 3000)
#   ROUNDS           rounds per cell (default 3); the order plain/gateway alternates per round
#   CELLS            "W/V W/V …" (default "8/1 8/8 1/1")
#   WITH_GATEWAY     1: a `signalgate serve` runs against the gateway's database during its
#                    rounds (not with GATEWAY_DOWN: this binary cannot poll an older schema);
#                    it numbers the events as in production; default 0
#   GATEWAY_SQL      a SQL file run on the gateway's PostgreSQL database after migrating (e.g.
#                    deploy/postgres-notify.sql, to measure the opt-in NOTIFY triggers)
#   GATEWAY_DOWN     revert the latest N gateway migrations after migrating (default 0; 1
#                    measures the schema before migration 0005: seq trigger and NOTIFY)
# Output: one line per round, then a Markdown table; with JSON_OUT=file also a JSON array.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PG="${PG:-postgres://postgres@127.0.0.1:5432}"
MY="${MY:-mysql://root@127.0.0.1:3306}"
SECONDS_PER_RUN="${SECONDS_PER_RUN:-5}"
MY_QUERIES="${MY_QUERIES:-3000}"
ROUNDS="${ROUNDS:-3}"
CELLS="${CELLS:-8/1 8/8 1/1}"
GATEWAY_DOWN="${GATEWAY_DOWN:-0}"
WITH_GATEWAY="${WITH_GATEWAY:-0}"
gateways=()
target="${CARGO_TARGET_DIR:-$ROOT/target}"
pick() { # the release binary if built, else the debug one
    if [[ -x "$target/release/$1" ]]; then echo "$target/release/$1"; else echo "$target/debug/$1"; fi
}
SIGNALGATE_BIN="${SIGNALGATE_BIN:-$(pick signalgate)}"
LOADTEST_BIN="${LOADTEST_BIN:-$(pick signalgate-loadtest)}"
for b in "$SIGNALGATE_BIN" "$LOADTEST_BIN"; do
    [[ -x "$b" ]] || { echo "missing $b: cargo build --release -p signalgate -p signalgate-loadtest" >&2; exit 2; }
done
backends=("$@")
((${#backends[@]})) || backends=(postgres mysql)

tag="sgt_bench_$(od -An -N4 -tx4 /dev/urandom | tr -d ' ')"
created=()
work="$(mktemp -d)"
cleanup() {
    for pid in "${gateways[@]}"; do kill "$pid" 2>/dev/null || true; done
    for spec in "${created[@]}"; do
        case "$spec" in
        pg:*) psql "$PG/postgres" -qAt -c "DROP DATABASE IF EXISTS ${spec#pg:} WITH (FORCE)" >/dev/null 2>&1 || true ;;
        my:*) my_cli -e "DROP DATABASE IF EXISTS ${spec#my:}" >/dev/null 2>&1 || true ;;
        esac
    done
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# mysql://user[:pass]@host:port → client arguments
my_rest="${MY#*://}"
my_userinfo="${my_rest%%@*}"
my_hostport="${my_rest#*@}"
my_hostport="${my_hostport%%/*}"
my_user="${my_userinfo%%:*}"
my_pass=""
[[ "$my_userinfo" == *:* ]] && my_pass="${my_userinfo#*:}"
my_args=(-h "${my_hostport%%:*}" -P "${my_hostport##*:}" -u "$my_user")
[[ -n "$my_pass" ]] && my_args+=("-p$my_pass")
my_cli() { mariadb "${my_args[@]}" "$@" 2>/dev/null || mysql "${my_args[@]}" "$@"; }
slap="$(command -v mariadb-slap || command -v mysqlslap || true)"

made=""
make_db() { # backend schema: creates the database, applies the schema, sets $made to its name
    local backend=$1 schema=$2 name="${tag}_$2"
    if [[ $backend == postgres ]]; then
        psql "$PG/postgres" -qAt -c "CREATE DATABASE $name" >/dev/null
        created+=("pg:$name")
        if [[ $schema == plain ]]; then
            "$LOADTEST_BIN" seed-ddl postgres | psql "$PG/$name" -qAt -v ON_ERROR_STOP=1 >/dev/null
        else
            "$SIGNALGATE_BIN" migrate --database-url "$PG/$name" >"$work/migrate.log" 2>&1 || { cat "$work/migrate.log" >&2; exit 1; }
            if [[ -n "${GATEWAY_SQL:-}" ]]; then
                psql "$PG/$name" -qAt -v ON_ERROR_STOP=1 -f "$GATEWAY_SQL" >/dev/null
            fi
            for ((d = 0; d < GATEWAY_DOWN; d++)); do
                "$SIGNALGATE_BIN" migrate --down --database-url "$PG/$name" >"$work/migrate.log" 2>&1 || { cat "$work/migrate.log" >&2; exit 1; }
            done
        fi
    else
        my_cli -e "CREATE DATABASE $name"
        created+=("my:$name")
        if [[ $schema == plain ]]; then
            "$LOADTEST_BIN" seed-ddl mysql | my_cli "$name"
        else
            "$SIGNALGATE_BIN" migrate --database-url "${MY%/}/$name" >"$work/migrate.log" 2>&1 || { cat "$work/migrate.log" >&2; exit 1; }
            for ((d = 0; d < GATEWAY_DOWN; d++)); do
                "$SIGNALGATE_BIN" migrate --down --database-url "${MY%/}/$name" >"$work/migrate.log" 2>&1 || { cat "$work/migrate.log" >&2; exit 1; }
            done
        fi
    fi
    made=$name
}

cat >"$work/insert.sql" <<'SQL'
\set vid :client_id % :variants
INSERT INTO monitor_signal_event (variant, instance_id, vt_symbol, bar_dt, event_type, event_key, created_at, payload_json) VALUES ('xc_' || :vid::text, 'xc-' || :client_id::text, 'rb2405.SHFE', NULL, 'signal', gen_random_uuid()::text, now(), '{"n":1,"signal_type":"buy","price":3612.5,"reason":"td9 exhaustion","td_count":9}') ON CONFLICT DO NOTHING;
SQL

run_pg() { # db writers variants → tps
    pgbench -n -M prepared -f "$work/insert.sql" -D "variants=$3" -c "$2" -j "$2" -T "$SECONDS_PER_RUN" "$PG/$1" 2>"$work/pgbench.err" |
        awk '/^tps = / { print $3; exit }'
}

run_my() { # db writers variants → tps
    local db=$1 w=$2 v=$3 i pids=() start end
    start=$(date +%s.%N)
    for ((i = 0; i < w; i++)); do
        "$slap" "${my_args[@]}" --create-schema="$db" --concurrency=1 --iterations=1 \
            --number-of-queries="$MY_QUERIES" \
            --query="INSERT IGNORE INTO monitor_signal_event (variant, instance_id, vt_symbol, bar_dt, event_type, event_key, created_at, payload_json) VALUES ('xc_$((i % v))', 'xc-$i', 'rb2405.SHFE', NULL, 'signal', UUID(), NOW(6), '{\"n\":1,\"signal_type\":\"buy\",\"price\":3612.5,\"reason\":\"td9 exhaustion\",\"td_count\":9}')" \
            >"$work/slap.$i" 2>&1 &
        pids+=($!)
    done
    for i in "${pids[@]}"; do wait "$i"; done
    end=$(date +%s.%N)
    awk -v n=$((w * MY_QUERIES)) -v a="$start" -v b="$end" 'BEGIN { printf "%.1f\n", n / (b - a) }'
}

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

table="| database | writers / variants | plain tps | gateway tps | gateway ÷ plain | per-round ratios | tool |\n|---|---|---|---|---|---|---|\n"
json="["
for backend in "${backends[@]}"; do
    case "$backend" in
    postgres) command -v pgbench >/dev/null || { echo "pgbench not installed" >&2; exit 2; }; tool="pgbench -M prepared, -T $SECONDS_PER_RUN" ;;
    mysql) [[ -n "$slap" ]] || { echo "mysqlslap not installed" >&2; exit 2; }; tool="mysqlslap ×W, $MY_QUERIES inserts each" ;;
    *) echo "unknown backend $backend (postgres or mysql)" >&2; exit 2 ;;
    esac
    make_db "$backend" plain && plain_db=$made
    make_db "$backend" gw && gw_db=$made
    if [[ $WITH_GATEWAY == 1 ]]; then
        gw_url="$PG/$gw_db"
        [[ $backend == mysql ]] && gw_url="${MY%/}/$gw_db"
        "$SIGNALGATE_BIN" serve --no-migrate --listen 127.0.0.1:0 --database-url "$gw_url" >"$work/gateway-$backend.log" 2>&1 &
        gateways+=($!)
    fi
    for cell in $CELLS; do
        w=${cell%/*} v=${cell#*/}
        : >"$work/plain" && : >"$work/gw" && : >"$work/ratio"
        for ((r = 0; r < ROUNDS; r++)); do
            order=(plain gw)
            ((r % 2)) && order=(gw plain)
            for s in "${order[@]}"; do
                db=$plain_db
                [[ $s == gw ]] && db=$gw_db
                if [[ $backend == postgres ]]; then tps=$(run_pg "$db" "$w" "$v"); else tps=$(run_my "$db" "$w" "$v"); fi
                [[ -n "$tps" ]] || { echo "no tps from the $backend run on $db:" >&2; cat "$work"/pgbench.err "$work"/slap.* 2>/dev/null >&2; exit 1; }
                echo "$tps" >>"$work/$s"
                eval "tps_$s=$tps"
            done
            ratio=$(awk -v g="$tps_gw" -v p="$tps_plain" 'BEGIN { printf "%.2f", g / p }')
            echo "$ratio" >>"$work/ratio"
            echo "$backend $w/$v round $((r + 1)) (${order[0]} first): plain $tps_plain tps, gateway $tps_gw tps, ratio $ratio" >&2
        done
        mp=$(median <"$work/plain") mg=$(median <"$work/gw") mr=$(median <"$work/ratio")
        rounds=$(paste -sd, "$work/ratio" | sed 's/,/, /g')
        table+="| $backend | $w / $v | $(printf %.0f "$mp") | $(printf %.0f "$mg") | **$mr** | $rounds | $tool |\n"
        json+="{\"backend\":\"$backend\",\"writers\":$w,\"variants\":$v,\"plain_tps\":$mp,\"gateway_tps\":$mg,\"ratio\":$mr,\"round_ratios\":[$(paste -sd, "$work/ratio")]},"
    done
done
json="${json%,}]"
printf '%b' "$table"
[[ -n "${JSON_OUT:-}" ]] && echo "$json" >"$JSON_OUT"
exit 0
