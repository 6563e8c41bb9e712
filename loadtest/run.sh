#!/usr/bin/env bash
# Run one load-test scenario against signalgate and each peer, side by side, on this machine.
#
#   loadtest/run.sh SCENARIO [signalgate-loadtest options...]
#
# SCENARIO: idle | fanout | spread | burst | resume | writers | group
# Examples:
#   loadtest/run.sh fanout --clients 1000 --rate 200 --seconds 20
#   LOADTEST_DB=postgres://postgres@127.0.0.1:5432 loadtest/run.sh fanout
#   LOADTEST_SERVERS="signalgate raw" loadtest/run.sh idle --idle-steps 1000,5000
#   loadtest/run.sh group --clients 600 --rate 100 --seconds 15 --kill-leader-at 5
#
# It builds the release binaries (signalgate, signalgate-loadtest, ws-broadcast), installs what
# the peers need (node + `npm ci` in peers/node; python3 venv in loadtest/.venv with the pinned
# requirements), then runs the scenario once per server and merges the JSON reports into
# loadtest/results/SCENARIO.html.
#
# Environment:
#   LOADTEST_DB        database server (default mysql://root@127.0.0.1:3306; a scratch
#                      sgt_<random> database is created and dropped per run)
#   LOADTEST_SERVERS   servers to run (default: signalgate node flask raw; flask needs MySQL,
#                      resume and writers need signalgate, group runs signalgate and node:
#                      unsupported pairs are skipped with a note)
#   LOADTEST_DB_PREFIX scratch database name prefix (default sgt_lt; use another one where
#                      scripts/test.sh runs at the same time: it drops sgt_* databases)
#   LOADTEST_TAG       appended to the scenario in report names (e.g. "-light": fanout-light-…)
#   LOADTEST_SKIP_BUILD=1, LOADTEST_SKIP_INSTALL=1   skip the build / the peer installs
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
scenario="${1:?usage: loadtest/run.sh SCENARIO [options...]}"
shift
export LOADTEST_DB="${LOADTEST_DB:-mysql://root@127.0.0.1:3306}"
servers="${LOADTEST_SERVERS:-signalgate node flask raw}"
target="${CARGO_TARGET_DIR:-$ROOT/target}"
out="$ROOT/loadtest/results"
mkdir -p "$out"

if [[ "$scenario" == writers || "$scenario" == resume ]]; then
    servers=signalgate
elif [[ "$scenario" == group ]]; then
    # 3 instances with a private redis-server behind a private nginx (both must be installed).
    servers="${LOADTEST_SERVERS:-signalgate node}"
    for bin in redis-server nginx; do
        if ! command -v "$bin" >/dev/null 2>&1 && [[ ! -x /usr/sbin/$bin ]]; then
            apt-get update && apt-get install -y redis-server nginx
        fi
    done
fi
if [[ "${LOADTEST_SKIP_BUILD:-}" != 1 ]]; then
    cargo build --release -p signalgate -p signalgate-loadtest
fi
export LOADTEST_SIGNALGATE_BIN="$target/release/signalgate"

if [[ "${LOADTEST_SKIP_INSTALL:-}" != 1 ]]; then
    if [[ " $servers " == *" node "* ]]; then
        if ! command -v npm >/dev/null 2>&1; then
            apt-get update && apt-get install -y nodejs npm
        fi
        (cd loadtest/peers/node && npm ci --no-audit --no-fund)
    fi
    if [[ " $servers " == *" flask "* ]]; then
        if [[ ! -x loadtest/.venv/bin/python ]]; then
            python3 -m venv loadtest/.venv || { apt-get update && apt-get install -y python3-venv && python3 -m venv loadtest/.venv; }
        fi
        loadtest/.venv/bin/pip install -q -r loadtest/peers/flask/requirements.txt
    fi
fi

# Up to 10,000 clients plus the server's sockets; the server inherits the limit.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

backend=mysql
[[ "$LOADTEST_DB" == postgres* ]] && backend=postgres
status=0
reports=()
for s in $servers; do
    if [[ "$s" == flask && "$backend" != mysql ]]; then
        echo "== skipping flask: the Flask-SocketIO peer polls MySQL/MariaDB only"
        continue
    fi
    if [[ "$scenario" == group && "$s" != signalgate && "$s" != node ]]; then
        echo "== skipping $s: the group scenario runs signalgate and node (redis-adapter)"
        continue
    fi
    db=$backend
    [[ "$s" == raw ]] && db=none
    label="$scenario${LOADTEST_TAG:-}-$s-$db"
    rm -f "$out/$label.json" # never merge a stale report of an earlier run
    echo "== $scenario: $s ($label)"
    if "$target/release/signalgate-loadtest" run "$scenario" --server "$s" --out "$out" --label "$label" "$@"; then
        :
    else
        rc=$?
        echo "== $scenario: $s exited with $rc"
        [[ "$s" == signalgate ]] && status=$rc
    fi
    [[ -f "$out/$label.json" ]] && reports+=("$out/$label.json")
done
if ((${#reports[@]} > 0)); then
    "$target/release/signalgate-loadtest" report "${reports[@]}" -o "$out/$scenario${LOADTEST_TAG:-}-$backend.html"
fi
exit "$status"
