#!/usr/bin/env bash
# Property-based tests of the REST API against its own OpenAPI document (schemathesis).
#
#   scripts/schemathesis.sh
#
# 1. creates a Python venv in $CARGO_TARGET_DIR/schemathesis-venv (default target/; installs
#    python3-venv with apt-get when `python3 -m venv` is not available) and installs the
#    schemathesis pinned in scripts/schemathesis-requirements.txt (skipped when already there);
# 2. builds the gateway (`cargo build --workspace --all-targets`) and starts `signalgate serve --demo` on
#    a free port of 127.0.0.1 over SQLite in a temporary directory;
# 3. waits (with a deadline) until /readyz answers and the demo's variants are listed;
# 4. runs `schemathesis run` against http://127.0.0.1:PORT/api/openapi.json (every phase:
#    examples, coverage, fuzzing; valid and invalid inputs) with the checks in CHECKS below, at
#    most SIGNALGATE_SCHEMATHESIS_EXAMPLES (default 100) test cases per operation;
# 5. stops the gateway (also on failure or Ctrl-C). Any failed check fails the script.
#
# Called by scripts/test.sh (skip it there with SIGNALGATE_TEST_SKIP_SCHEMATHESIS=1).
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT"
TARGET="${CARGO_TARGET_DIR:-$REPO_ROOT/target}"
VENV="$TARGET/schemathesis-venv"
REQUIREMENTS="$REPO_ROOT/scripts/schemathesis-requirements.txt"
EXAMPLES="${SIGNALGATE_SCHEMATHESIS_EXAMPLES:-100}"
# No 5xx; every status, content type, header and body as documented; other methods get a 405
# with an `Allow` header. Not checked: positive_data_acceptance (`end` before `start` is a 400
# that no per-parameter schema can express) and negative_data_rejection (an empty query value
# counts as absent, so `start=` is accepted although it is not a time).
CHECKS=not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance,unsupported_method,allow_header_conformance
# How long the gateway may take to become ready (it migrates a fresh SQLite file first).
READY_SECS=60

info() { printf '  %s\n' "$*"; }
die() {
    printf '\nERROR: %s\n' "$*" >&2
    exit 1
}

# --- 1. the venv
pinned="$(grep -E '^schemathesis==' "$REQUIREMENTS" | cut -d= -f3)"
[[ -n "$pinned" ]] || die "no schemathesis==VERSION line in $REQUIREMENTS"
# shellcheck source=scripts/venv.sh
source "$REPO_ROOT/scripts/venv.sh"
ensure_venv "$VENV"
installed="$("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("schemathesis"))' 2>/dev/null || true)"
if [[ "$installed" != "$pinned" ]]; then
    info "installing schemathesis $pinned into $VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$REQUIREMENTS"
fi
info "$("$VENV/bin/schemathesis" --version)"

# --- 2. the gateway
# rustup installs into ~/.cargo/bin, which a non-login shell may not have on PATH.
cargo_bin="${CARGO_HOME:-$HOME/.cargo}/bin"
if ! command -v cargo >/dev/null 2>&1 && [[ -x "$cargo_bin/cargo" ]]; then
    export PATH="$cargo_bin:$PATH"
fi
# The same targets and features as `cargo test --workspace --all-targets` (scripts/test.sh runs
# it just before): a no-op then, where `--bin signalgate` alone would rebuild the dependencies
# with other features.
cargo build --workspace --all-targets
BIN="$TARGET/debug/signalgate"
WORK="$(mktemp -d)"
GATEWAY_PID=""
cleanup() {
    if [[ -n "$GATEWAY_PID" ]] && kill -0 "$GATEWAY_PID" 2>/dev/null; then
        kill "$GATEWAY_PID" 2>/dev/null || true
        wait "$GATEWAY_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
PORT="$("$VENV/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
BASE="http://127.0.0.1:$PORT"
# Every SIGNALGATE_* setting of the caller's environment is dropped: the run must not pick up
# a token secret, a rate limit or another database.
# shellcheck disable=SC2046 # one `-u NAME` pair per variable
env $(env | grep -o '^SIGNALGATE_[A-Z0-9_]*' | sed 's/^/-u /') RUST_LOG="${RUST_LOG:-warn}" \
    "$BIN" serve --demo --demo-tick-ms 200 --listen "127.0.0.1:$PORT" \
    --database-url "sqlite://$WORK/demo.db" >"$WORK/gateway.log" 2>&1 &
GATEWAY_PID=$!
info "gateway (pid $GATEWAY_PID) on $BASE, log in $WORK/gateway.log"

# --- 3. ready, with the demo's data
deadline=$((SECONDS + READY_SECS))
until "$VENV/bin/python" - "$BASE" >/dev/null 2>&1 <<'PY'
import json, sys, urllib.request
base = sys.argv[1]
with urllib.request.urlopen(base + "/readyz", timeout=2) as r:
    assert r.status == 200
with urllib.request.urlopen(base + "/api/variants", timeout=2) as r:
    assert len(json.load(r)["variants"]) == 3
PY
do
    if ! kill -0 "$GATEWAY_PID" 2>/dev/null; then
        cat "$WORK/gateway.log" >&2
        die "the gateway exited before it was ready"
    fi
    if ((SECONDS >= deadline)); then
        cat "$WORK/gateway.log" >&2
        die "the gateway was not ready with demo data within ${READY_SECS}s"
    fi
    sleep 0.2
done
info "gateway ready"

# --- 4. schemathesis
status=0
# Run from the temporary directory: schemathesis keeps its replay state in ./.schemathesis/.
(cd "$WORK" && "$VENV/bin/schemathesis" run "$BASE/api/openapi.json" \
    --checks "$CHECKS" \
    --max-examples "$EXAMPLES" \
    --workers 2 \
    --request-timeout 10 \
    --no-color) || status=$?
if ((status != 0)); then
    info "gateway log (last 50 lines):"
    tail -n 50 "$WORK/gateway.log" >&2
    die "schemathesis failed (exit $status)"
fi
