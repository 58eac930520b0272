#!/usr/bin/env bash
# Installs and builds the Node binding, idempotently and without prompting:
#   bindings/node/node_modules   `npm ci` from package.json + package-lock.json
#   bindings/node/dist           the component transpiled by jco (`npm run build`)
# The install is skipped when up to date (tests/install.sh); the transpilation is redone when the
# component, build.mjs or the installed packages are newer than dist/ (it takes about a second).
# The component must be built first: cargo build --release -p taskgate (or set
# TASKGATE_COMPONENT to a component file).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"

# shellcheck source=../../tests/install.sh
source "$here/../../tests/install.sh"
npm_install "node binding" "$here"
stamp="node_modules/.taskgate-stamp"

component="${TASKGATE_COMPONENT:-$here/../../target/component-build/wasm32-wasip2/component/taskgate_filter.wasm}"
if [[ ! -f dist/taskgate_filter.js || "$component" -nt dist/taskgate_filter.js \
    || build.mjs -nt dist/taskgate_filter.js || "$stamp" -nt dist/taskgate_filter.js ]]; then
    npm run --silent build </dev/null
fi
