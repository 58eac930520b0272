#!/usr/bin/env bash
# The CPU account of one request: where the proxy's CPU time goes per request, for
# `taskgate serve` with the filter, with `--no-filter` and for nginx, under the same closed-loop
# load as tests/bench/serve.sh (the same signed ReportTaskFailed, the same bench-upstream).
#
#   tests/bench/profile.sh                       # filter, no-filter, nginx; DURATION=5
#   tests/bench/profile.sh filter                # one of them
#
# For each proxy, two runs of bench-loadgen at maximum throughput:
#   1. unprofiled: the proxy's CPU time (its processes' utime + stime) per answered request;
#   2. profiled: `perf record --call-graph dwarf` on the proxy's processes (kernel and user) for
#      DURATION seconds after the warm-up, then tests/bench/account.py charges each sample to a
#      part of the request's work (the HTTP server, the component's instantiation, the guest's
#      code, the log line, ... see PARTS there) and prints µs per request: share of the samples
#      × the CPU time per request of run 1 (the profiler's own overhead is not counted).
# `TASKGATE_PERFMAP=1` makes the gateway name the component's functions for perf.
#
# Needs `perf` (Debian's linux-perf; installed when missing) and kernel.perf_event_paranoid <= 1
# or root. Settings: DURATION (default 5), WARMUP (default 1), CONNECTIONS (default 32), FREQ
# (samples per second per CPU, default 999), TOP (also list the N largest unattributed
# functions), KEEP (a directory to keep the perf data and scripts in), COMPONENT (a filter
# component to load instead of the embedded one: a build that keeps its name section lets perf
# name the guest's functions, e.g. CARGO_PROFILE_COMPONENT_STRIP=false).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

DURATION=${DURATION:-5}
WARMUP=${WARMUP:-1}
CONNECTIONS=${CONNECTIONS:-32}
FREQ=${FREQ:-999}
TOP=${TOP:-0}
KEEP=${KEEP:-}
bin=target/release
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(filter no-filter nginx)

# shellcheck source=common.sh
source tests/bench/common.sh

if ! command -v perf >/dev/null; then
    step "install perf (Debian's linux-perf)"
    debian_install linux-perf || die "perf is not installed and could not be installed"
fi

begin
write_config "$work/taskgate.toml"
sign_request
"$bin/bench-upstream" 127.0.0.1:0 >"$work/upstream.out" &
upstream_pid=$!
pids+=("$upstream_pid")
upstream=$(address_in "$work/upstream.out" "listening on" "$upstream_pid")

# loadgen ADDR SECONDS: a closed-loop run; prints the answers counted after the warm-up.
loadgen() {
    sign_request
    "$bin/bench-loadgen" --url "http://$1" --request "$work/request.http" \
        --connections "$CONNECTIONS" --duration "$2" --warmup "$WARMUP" |
        python3 -c 'import json, sys; r = json.load(sys.stdin); assert not (r["non_2xx"] or r["errors"]), r; print(r["answers_total"], int(r["throughput_rps"]))'
}

for target in "${targets[@]}"; do
    case $target in
    filter | no-filter)
        flags=()
        [ "$target" = no-filter ] && flags+=(--no-filter)
        [ -n "${COMPONENT:-}" ] && flags+=(--component "$COMPONENT")
        TASKGATE_PERFMAP=1 "$bin/taskgate" serve --config "$work/taskgate.toml" \
            --upstream "http://$upstream" "${flags[@]}" >"$work/$target.out" 2>"$work/$target.log" &
        proxy_pid=$!
        pids+=("$proxy_pid")
        addr=$(address_in "$work/$target.out" "listening on" "$proxy_pid")
        procs=("$proxy_pid")
        ;;
    nginx)
        start_nginx "$upstream"
        proxy_pid=$nginx_pid
        addr=$nginx
        sleep 0.5
        mapfile -t procs < <(pgrep -P "$nginx_pid")
        ;;
    *) die "unknown target $target (filter, no-filter or nginx)" ;;
    esac

    step "$target: unprofiled run (${WARMUP}s warm-up + ${DURATION}s)"
    before=$(ticks "${procs[@]}")
    read -r answers rps < <(loadgen "$addr" "$DURATION")
    after=$(ticks "${procs[@]}")
    # The warm-up's answers are counted too: the CPU time covers the whole run.
    per_request=$(python3 -c "import sys; t, n, tck = map(int, sys.argv[1:]); print(round(t / tck * 1e6 / n, 2))" \
        "$((after - before))" "$answers" "$(getconf CLK_TCK)")

    step "$target: profiled run"
    loadgen "$addr" "$((DURATION + 2))" >/dev/null &
    load_pid=$!
    sleep "$((WARMUP + 1))"
    perf record -q -F "$FREQ" --call-graph dwarf,16384 -o "$work/$target.data" \
        -p "$(IFS=,; echo "${procs[*]}")" -- sleep "$DURATION" 2>/dev/null
    wait "$load_pid"
    perf script -i "$work/$target.data" -F comm,tid,period,ip,sym,dso --no-inline \
        >"$work/$target.script" 2>/dev/null

    printf '\n### %s: %s req/s unprofiled, %s µs of the proxy'"'"'s CPU per request\n\n' \
        "$target" "$rps" "$per_request"
    args=("$work/$target.script" "$per_request")
    [ "$TOP" = 0 ] || args+=(--top "$TOP")
    python3 tests/bench/account.py "${args[@]}"
    if [ -n "$KEEP" ]; then
        mkdir -p "$KEEP"
        cp "$work/$target.data" "$work/$target.script" "$KEEP/"
    fi
    stop "$proxy_pid"
done
