#!/usr/bin/env bash
# Run the whole signalgate test suite on a (possibly fresh) Debian 12 machine.
#
#   scripts/test.sh [extra cargo test args...]
#
# Steps:
#   1. make sure MariaDB, PostgreSQL and Redis are installed (apt-get, only what
#      is missing), and nginx for the group-mode tests (they run their own) and running on 127.0.0.1 (3306 / 5432 / 6379), and that
#      root@127.0.0.1 (MariaDB, empty password) and postgres@127.0.0.1
#      (PostgreSQL, trust) can log in over TCP;
#   2. drop leftover test databases (`sgt_*`) of earlier runs on the local
#      MariaDB and PostgreSQL;
#   3. export the SIGNALGATE_TEST_*_URL variables the tests read (kept if set);
#   4. cargo fmt --check, cargo clippy -D warnings, cargo test (whole workspace:
#      the gateway and loadtest/, whose smoke scenario runs a real gateway process);
#   5. schemathesis against the OpenAPI document of a demo gateway (scripts/schemathesis.sh:
#      a Python venv under the target dir with the pinned schemathesis, python3-venv from
#      apt-get if missing; no 5xx, every response as documented);
#   6. the JS helper's package tests in clients/js/ (unit tests, the exports map, an
#      `npm install` of the package into a scratch project) and the dashboard's unit tests
#      in web/ (npm ci or npm install, then npm test in each), installing nodejs and npm
#      with apt-get if they are missing;
#   7. the dashboard's browser tests (web/e2e/, `npm run e2e`): Debian's chromium and
#      sqlite3 are installed with apt-get when missing (playwright-core never downloads a
#      browser), and the gateway binary is built with `cargo build` first;
#   8. the Python client's tests (clients/python/run-tests.sh: a venv under the target dir,
#      `pip install ./clients/python[mysql,postgres,test]`, pytest against the gateway binary
#      on MariaDB, PostgreSQL and SQLite), after a `cargo build` of the binary.
#
# Extra arguments are passed to `cargo test` right after `--all-targets`
# (cargo arguments such as a test-name filter or `--test NAME`, not libtest
# arguments).
#
# Environment:
#   SIGNALGATE_TEST_SKIP_CARGO=1   skip fmt/clippy/test (services, database
#                                  cleanup and URLs still run; used to test this script).
#   SIGNALGATE_TEST_SKIP_SCHEMATHESIS=1  skip the schemathesis step.
#   SIGNALGATE_TEST_SKIP_JS=1      skip the JS helper's tests and the browser tests.
#   SIGNALGATE_TEST_SKIP_BROWSER=1 skip only the dashboard's browser tests.
#   SIGNALGATE_TEST_SKIP_PYTHON=1  skip the Python client's tests.
#   SIGNALGATE_TEST_WAIT_SECS=N    how long to wait for each service (default 60).
#   SIGNALGATE_TEST_MYSQL_URL, SIGNALGATE_TEST_POSTGRES_URL,
#   SIGNALGATE_TEST_REDIS_URL      override the service URLs passed to the tests.
#
# Idempotent: when everything is already installed and running it only probes
# the services and moves on. It runs as root (CI and dev machines do); nothing
# here uses systemd.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT"

export DEBIAN_FRONTEND=noninteractive
WAIT_SECS="${SIGNALGATE_TEST_WAIT_SECS:-60}"

section() { printf '\n==== %s ====\n' "$*"; }
info() { printf '  %s\n' "$*"; }
die() {
    printf '\nERROR: %s\n' "$*" >&2
    exit 1
}

# cargo_on_path: rustup installs into ~/.cargo/bin, which a non-login shell may not have on PATH.
cargo_on_path() {
    local cargo_bin="${CARGO_HOME:-$HOME/.cargo}/bin"
    if ! command -v cargo >/dev/null 2>&1 && [[ -x "$cargo_bin/cargo" ]]; then
        export PATH="$cargo_bin:$PATH"
    fi
}

