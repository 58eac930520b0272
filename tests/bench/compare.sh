#!/usr/bin/env bash
# Two builds of `taskgate serve` compared in one sitting: both started side by side in front of
# the same `bench-upstream`, then loaded in turn (closed loop, maximum throughput), round after
# round, so that the machine's drift hits both alike. Prints each round (req/s and the proxy's
# CPU µs per answer) and the medians.
#
#   tests/bench/compare.sh BEFORE_BINARY [AFTER_BINARY]     # AFTER defaults to the release build
#
# Settings (environment): ROUNDS (default 5), DURATION (seconds per run, default 5), WARMUP
# (default 1), CONNECTIONS (default 32), MODE (`no-filter`, the default, or `filter`).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-5}
WARMUP=${WARMUP:-1}
CONNECTIONS=${CONNECTIONS:-32}
MODE=${MODE:-no-filter}
bin=target/release
before=${1:?usage: compare.sh BEFORE_BINARY [AFTER_BINARY]}
after=${2:-$bin/taskgate}

# shellcheck source=common.sh
source tests/bench/common.sh

begin
write_config "$work/taskgate.toml"
sign_request
"$bin/bench-upstream" 127.0.0.1:0 >"$work/upstream.out" &
pids+=("$!")
upstream=$(address_in "$work/upstream.out" "listening on" "$!")

flags=(--upstream "http://$upstream")
case $MODE in
no-filter) flags+=(--no-filter) ;;
filter) ;;
*) die "MODE must be no-filter or filter, not $MODE" ;;
esac
declare -A addr proc
for name in before after; do
    binary=${!name}
    "$binary" serve --config "$work/taskgate.toml" "${flags[@]}" >"$work/$name.out" 2>"$work/$name.log" &
    pids+=("$!")
    proc[$name]=$!
    addr[$name]=$(address_in "$work/$name.out" "listening on" "$!")
done

# Each run prints: build, req/s, the proxy's CPU time (user + system) per answer in µs.
for round in $(seq "$ROUNDS"); do
    for name in before after; do
        sign_request
        start=$(ticks "${proc[$name]}")
        result=$("$bin/bench-loadgen" --url "http://${addr[$name]}" --request "$work/request.http" \
            --connections "$CONNECTIONS" --duration "$DURATION" --warmup "$WARMUP" --label "$name")
        end=$(ticks "${proc[$name]}")
        python3 -c '
import json, sys
r = json.loads(sys.argv[1])
us = int(sys.argv[2]) / int(sys.argv[3]) * 1e6 / r["answers_total"]
print(r["label"], int(r["throughput_rps"]), round(us, 1))' "$result" "$((end - start))" "$(getconf CLK_TCK)" |
            tee -a "$work/rounds.txt"
    done
done
python3 - "$work/rounds.txt" "$MODE" <<'PY'
import statistics, sys
rates, cpu = {}, {}
for line in open(sys.argv[1]):
    name, rate, us = line.split()
    rates.setdefault(name, []).append(int(rate))
    cpu.setdefault(name, []).append(float(us))
b, a = statistics.median(rates["before"]), statistics.median(rates["after"])
cb, ca = statistics.median(cpu["before"]), statistics.median(cpu["after"])
print(f"{sys.argv[2]}: medians before {b:.0f} req/s, after {a:.0f} req/s, after/before {a / b:.2f}; "
      f"proxy CPU per request before {cb:.1f} µs, after {ca:.1f} µs, after/before {ca / cb:.2f}")
PY
