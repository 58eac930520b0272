#!/usr/bin/env bash
# The wasi:http build under existing hosts: builds and composes the component
# (http-filter/build.sh), installs the wasmtime CLI of the version taskgate's host links (into
# target/tools) and jco (the Node binding's), then runs the suite with the real SDKs.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
# shellcheck source=../install.sh
source tests/install.sh

TASKGATE_HTTP_COMPONENT="$(bash http-filter/build.sh)"
# The version taskgate's host links: the CLI whose `serve` users would run it under. Only what
# `serve` needs is built (the full CLI takes twice as long here).
version="$(sed -n '/^name = "wasmtime"$/{n;s/^version = "\(.*\)"$/\1/p;q}' Cargo.lock)"
features=serve,run,wasi-config,cranelift,component-model,component-model-async,pooling-allocator
TASKGATE_WASMTIME="$(cargo_tool wasmtime wasmtime-cli "$version" --no-default-features \
    --features "$features,parallel-compilation")"
bash tests/sdk/setup.sh
bash bindings/node/setup.sh
TASKGATE_JCO="$PWD/bindings/node/node_modules/.bin/jco"
export TASKGATE_HTTP_COMPONENT TASKGATE_WASMTIME TASKGATE_JCO
"$TASKGATE_WASMTIME" --version
tests/sdk/.venv/bin/python -m pytest tests/wasi-http -q "$@"
