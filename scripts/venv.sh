# Sourced by scripts that keep Python tools in a venv under the cargo target dir.
#
# ensure_venv DIR: a working venv at DIR; python3 and python3-venv come from apt-get when
# `python3 -m venv` fails (Debian ships python3 without the venv module). Needs `info`.
ensure_venv() {
    local venv="$1"
    "$venv/bin/python" -c 'import sys' >/dev/null 2>&1 && return 0
    rm -rf "$venv"
    if ! python3 -m venv "$venv" >/dev/null 2>&1; then
        info "python3 -m venv failed: installing python3 and python3-venv"
        apt-get update
        apt-get install -y python3 python3-venv
        rm -rf "$venv"
        python3 -m venv "$venv"
    fi
}