# probe SNIPPET: run a bash snippet, bounded by `timeout 5`, output hidden.
probe() { timeout 5 bash -c "$1" >/dev/null 2>&1; }

# wait_for NAME SNIPPET: poll SNIPPET until it succeeds or WAIT_SECS elapse.
# Polling against a deadline, never a fixed sleep used as synchronisation.
wait_for() {
    local name="$1" snippet="$2"
    local deadline=$((SECONDS + WAIT_SECS)) tries=0
    until probe "$snippet"; do
        tries=$((tries + 1))
        if ((SECONDS >= deadline)); then
            return 1
        fi
        if ((tries % 5 == 0)); then
            info "still waiting for $name ($((deadline - SECONDS)) s left)..."
        fi
        sleep 1
    done
    info "$name is ready"
}

# ---------------------------------------------------------------------------
section "Packages"
missing=()
command -v mariadbd >/dev/null 2>&1 || [[ -x /usr/sbin/mariadbd ]] || missing+=(mariadb-server)
command -v mariadb >/dev/null 2>&1 || missing+=(mariadb-client)
compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null || missing+=(postgresql)
command -v psql >/dev/null 2>&1 || missing+=(postgresql-client)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v redis-cli >/dev/null 2>&1 || missing+=(redis-tools)
# The group-mode tests start their own nginx (never the system's) in front of gateway processes.
command -v nginx >/dev/null 2>&1 || [[ -x /usr/sbin/nginx ]] || missing+=(nginx)
if ((${#missing[@]} > 0)); then
    info "installing: ${missing[*]}"
    apt-get update
    apt-get install -y "${missing[@]}"
else
    info "MariaDB, PostgreSQL, Redis and nginx are installed"
fi

# ---------------------------------------------------------------------------
section "MariaDB (127.0.0.1:3306)"
# `mariadb-admin ping` exits 0 whenever the server answers, even with
# "access denied", so it is a pure liveness probe. Force TCP.
MARIADB_PING='mariadb-admin --protocol=TCP -h 127.0.0.1 -P 3306 -u root --connect-timeout=3 ping'
MARIADB_LOGIN='mariadb --protocol=TCP -h 127.0.0.1 -P 3306 -u root --password= -e "SELECT 1"'
if probe "$MARIADB_PING"; then
    info "already running"
else
    mkdir -p /run/mysqld
    chown mysql:mysql /run/mysqld
    if [[ ! -d /var/lib/mysql/mysql ]]; then
        info "initialising the data directory (mariadb-install-db)"
        mariadb-install-db --user=mysql >/dev/null
    fi
    info "starting mariadbd"
    start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
    wait_for MariaDB "$MARIADB_PING" ||
        die "MariaDB did not answer on 127.0.0.1:3306 within ${WAIT_SECS}s (see /var/log/mysql/ and the server's error log)"
fi
if probe "$MARIADB_LOGIN"; then
    info "root@127.0.0.1 logs in with an empty password"
else
    info "root cannot log in over TCP with an empty password: fixing it through the unix socket"
    mariadb -u root -e "ALTER USER root@localhost IDENTIFIED VIA mysql_native_password USING PASSWORD('');
        CREATE USER IF NOT EXISTS root@'127.0.0.1' IDENTIFIED BY '';
        GRANT ALL ON *.* TO root@'127.0.0.1' WITH GRANT OPTION;
        FLUSH PRIVILEGES;" ||
        die "could not reconfigure MariaDB root (socket login as root failed)"
    probe "$MARIADB_LOGIN" ||
        die "MariaDB root@127.0.0.1 still cannot log in with an empty password"
    info "fixed"
fi

# ---------------------------------------------------------------------------
section "PostgreSQL (127.0.0.1:5432)"
PG_READY='pg_isready -q -h 127.0.0.1 -p 5432'
PG_LOGIN='PGPASSWORD= psql -w -h 127.0.0.1 -p 5432 -U postgres -d postgres -Atc "SELECT 1"'
pg_version=""
for d in /etc/postgresql/*/; do # first cluster version, like `ls /etc/postgresql | head -1`
    [[ -d "$d" ]] && pg_version="$(basename "$d")" && break
done
if probe "$PG_READY"; then
    info "already running"
else
    if [[ -z "$pg_version" || ! -d "/etc/postgresql/$pg_version/main" ]]; then
        pg_version="$(find /usr/lib/postgresql -mindepth 1 -maxdepth 1 -printf '%f\n' | sort -V | tail -1)"
        info "no cluster found: creating $pg_version/main"
        pg_createcluster "$pg_version" main
    fi
    info "starting cluster $pg_version/main"
    # Returns non-zero if it is already starting; the readiness wait decides.
    pg_ctlcluster --skip-systemctl-redirect "$pg_version" main start ||
        info "pg_ctlcluster start returned non-zero; waiting anyway"
    wait_for PostgreSQL "$PG_READY" ||
        die "PostgreSQL did not answer on 127.0.0.1:5432 within ${WAIT_SECS}s (see /var/log/postgresql/)"
fi
if probe "$PG_LOGIN"; then
    info "postgres@127.0.0.1 logs in without a password"
else
    hba="/etc/postgresql/$pg_version/main/pg_hba.conf"
    [[ -n "$pg_version" && -f "$hba" ]] ||
        die "PostgreSQL refuses postgres@127.0.0.1 and no pg_hba.conf was found under /etc/postgresql"
    info "adding 'host all all 127.0.0.1/32 trust' at the top of $hba"
    { echo "host all all 127.0.0.1/32 trust"; cat "$hba"; } >"$hba.tmp"
    cat "$hba.tmp" >"$hba" # rewrite in place: keeps the file's owner and mode
    rm -f "$hba.tmp"
    pg_ctlcluster --skip-systemctl-redirect "$pg_version" main reload
    wait_for "PostgreSQL trust login" "$PG_LOGIN" ||
        die "PostgreSQL still refuses postgres@127.0.0.1 without a password"
fi

# ---------------------------------------------------------------------------
section "Redis (127.0.0.1:6379)"
# shellcheck disable=SC2016 # expanded by the probe's own bash
REDIS_PING='[[ "$(redis-cli -h 127.0.0.1 -p 6379 ping)" == PONG ]]'
if probe "$REDIS_PING"; then
    info "already running"
else
    info "starting redis-server"
    redis_extra=()
    [[ -d /var/lib/redis ]] && redis_extra+=(--dir /var/lib/redis)
    [[ -d /var/log/redis ]] && redis_extra+=(--logfile /var/log/redis/ci.log)
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no "${redis_extra[@]}"
    wait_for Redis "$REDIS_PING" ||
        die "Redis did not answer PONG on 127.0.0.1:6379 within ${WAIT_SECS}s"
fi

# ---------------------------------------------------------------------------
section "Leftover test databases (sgt_*)"
# The Rust tests create one `sgt_<random>` database per test and drop it at the
# end, best effort; a crashed or killed run leaves some behind. Only the local
# servers prepared above are cleaned: a URL pointing elsewhere is left alone.
# This also drops the databases of a test run going on at the same time.
DEFAULT_MYSQL_URL='mysql://root@127.0.0.1:3306'
DEFAULT_POSTGRES_URL='postgres://postgres@127.0.0.1:5432'
# lock_wait_timeout: a database still in use fails after 10 s instead of blocking.
mariadb_sql() {
    mariadb --protocol=TCP -h 127.0.0.1 -P 3306 -u root --password= --batch --skip-column-names \
        -e "SET SESSION lock_wait_timeout = 10; $1"
}
pg_sql() { PGPASSWORD='' psql -X -w -h 127.0.0.1 -p 5432 -U postgres -d postgres -At -v ON_ERROR_STOP=1 -c "$1"; }

# drop_leftovers LABEL RUN_SQL LIST_SQL QUOTE DROP_SUFFIX: drops every database
# that LIST_SQL returns with `DROP DATABASE IF EXISTS <quoted name><DROP_SUFFIX>`;
# prints and sets `dropped` (how many were dropped). A failed DROP is a warning.
drop_leftovers() {
    local label="$1" run="$2" list_sql="$3" q="$4" suffix="$5" names name failed=0
    dropped=0
    names="$("$run" "$list_sql")" || die "$label: could not list the sgt_* databases"
    while IFS= read -r name; do
        [[ -n "$name" ]] || continue
        if "$run" "DROP DATABASE IF EXISTS $q${name//"$q"/"$q$q"}$q$suffix" >/dev/null; then
            dropped=$((dropped + 1))
        else
            failed=$((failed + 1))
        fi
    done <<<"$names"
    info "$label: dropped $dropped leftover test database(s)"
    if ((failed > 0)); then
        info "$label: WARNING: $failed could not be dropped (see the errors above)"
    fi
}

mariadb_dropped=0
if [[ "${SIGNALGATE_TEST_MYSQL_URL:-$DEFAULT_MYSQL_URL}" == "$DEFAULT_MYSQL_URL" ]]; then
    drop_leftovers MariaDB mariadb_sql \
        "SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE 'sgt\\_%'" '`' ''
    mariadb_dropped=$dropped
else
    info "MariaDB: SIGNALGATE_TEST_MYSQL_URL is not the local server: not cleaned"
fi
postgres_dropped=0
if [[ "${SIGNALGATE_TEST_POSTGRES_URL:-$DEFAULT_POSTGRES_URL}" == "$DEFAULT_POSTGRES_URL" ]]; then
    # WITH (FORCE) (PostgreSQL 13+) ends the sessions still connected to it.
    drop_leftovers PostgreSQL pg_sql \
        "SELECT datname FROM pg_database WHERE datname LIKE 'sgt\\_%' AND NOT datistemplate ORDER BY 1" \
        '"' ' WITH (FORCE)'
    postgres_dropped=$dropped
else
    info "PostgreSQL: SIGNALGATE_TEST_POSTGRES_URL is not the local server: not cleaned"
fi
info "dropped $((mariadb_dropped + postgres_dropped)) leftover test database(s) in total"

# ---------------------------------------------------------------------------
section "Test environment"
export SIGNALGATE_TEST_MYSQL_URL="${SIGNALGATE_TEST_MYSQL_URL:-$DEFAULT_MYSQL_URL}"
export SIGNALGATE_TEST_POSTGRES_URL="${SIGNALGATE_TEST_POSTGRES_URL:-$DEFAULT_POSTGRES_URL}"
export SIGNALGATE_TEST_REDIS_URL="${SIGNALGATE_TEST_REDIS_URL:-redis://127.0.0.1:6379}"
info "SIGNALGATE_TEST_MYSQL_URL=$SIGNALGATE_TEST_MYSQL_URL"
info "SIGNALGATE_TEST_POSTGRES_URL=$SIGNALGATE_TEST_POSTGRES_URL"
info "SIGNALGATE_TEST_REDIS_URL=$SIGNALGATE_TEST_REDIS_URL"

# ---------------------------------------------------------------------------
if [[ "${SIGNALGATE_TEST_SKIP_CARGO:-}" == 1 ]]; then
    section "SIGNALGATE_TEST_SKIP_CARGO=1: services ready, skipping cargo steps"
else
    section "Rust toolchain"
    cargo_on_path
    command -v cargo >/dev/null 2>&1 ||
        die "cargo not found. Install a rustup toolchain (rust-version in Cargo.toml; Debian's rustc is too old) and put ~/.cargo/bin on PATH"
    for component in rustfmt clippy; do
        sub="${component/rustfmt/fmt}"
        if ! cargo "$sub" --version >/dev/null 2>&1; then
            info "cargo $sub missing; trying: rustup component add $component"
            if ! command -v rustup >/dev/null 2>&1 || ! rustup component add "$component"; then
                die "cargo $sub is not available (rustup component add $component)"
            fi
        fi
    done
    cargo --version
    rustc --version

    section "cargo fmt --all -- --check"
    cargo fmt --all -- --check

    section "cargo clippy --workspace --all-targets -- -D warnings"
    cargo clippy --workspace --all-targets -- -D warnings

    # --workspace: also the load generator's tests (loadtest/), among them the smoke scenario
    # (a real gateway process, a few dozen clients, lost = duplicate = 0 asserted).
    section "cargo test --workspace --all-targets $* -- --test-threads=4"
    cargo test --workspace --all-targets "$@" -- --test-threads=4
fi

# --- schemathesis (step 5) -----------------------------------------------------
if [[ "${SIGNALGATE_TEST_SKIP_SCHEMATHESIS:-}" == 1 ]]; then
    section "SIGNALGATE_TEST_SKIP_SCHEMATHESIS=1: skipping schemathesis"
else
    section "schemathesis: /api/openapi.json against a demo gateway"
    bash "$REPO_ROOT/scripts/schemathesis.sh"
fi
# --- end of schemathesis -------------------------------------------------------

# ---------------------------------------------------------------------------
if [[ "${SIGNALGATE_TEST_SKIP_JS:-}" == 1 ]]; then
    section "SIGNALGATE_TEST_SKIP_JS=1: skipping the JS helper's tests"
else
    section "JS helper (clients/js/) and dashboard (web/): npm test"
    if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
        info "node or npm missing: installing nodejs and npm"
        apt-get update
        apt-get install -y nodejs npm
    fi
    info "node $(node --version), npm $(npm --version)"
    # npm_ci DIR: npm ci (npm install when the lock file is missing or out of date) in DIR.
    npm_ci() {
        cd "$1"
        if [[ -f package-lock.json ]]; then
            npm ci --no-audit --no-fund || {
                info "npm ci failed (lock file out of date?): falling back to npm install"
                npm install --no-audit --no-fund
            }
        else
            info "no $1/package-lock.json: npm install"
            npm install --no-audit --no-fund
        fi
    }
    npm_ci "$REPO_ROOT/clients/js"
    npm test
    npm_ci "$REPO_ROOT/web"
    npm test

    # -----------------------------------------------------------------------
    if [[ "${SIGNALGATE_TEST_SKIP_BROWSER:-}" == 1 ]]; then
        section "SIGNALGATE_TEST_SKIP_BROWSER=1: skipping the dashboard's browser tests"
    else
        section "Dashboard (web/e2e/): browser tests in headless Chromium"
        missing=()
        [[ -x /usr/bin/chromium ]] || missing+=(chromium)
        command -v sqlite3 >/dev/null 2>&1 || missing+=(sqlite3)
        if ((${#missing[@]} > 0)); then
            info "installing: ${missing[*]}"
            apt-get update
            apt-get install -y "${missing[@]}"
        fi
        info "$(/usr/bin/chromium --version 2>/dev/null || echo 'chromium: version unknown')"
        cargo_on_path
        # The tests start the real gateway binary; cargo test built it already unless the cargo
        # steps were skipped. A no-op when it is up to date (the same targets and features as
        # cargo test).
        (cd "$REPO_ROOT" && cargo build --workspace --all-targets)
        SIGNALGATE_BIN="${CARGO_TARGET_DIR:-$REPO_ROOT/target}/debug/signalgate" npm run e2e
    fi
fi

# ---------------------------------------------------------------------------
if [[ "${SIGNALGATE_TEST_SKIP_PYTHON:-}" == 1 ]]; then
    section "SIGNALGATE_TEST_SKIP_PYTHON=1: skipping the Python client's tests"
else
    section "Python client (clients/python/): pytest against the gateway binary"
    cargo_on_path
    # The tests start the gateway binary; the same targets (and features) as cargo test and the
    # browser step, so it is a no-op after them (a plain `cargo build` would rebuild the crate
    # without the dev-dependency's features).
    (cd "$REPO_ROOT" && cargo build --workspace --all-targets)
    SIGNALGATE_BIN="${CARGO_TARGET_DIR:-$REPO_ROOT/target}/debug/signalgate" \
        bash "$REPO_ROOT/clients/python/run-tests.sh"
fi
