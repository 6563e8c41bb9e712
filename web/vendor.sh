#!/usr/bin/env bash
# Re-copies the dashboard's browser dependencies from node_modules into web/vendor/.
#
#   cd web && npm ci && bash vendor.sh      # or: npm run vendor
#
# The versions are pinned exactly in package.json (and package-lock.json); to update one,
# `npm install --save-exact <pkg>@<version>`, run this script, check the dashboard, and commit
# web/vendor/ together with the lock file. The gateway embeds web/vendor/ at build time, so
# `cargo build` never needs npm. VERSIONS records what was copied.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

copy() { # copy PACKAGE FILE_IN_PACKAGE TARGET_NAME
    local pkg="$1" file="$2" target="$3"
    [[ -f "node_modules/$pkg/$file" ]] || {
        echo "node_modules/$pkg/$file is missing: run npm ci first" >&2
        exit 1
    }
    cp "node_modules/$pkg/$file" "vendor/$target"
    printf '%s %s %s\n' "$pkg" "$(node -p "require('./node_modules/$pkg/package.json').version")" "$file" >>vendor/VERSIONS.tmp
}

mkdir -p vendor
: >vendor/VERSIONS.tmp
copy socket.io-client dist/socket.io.esm.min.js socket.io.esm.min.js
copy lightweight-charts dist/lightweight-charts.standalone.production.mjs lightweight-charts.mjs
{
    echo "# Vendored browser dependencies (package version source-file), written by web/vendor.sh"
    cat vendor/VERSIONS.tmp
} >vendor/VERSIONS
rm vendor/VERSIONS.tmp
cp node_modules/lightweight-charts/LICENSE vendor/lightweight-charts.LICENSE
cp node_modules/socket.io-client/LICENSE vendor/socket.io-client.LICENSE
cat vendor/VERSIONS
