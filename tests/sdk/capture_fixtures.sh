#!/usr/bin/env bash
# Regenerates the golden SDK captures in tests/fixtures/fnf/captured/ (one .http + .toml per
# SDK layout) by sending the fixed fixture request through each real SDK to a local recorder.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
"$here/setup.sh"
cd "$here/python"
exec "$here/.venv/bin/python" capture.py
