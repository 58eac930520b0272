#!/usr/bin/env bash
# Installs what bindings/python needs (tests/install.sh says how):
#   bindings/python/.venv   Python venv with the pinned packages of requirements.txt
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
python="${PYTHON:-python3}"

if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    echo "python bindings: need Python 3.11 or later (tomllib); set PYTHON=python3.11" >&2
    exit 1
fi

# shellcheck source=../../tests/install.sh
source "$here/../../tests/install.sh"
venv_install "python binding" "$here/.venv" "$here/requirements.txt"
