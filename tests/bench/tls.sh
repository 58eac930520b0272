#!/usr/bin/env bash
# What TLS costs `taskgate serve`, on the listener and to the upstream: the same signed
# ReportTaskFailed as serve.sh, over keep-alive connections (each connection's handshake is made
# before measuring), through four gateways started side by side:
#   (a) plain        bench-loadgen  -> serve (HTTP)              -> bench-upstream (HTTP)
#   (b) TLS listener bench-loadgen (TLS) -> serve ([[serve.tls.certificates]]) -> bench-upstream (HTTP)
#   (c) TLS upstream bench-loadgen  -> serve (HTTP, route to https://{host}) -> bench-upstream (TLS)
#   (d) both
# Certificates come from a CA made now (target/release/test-pki). First ROUNDS rounds of maximum
# throughput (closed loop), then ROUNDS rounds of latency at a fixed rate (open loop; default half
# of (a)'s median maximum), the four scenarios interleaved within each round; medians over the
# rounds, and the idle VmRSS of each gateway. A run is reported invalid if any answer is not 2xx,
# or (with LOG=file) if a gateway delivered anywhere but to its scenario's upstream.
#
#   tests/bench/tls.sh                        # ROUNDS=3 DURATION=5: about 3 minutes after the build
#   ROUNDS=1 DURATION=2 tests/bench/tls.sh    # a smoke run
#
# Settings (environment): ROUNDS (3), DURATION (measured seconds per run, 5), WARMUP (1),
# CONNECTIONS (32), LOADGEN_THREADS (1), RATE (the open-loop rate), LOG (`file` or `null`).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5}
WARMUP=${WARMUP:-1}
CONNECTIONS=${CONNECTIONS:-32}
LOADGEN_THREADS=${LOADGEN_THREADS:-1}
RATE=${RATE:-}
LOG=${LOG:-file}
bin=target/release
host=1234567890123456.cn-hangzhou.fnf.aliyuncs.com # the example request's Host

# shellcheck source=common.sh
source tests/bench/common.sh

begin

case $LOG in
file | null) ;;
*) die "LOG must be file or null, not $LOG" ;;
esac

step "a CA and certificates, two upstreams, four gateways"
"$bin/test-pki" "$work/pki" >/dev/null
pki=$work/pki
write_config "$work/taskgate.toml" # what sign_request checks its request with
"$bin/bench-upstream" 127.0.0.1:0 >"$work/up-plain.out" &
pids+=($!)
up_plain=$(address_in "$work/up-plain.out" "listening on" "$!")
"$bin/bench-upstream" 127.0.0.1:0 --tls-cert "$pki/vendors.pem" --tls-key "$pki/vendors.key" \
    >"$work/up-tls.out" &
pids+=($!)
up_tls=$(address_in "$work/up-tls.out" "listening on" "$!")

listener_tls="[[serve.tls.certificates]]
cert_file = \"$pki/vendors.pem\"
key_file = \"$pki/vendors.key\""
to_plain="upstream = \"http://$up_plain\""
# Through the route only: the default upstream is a closed port, so a request the route missed
# is answered 502 (and the run reported invalid) instead of quietly going elsewhere.
to_tls="upstream = \"http://127.0.0.1:1\"
[[serve.routes]]
host = \"$host\"
upstream = \"https://{host}\"
connect_to = \"$up_tls\"
ca_file = \"$pki/ca.pem\""
declare -A gateway pid_of
start_gateway() { # NAME SCHEME SERVE_EXTRA: SCHEME is what its listener must announce
    local name=$1 scheme=$2 log=/dev/null addr
    write_config "$work/$name.toml" "$3"
    if [ "$LOG" = file ]; then log=$work/$name.log; fi
    "$bin/taskgate" serve --config "$work/$name.toml" >"$work/$name.out" 2>"$log" &
    pids+=($!)
    pid_of[$name]=$!
    addr=$(address_in "$work/$name.out" "listening on" "$!")
    grep -q "^listening on $scheme://" "$work/$name.out" ||
        die "$name does not listen on $scheme: $(cat "$work/$name.out")"
    gateway[$name]=$scheme://$addr
}
start_gateway a-plain http "$to_plain"
start_gateway b-tls-listener https "$to_plain
$listener_tls"
start_gateway c-tls-upstream http "$to_tls"
start_gateway d-tls-both https "$to_tls
$listener_tls"
sleep 2
for name in a-plain b-tls-listener c-tls-upstream d-tls-both; do
    printf '%s idle VmRSS %s KiB\n' "$name" "$(rss_kib "${pid_of[$name]}" VmRSS)" >>"$work/rss.txt"
done

