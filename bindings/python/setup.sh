#!/usr/bin/env bash
# Installs what bindings/python needs, idempotently and without prompting:
#   bindings/python/.venv   Python venv with the pinned packages of requirements.txt
# A stamp file (hash of the pin file + interpreter version) skips a reinstall that is up to date.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
python="${PYTHON:-python3}"

if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    echo "python bindings: need Python 3.11 or later (tomllib); set PYTHON=python3.11" >&2
    exit 1
fi

hash_of() { cat "$@" | sha256sum | cut -d' ' -f1; }

venv="$here/.venv"
req="$here/requirements.txt"
want="$(hash_of "$req")-$("$python" -c 'import sys; print(sys.version.split()[0])')"
stamp="$venv/.taskgate-bindings-stamp"
if [[ ! -x "$venv/bin/python" || "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]]; then
    echo "python bindings: installing Python packages into bindings/python/.venv" >&2
    rm -rf "$venv"
    "$python" -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input -r "$req" </dev/null
    echo "$want" >"$stamp"
fi
