#!/usr/bin/env bash
# Soak of `taskgate serve`: a long run of mixed valid and invalid SDK-shaped traffic with
# clients that abort at random, at half the gateway's measured maximum rate, with a figure line
# (answers, p50/p99/max latency, RSS, open FDs, in-flight and open connections) every EVERY
# seconds and a full account of every request at the end (see tests/bench/soak.rs). Fails if
# any request that reached the gateway was not logged exactly once, answered with the status
# logged, and forwarded at most once (exactly once if valid and complete, never if invalid or
# incomplete), or if anything is left in flight.
#
#   tests/bench/soak.sh                  # 30 minutes, a line a minute (RELIABILITY.md)
#   tests/bench/soak.sh 60 10            # what the test script runs: 60 s, a line every 10 s
#
# Settings (environment): RATE (requests per second; default half the maximum of the same traffic,
# measured by a 5-second run first), CONNECTIONS (soak clients, default 64),
# FIGURES (a file to write the figure lines to as a Markdown table).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

SECONDS_TOTAL=${1:-1800}
EVERY=${2:-60}
RATE=${RATE:-}
CONNECTIONS=${CONNECTIONS:-64}
FIGURES=${FIGURES:-}
bin=target/release

# shellcheck source=common.sh
source tests/bench/common.sh

begin

step "start the upstream and the gateway"
"$bin/bench-upstream" 127.0.0.1:0 --record "$work/upstream.ids" >"$work/upstream.out" &
upstream_pid=$!
pids+=("$upstream_pid")
upstream=$(address_in "$work/upstream.out" "listening on" "$upstream_pid")
# read_timeout_ms: idle connections close 5 s after their last request (the soak's clients do
# not reuse a connection idle for more than 1 s).
# The default store: every soak request has its own nonce and task, so the memory is soaked too.
write_config "$work/taskgate.toml" "upstream = \"http://$upstream\"
read_timeout_ms = 5000" 'kind = "embedded"'
cat >>"$work/taskgate.toml" <<'EOF'
[[access_keys]]
id = "AKIDEXAMPLE"
secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
account = "123456789012"
EOF
"$bin/taskgate" serve --config "$work/taskgate.toml" >"$work/gateway.out" 2>"$work/gateway.log" &
gateway_pid=$!
pids+=("$gateway_pid")
gateway=$(address_in "$work/gateway.out" "listening on" "$gateway_pid")
admin=$(address_in "$work/gateway.out" "admin on" "$gateway_pid")

common=(--addr "$gateway" --admin "$admin" --pid "$gateway_pid" --connections "$CONNECTIONS"
    --gateway-log "$work/gateway.log" --upstream-record "$work/upstream.ids" --settle 7)
if [ -z "$RATE" ]; then
    # The maximum of this very traffic (the soak's clients sign every request, and some abort):
    # 5 s at a rate beyond reach; what was answered per second, halved. It is accounted for too.
    step "the maximum rate of the soak's traffic (5 s)"
    line=$(timeout 120 "$bin/bench-soak" "${common[@]}" --rate 1000000 --duration 5 --every 5 \
        --seed 2 --tag probe) || die "the probe of the maximum rate failed"
    printf '%s\n' "$line" | tail -n 1 >&2
    RATE=$(python3 -c 'import json, sys; print(max(1, int(json.loads(sys.argv[1].splitlines()[-1])["answered"] / 5 / 2)))' "$line")
fi

step "soak: $SECONDS_TOTAL s at $RATE req/s, $CONNECTIONS clients"
args=("${common[@]}" --rate "$RATE" --duration "$SECONDS_TOTAL" --every "$EVERY")
if [ -n "$FIGURES" ]; then args+=(--figures "$FIGURES"); fi
timeout $((SECONDS_TOTAL + 120)) "$bin/bench-soak" "${args[@]}" ||
    die "the soak failed (gateway log: $(grep -c '^{' "$work/gateway.log") lines)"
running "$gateway_pid" || die "the gateway died"
