#!/usr/bin/env bash
# The Python client's tests (clients/python/tests/) against a real gateway binary.
#
#   clients/python/run-tests.sh [pytest args...]
#
# 1. a venv in $CARGO_TARGET_DIR/python-client-venv (default target/; python3-venv comes from
#    apt-get when `python3 -m venv` is not available);
# 2. `pip install ./clients/python[mysql,postgres,test]` into it (a real, non-editable install:
#    the tests use the package as users get it);
# 3. the gateway binary: $SIGNALGATE_BIN, else $CARGO_TARGET_DIR/debug/signalgate, built with
#    `cargo build` when missing;
# 4. pytest with SIGNALGATE_TEST_MYSQL_URL / SIGNALGATE_TEST_POSTGRES_URL (defaults: the local
#    root@127.0.0.1:3306 and postgres@127.0.0.1:5432). Every test runs on MariaDB, PostgreSQL
#    and SQLite in its own sgt_py_* database; an unreachable server fails the tests.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
TARGET="${CARGO_TARGET_DIR:-$REPO_ROOT/target}"
VENV="$TARGET/python-client-venv"

info() { printf '  %s\n' "$*"; }

# shellcheck source=scripts/venv.sh
source "$REPO_ROOT/scripts/venv.sh"
ensure_venv "$VENV"
# A copy of the package's source, so the build leaves nothing (build/, *.egg-info) in the tree.
build="$(mktemp -d)"
trap 'rm -rf "$build"' EXIT
cp -r "$REPO_ROOT/clients/python/." "$build/"
rm -rf "$build/.pytest_cache"
"$VENV/bin/pip" install --quiet --disable-pip-version-check --force-reinstall --no-deps "$build"
"$VENV/bin/pip" install --quiet --disable-pip-version-check "$build[mysql,postgres,test]"
info "$("$VENV/bin/python" -c 'import signalgate as s; print("signalgate", s.__version__, "protocol", s.PROTOCOL_VERSION, "from", s.__file__)')"

export SIGNALGATE_BIN="${SIGNALGATE_BIN:-$TARGET/debug/signalgate}"
if [[ ! -x "$SIGNALGATE_BIN" ]]; then
    info "no gateway binary at $SIGNALGATE_BIN: cargo build"
    (cd "$REPO_ROOT" && cargo build --workspace --all-targets)
fi
export SIGNALGATE_TEST_MYSQL_URL="${SIGNALGATE_TEST_MYSQL_URL:-mysql://root@127.0.0.1:3306}"
export SIGNALGATE_TEST_POSTGRES_URL="${SIGNALGATE_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432}"

cd "$REPO_ROOT/clients/python"
exec "$VENV/bin/python" -m pytest -p no:cacheprovider -q "$@" tests
