#!/usr/bin/env bash
# Builds the Envoy plugin: the filter as a proxy-wasm module for wasm32-wasip1, at
#   target/proxy-wasm/taskgate.wasm
# With `--test-clock`, the test build instead (the time of receipt from a request header, for
# the case corpus; never deploy it), at target/proxy-wasm/taskgate-test-clock.wasm.
# Prints the module's path.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

features=()
name=taskgate.wasm
if [ "${1:-}" = "--test-clock" ]; then
    features=(--features test-clock)
    name=taskgate-test-clock.wasm
fi
rustup target add wasm32-wasip1 >/dev/null
cargo build --quiet --locked -p taskgate-proxy-wasm "${features[@]}" \
    --profile component --target wasm32-wasip1 --target-dir target/proxy-wasm-build
mkdir -p target/proxy-wasm
cp target/proxy-wasm-build/wasm32-wasip1/component/taskgate_proxy_wasm.wasm "target/proxy-wasm/$name"
echo "$PWD/target/proxy-wasm/$name"
