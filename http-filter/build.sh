#!/usr/bin/env bash
# Builds the wasi:http component: the filter (taskgate-http-filter) and the keyring provider
# (taskgate-keyring-config) for wasm32-wasip2, composed with `wac plug` into
#   target/wasi-http/taskgate-http.wasm
# (installing wac into target/tools the first time). Prints the component's path.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=../tests/install.sh
source tests/install.sh

rustup target add wasm32-wasip2 >/dev/null
cargo build --quiet --locked -p taskgate-http-filter -p taskgate-keyring-config \
    --profile component --target wasm32-wasip2 --target-dir target/http-build
built=target/http-build/wasm32-wasip2/component
# Only `wac plug` is needed: no registry client.
wac="$(cargo_tool wac wac-cli 0.12.0 --no-default-features)"
mkdir -p target/wasi-http
"$wac" plug "$built/taskgate_http_filter.wasm" --plug "$built/taskgate_keyring_config.wasm" \
    -o target/wasi-http/taskgate-http.wasm
echo "$PWD/target/wasi-http/taskgate-http.wasm"
