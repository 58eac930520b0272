#!/usr/bin/env bash
# Builds the Envoy plugin: the filter as a proxy-wasm module for wasm32-wasip1, at
#   target/proxy-wasm/taskgate.wasm
# With `--test-clock`, a test build instead (the time of receipt from a request header, for
# the case corpus), at target/proxy-wasm/taskgate-test-clock.wasm; with `--test-faults`, one
# that traps on a marker in the body (what Envoy does with a crashed plugin), at
# target/proxy-wasm/taskgate-test-faults.wasm; with `--bench-plumbing`, one that checks nothing
# (what Envoy's wasm plumbing costs, for tests/bench/envoy_account.sh), at
# target/proxy-wasm/taskgate-bench-plumbing.wasm. Never deploy any of them.
# Prints the module's path.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

features=()
name=taskgate.wasm
case "${1:-}" in
    "") ;;
    --test-clock | --test-faults | --bench-plumbing)
        feature="${1#--}"
        features=(--features "$feature")
        name="taskgate-$feature.wasm"
        ;;
    *)
        echo "usage: $0 [--test-clock | --test-faults | --bench-plumbing]" >&2
        exit 2
        ;;
esac
rustup target add wasm32-wasip1 >/dev/null
cargo build --quiet --locked -p taskgate-proxy-wasm "${features[@]}" \
    --profile component --target wasm32-wasip1 --target-dir target/proxy-wasm-build
mkdir -p target/proxy-wasm
cp target/proxy-wasm-build/wasm32-wasip1/component/taskgate_proxy_wasm.wasm "target/proxy-wasm/$name"
echo "$PWD/target/proxy-wasm/$name"