# load NAME ROUND [RATE]: one bounded run against gateway NAME; its JSON line to results.jsonl.
load() {
    local name=$1 round=$2 rate=${3:-} line
    local args=(--url "${gateway[$name]}" --request "$work/request.http"
        --connections "$CONNECTIONS" --duration "$DURATION" --warmup "$WARMUP"
        --threads "$LOADGEN_THREADS" --label "$name${rate:+-rate}-$round")
    case $name in b-* | d-*) args+=(--tls-ca "$pki/ca.pem" --sni "$host") ;; esac
    if [ -n "$rate" ]; then args+=(--rate "$rate"); fi
    sign_request
    step "round $round: $name${rate:+ at $rate req/s}"
    line=$(timeout $((WARMUP + DURATION + 30)) "$bin/bench-loadgen" "${args[@]}") ||
        die "the load generator failed for $name"
    printf '%s\n' "$line" >&2
    printf '%s\n' "$line" >>"$work/results.jsonl"
}

: >"$work/results.jsonl"
for round in $(seq "$ROUNDS"); do
    for name in a-plain b-tls-listener c-tls-upstream d-tls-both; do
        load "$name" "$round"
    done
done
if [ -z "$RATE" ]; then
    RATE=$(python3 -c 'import json, statistics, sys
runs = [json.loads(l) for l in open(sys.argv[1])]
print(max(1, int(statistics.median(r["throughput_rps"] for r in runs if r["label"].startswith("a-plain-")) / 2)))' \
        "$work/results.jsonl")
fi
for round in $(seq "$ROUNDS"); do
    for name in a-plain b-tls-listener c-tls-upstream d-tls-both; do
        load "$name" "$round" "$RATE"
    done
done

# Where each gateway delivered (its log): the plain upstream for (a) and (b), the TLS one for (c)
# and (d), nothing anywhere else.
: >"$work/destinations.txt"
if [ "$LOG" = file ]; then
    for name in a-plain b-tls-listener c-tls-upstream d-tls-both; do
        # Request lines only: the log also holds the gateway's own messages.
        counts=$(python3 -c 'import collections, json, sys
def lines(path):
    for line in open(path):
        try:
            yield json.loads(line)
        except ValueError:
            pass
print(json.dumps(collections.Counter(
    r.get("upstream") for r in lines(sys.argv[1]) if isinstance(r, dict) and "request_id" in r)))' \
            "$work/$name.log")
        printf '%s %s\n' "$name" "$counts" >>"$work/destinations.txt"
    done
fi

step "results"
export ROUNDS CONNECTIONS WARMUP DURATION RATE LOG host up_plain
python3 - "$work/results.jsonl" "$work/rss.txt" "$work/destinations.txt" <<'EOF'
import json, os, statistics, sys

env = os.environ
runs = [json.loads(l) for l in open(sys.argv[1])]
rss = dict(line.split(" idle VmRSS ") for line in open(sys.argv[2]).read().splitlines())
names = {"a-plain": "(a) plain", "b-tls-listener": "(b) TLS on the listener",
         "c-tls-upstream": "(c) TLS to the upstream", "d-tls-both": "(d) TLS both ways"}

def of(name, rated):
    prefix = f"{name}-rate-" if rated else f"{name}-"
    return [r for r in runs if r["label"].startswith(prefix) and (rated or "-rate-" not in r["label"])]

med = lambda rs, k: statistics.median(r[k] for r in rs)
base = med(of("a-plain", False), "throughput_rps")
print(f"{env['ROUNDS']} rounds interleaved, {env['CONNECTIONS']} keep-alive connections, "
      f"{env['WARMUP']} s warm-up + {env['DURATION']} s per run, open loop at {env['RATE']} req/s, "
      f"logs to {env['LOG']}; medians over the rounds.")
print()
print("| scenario | max req/s | vs (a) | p50 µs | p99 µs | p99 - (a) p99 | idle VmRSS |")
print("|---|---|---|---|---|---|---|")
p99_a = med(of("a-plain", True), "p99_us")
for name, label in names.items():
    m, r = of(name, False), of(name, True)
    tput = med(m, "throughput_rps")
    p99 = med(r, "p99_us")
    print(f"| {label} | {tput:.0f} | {tput / base:.2f} | {med(r, 'p50_us'):.0f} | {p99:.0f} "
          f"| {p99 - p99_a:+.0f} | {int(rss[name].split()[0]) / 1024:.1f} MiB |")
expected = {"a-plain": f"http://{env['up_plain']}", "b-tls-listener": f"http://{env['up_plain']}",
            "c-tls-upstream": f"https://{env['host']}", "d-tls-both": f"https://{env['host']}"}
delivered = [line.split(" ", 1) for line in open(sys.argv[3]).read().splitlines()]
if delivered:
    print()
for name, counts in delivered:
    counts = json.loads(counts)
    print(f"{names[name]} delivered to: "
          + ", ".join(f"{d} ({n})" for d, n in sorted(counts.items(), key=str)))
    if any(not str(d).startswith(expected[name]) for d in counts):
        print(f"WARNING: {names[name]} delivered elsewhere than {expected[name]}: "
              "its figures are not valid.")
        sys.exit(1)
bad = [r["label"] for r in runs if r["non_2xx"] or r["errors"] or r["unsent"]]
if bad:
    print(f"\nWARNING: non-2xx answers, transport errors or unsent requests in {', '.join(bad)}: "
          "those figures are not valid.")
    sys.exit(1)
EOF
