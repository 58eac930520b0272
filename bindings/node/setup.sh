#!/usr/bin/env bash
# Installs and builds the Node binding, idempotently and without prompting:
#   bindings/node/node_modules   `npm ci` from package.json + package-lock.json
#   bindings/node/dist           the component transpiled by jco (`npm run build`)
# A stamp (hash of the pin files + Node version) skips an install that is up to date; the
# transpilation is redone when the component is newer than dist/ (it takes about a second).
# The component must be built first: cargo build --release -p taskgate (or set
# TASKGATE_COMPONENT to a component file).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"

hash_of() { cat "$@" | sha256sum | cut -d' ' -f1; }

want="$(hash_of package.json package-lock.json)-$(node --version)"
stamp="node_modules/.taskgate-binding-stamp"
if [[ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]]; then
    echo "node binding: installing Node packages into bindings/node/node_modules" >&2
    CI=true npm ci --no-audit --no-fund --loglevel=error </dev/null >/dev/null
    echo "$want" >"$stamp"
fi

component="${TASKGATE_COMPONENT:-$here/../../target/component-build/wasm32-wasip2/component/taskgate_filter.wasm}"
if [[ ! -f dist/taskgate_filter.js || "$component" -nt dist/taskgate_filter.js \
    || build.mjs -nt dist/taskgate_filter.js || "$stamp" -nt dist/taskgate_filter.js ]]; then
    npm run --silent build </dev/null
fi
