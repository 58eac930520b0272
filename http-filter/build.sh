#!/usr/bin/env bash
# Builds the wasi:http component: the filter (taskgate-http-filter) and the keyring provider
# (taskgate-keyring-config) for wasm32-wasip2, in the filter component's target directory (they
# share its dependencies), then plugs the provider into the filter (http-filter/compose, what
# `wac plug` does, with the same library) into
#   target/wasi-http/taskgate-http.wasm
# Prints the component's path.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

rustup target add wasm32-wasip2 >/dev/null
cargo build --quiet --locked -p taskgate-http-filter -p taskgate-keyring-config \
    --profile component --target wasm32-wasip2 --target-dir target/component-build
built=target/component-build/wasm32-wasip2/component
cargo build --quiet --locked --manifest-path http-filter/compose/Cargo.toml \
    --target-dir target/tools-build
mkdir -p target/wasi-http
target/tools-build/debug/taskgate-compose "$built/taskgate_http_filter.wasm" \
    "$built/taskgate_keyring_config.wasm" target/wasi-http/taskgate-http.wasm
echo "$PWD/target/wasi-http/taskgate-http.wasm"
