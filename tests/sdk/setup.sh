#!/usr/bin/env bash
# Installs what the SDK end-to-end tests need, idempotently and without prompting:
#   tests/sdk/.venv          Python venv with the pinned packages of python/requirements.txt
#   tests/sdk/node/node_modules   `npm ci` from node/package.json + node/package-lock.json
# A stamp file (hash of the pin file + interpreter version) skips a reinstall that is up to date.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
python="${PYTHON:-python3}"

hash_of() { cat "$@" | sha256sum | cut -d' ' -f1; }

# --- Python -------------------------------------------------------------------------------
venv="$here/.venv"
req="$here/python/requirements.txt"
want_py="$(hash_of "$req")-$("$python" -c 'import sys; print(sys.version.split()[0])')"
stamp_py="$venv/.taskgate-sdk-stamp"
if [[ ! -x "$venv/bin/python" || "$(cat "$stamp_py" 2>/dev/null || true)" != "$want_py" ]]; then
    echo "sdk tests: installing Python packages into tests/sdk/.venv" >&2
    rm -rf "$venv"
    "$python" -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input -r "$req" </dev/null
    echo "$want_py" >"$stamp_py"
fi

# --- Node ---------------------------------------------------------------------------------
node_dir="$here/node"
if [[ -f "$node_dir/package-lock.json" ]]; then
    want_node="$(hash_of "$node_dir/package.json" "$node_dir/package-lock.json")-$(node --version)"
else
    want_node="$(hash_of "$node_dir/package.json")-$(node --version)"
fi
stamp_node="$node_dir/node_modules/.taskgate-sdk-stamp"
if [[ "$(cat "$stamp_node" 2>/dev/null || true)" != "$want_node" ]]; then
    echo "sdk tests: installing Node packages into tests/sdk/node/node_modules" >&2
    npm_flags=(--no-audit --no-fund --loglevel=error)
    if [[ -f "$node_dir/package-lock.json" ]]; then
        (cd "$node_dir" && CI=true npm ci "${npm_flags[@]}" </dev/null >/dev/null)
    else
        (cd "$node_dir" && CI=true npm install "${npm_flags[@]}" </dev/null >/dev/null)
    fi
    echo "$want_node" >"$stamp_node"
fi
