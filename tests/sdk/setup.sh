#!/usr/bin/env bash
# Installs what the SDK end-to-end tests need (tests/install.sh says how):
#   tests/sdk/.venv               Python venv with the pinned packages of python/requirements.txt
#   tests/sdk/node/node_modules   `npm ci` from node/package.json + node/package-lock.json
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../install.sh
source "$here/../install.sh"

venv_install "sdk tests" "$here/.venv" "$here/python/requirements.txt"
npm_install "sdk tests" "$here/node"
