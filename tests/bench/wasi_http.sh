#!/usr/bin/env bash
# The wasi:http build under load, against taskgate's own host, on loopback: maximum throughput
# (closed loop) of the same freshly signed ReportTaskFailed (RPC v1) through
#   (c) taskgate serve                                -> bench-upstream
#   (w) wasmtime serve target/wasi-http/taskgate-http.wasm -> bench-upstream
#       the same with --max-instance-reuse-count 128
#   (j) jco serve      target/wasi-http/taskgate-http.wasm -> bench-upstream
# interleaved in that order, ROUNDS times. Needs the tools tests/wasi-http/run.sh installs.
#
#   tests/bench/wasi_http.sh                  # DURATION=5, ROUNDS=2, CONNECTIONS=16
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

DURATION=${DURATION:-5}
WARMUP=${WARMUP:-1}
ROUNDS=${ROUNDS:-2}
CONNECTIONS=${CONNECTIONS:-16}
bin=target/release
wasmtime=tests/sdk/.venv/bin/wasmtime
jco=bindings/node/node_modules/.bin/jco

# shellcheck source=common.sh
source tests/bench/common.sh

begin
component=$(bash http-filter/build.sh)
[ -x "$wasmtime" ] && [ -x "$jco" ] || die "run tests/wasi-http/run.sh first (wasmtime CLI, jco)"
write_config "$work/taskgate.toml"
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
# until_listening PORT PID OUTPUT
until_listening() {
    local i
    for i in $(seq 600); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
        kill -0 "$2" 2>/dev/null || die "process $2 exited before listening: $(cat "$3")"
        sleep 0.1
    done
    die "nothing listens on $1 after 60 s"
}

step "start the upstream and the filters"
"$bin/bench-upstream" 127.0.0.1:0 >"$work/upstream.out" &
pids+=($!)
upstream=$(address_in "$work/upstream.out" "listening on" "$!")

"$bin/taskgate" serve --config "$work/taskgate.toml" --upstream "http://$upstream" \
    >"$work/taskgate.out" 2>/dev/null &
pids+=($!)
taskgate=$(address_in "$work/taskgate.out" "listening on" "$!")

keys=(access-key.LTAI5tDemoAccessKeyId=1234567890123456:demo-access-key-secret
    token-key.demo=1234567890123456:demo-token-key)
config=()
for kv in "upstream=http://$upstream" "${keys[@]}"; do config+=(-S "config-var=$kv"); done
# wasmtime serve as it comes (a new instance per request), and keeping an instance for up to 128
# requests (the component reads its settings and keys once per instance).
wasmtime_port=$(free_port)
"$wasmtime" serve -S cli -S config "${config[@]}" --addr "127.0.0.1:$wasmtime_port" "$component" \
    >"$work/wasmtime.out" 2>&1 &
pids+=($!)
until_listening "$wasmtime_port" "$!" "$work/wasmtime.out"
reuse_port=$(free_port)
"$wasmtime" serve -S cli -S config "${config[@]}" --addr "127.0.0.1:$reuse_port" \
    --max-instance-reuse-count 128 "$component" >"$work/reuse.out" 2>&1 &
pids+=($!)
until_listening "$reuse_port" "$!" "$work/reuse.out"

jco_port=$(free_port)
python3 -c 'import json, sys; print(json.dumps(dict(kv.split("=", 1) for kv in sys.argv[1:])))' \
    "upstream=http://$upstream" "${keys[@]}" >"$work/config.json"
# --jco-map takes several values: options after it end the list.
TASKGATE_HTTP_CONFIG=$work/config.json setsid "$jco" serve \
    --jco-map "wasi:config/store=$PWD/http-filter/jco/wasi-config.mjs" \
    --host 127.0.0.1 --port "$jco_port" "$component" >"$work/jco.out" 2>&1 &
pids+=($!)
until_listening "$jco_port" "$!" "$work/jco.out"

for round in $(seq "$ROUNDS"); do
    for target in "taskgate:$taskgate" "wasmtime:127.0.0.1:$wasmtime_port" \
        "wasmtime-reuse:127.0.0.1:$reuse_port" "jco:127.0.0.1:$jco_port"; do
        sign_request
        step "round $round: ${target%%:*}"
        timeout $((WARMUP + DURATION + 30)) "$bin/bench-loadgen" --url "http://${target#*:}" \
            --request "$work/request.http" --connections "$CONNECTIONS" --duration "$DURATION" \
            --warmup "$WARMUP" --label "${target%%:*}" | tee -a "$work/results.jsonl"
    done
done

python3 - "$work/results.jsonl" <<'PY'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
print("\n| filter | req/s (each round) | p50 µs | p99 µs | non-2xx (statuses) | errors |\n|---|---|---|---|---|---|")
for label in dict.fromkeys(r["label"] for r in rows):
    runs = [r for r in rows if r["label"] == label]
    print(f"| {label} | {' / '.join(str(round(r['throughput_rps'])) for r in runs)} | "
          f"{' / '.join(str(r['p50_us']) for r in runs)} | {' / '.join(str(r['p99_us']) for r in runs)} | "
          f"{sum(r['non_2xx'] for r in runs)} {[r['statuses'] for r in runs]} | {sum(r['errors'] for r in runs)} |")
PY
# What the components said (an upstream that failed them, ...): the last lines of each host.
for out in wasmtime reuse jco; do
    if [ -s "$work/$out.out" ]; then
        step "$out: stderr (last 5 lines)"
        tail -n 5 "$work/$out.out" >&2
    fi
done
