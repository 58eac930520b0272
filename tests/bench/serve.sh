#!/usr/bin/env bash
# Load test of `taskgate serve` on loopback: throughput and latency of the proxy with the filter
# against the same proxy with the filter off (--no-filter) and against the upstream called
# directly, plus the proxy's resident memory.
#
#   tests/bench/serve.sh                 # DURATION=10: about 1.5 minutes after the build
#   DURATION=3 tests/bench/serve.sh      # a quick smoke run
#
# Scenarios, all sending the same freshly signed ReportTaskFailed (RPC v1, query + form body):
#   (a) direct   bench-loadgen -> bench-upstream
#   (n) nginx    bench-loadgen -> nginx (Debian's; installed if missing) -> bench-upstream:
#                the yardstick, what a user would put there instead (plain proxy_pass, upstream
#                keep-alive, one worker per CPU, buffered access log)
#   (b) no-filter bench-loadgen -> taskgate serve --no-filter -> bench-upstream
#   (c) filter   bench-loadgen -> taskgate serve             -> bench-upstream
# For each, interleaved in that order: maximum throughput (closed loop, CONNECTIONS
# connections), then latency at a constant rate of half nginx's maximum (open loop, latency
# counted from each request's due time).
# RSS is VmRSS of the filtering proxy: idle (IDLE_WAIT seconds after start, no request yet)
# and after the load, with VmHWM (its peak).
#
# Settings (environment): DURATION (measured seconds per run, default 10), WARMUP (unmeasured
# seconds before each run, default 1), CONNECTIONS (default 32), LOADGEN_THREADS (the load
# generator's runtime threads, default 1), IDLE_WAIT (default 3), RATE (open-loop rate; default
# half of (n)'s measured maximum), LOG (where the proxies' per-request log lines on stderr go:
# `file`, the default, as in service, or `null` for /dev/null), TASKGATE (the proxy binary, default
# the release build's: another build to compare with, in the same sitting).
#
# Targets: (b) >= 1.0 x (n) and (c) >= 0.7 x (n) in requests/s; the filter's proxy CPU per
# request (c) - (b) <= 25 µs; p99 (c) - p99 (n) <= 200 µs at the fixed rate; idle RSS <= 30 MiB.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

DURATION=${DURATION:-10}
WARMUP=${WARMUP:-1}
CONNECTIONS=${CONNECTIONS:-32}
LOADGEN_THREADS=${LOADGEN_THREADS:-1}
IDLE_WAIT=${IDLE_WAIT:-3}
RATE=${RATE:-}
LOG=${LOG:-file}
bin=target/release
TASKGATE=${TASKGATE:-$bin/taskgate}

# shellcheck source=common.sh
source tests/bench/common.sh

begin

write_config "$work/taskgate.toml"

# CPU time in clock ticks, for telling the proxy's cost from the machine's other work:
# busy time of the whole machine (steal counted: capacity lost to other guests), the waited-for
# children of this shell (the load generator), and each long-running process started here.
cpu_snapshot() {
    local pid
    awk '$1 == "cpu" { printf "%d", $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat
    # Fields after the command name: field 16/17 of stat are cutime/cstime, 14/15 utime/stime.
    sed 's/^.*) //' "/proc/$$/stat" | awk '{ printf " %d", $14 + $15 }'
    for pid in "$upstream_pid" "$nofilter_pid" "$filter_pid"; do
        printf ' %d' "$(ticks "$pid")"
    done
    echo
}

# load LABEL ADDR PROXY [RATE]: one bounded load run; PROXY is upstream, nofilter or filter (the
# process whose CPU time per request is reported). Appends its JSON line, with the CPU figures
# added, to results.jsonl.
load() {
    local label=$1 addr=$2 proxy=$3 rate=${4:-} line before after started ended
    local args=(--url "http://$addr" --request "$work/request.http" --connections "$CONNECTIONS"
        --duration "$DURATION" --warmup "$WARMUP" --threads "$LOADGEN_THREADS" --label "$label")
    if [ -n "$rate" ]; then args+=(--rate "$rate"); fi
    sign_request
    step "$label${rate:+ at $rate req/s} (${WARMUP}s warm-up + ${DURATION}s)"
    before=$(cpu_snapshot)
    started=$(date +%s.%N)
    # The hard bound on top of the load generator's own: warm-up + duration + timeout + slack.
    line=$(timeout $((WARMUP + DURATION + 30)) "$bin/bench-loadgen" "${args[@]}") ||
        die "the load generator failed for $label"
    ended=$(date +%s.%N)
    after=$(cpu_snapshot)
    line=$(python3 -c '
import json, os, sys
line, proxy, before, after, started, ended, tck = sys.argv[1:]
r = json.loads(line)
d = [b - a for a, b in zip(map(int, before.split()), map(int, after.split()))]
busy, loadgen, upstream, nofilter, filter_ = (t / int(tck) for t in d)
wall = float(ended) - float(started)
n = max(1, r["answers_total"])
us = lambda seconds: round(seconds * 1e6 / n, 1)
proc = {"upstream": upstream, "nofilter": nofilter, "filter": filter_}
# nginx is several processes (its workers are not children of this shell): not split out.
r["cpu_us_per_req"] = {"loadgen": us(loadgen), "upstream": us(upstream),
                       "proxy": us(proc[proxy]) if proxy in proc and proxy != "upstream" else None}
# Everything else the machine did meanwhile (other builds, the kernel threads, ...), as a share
# of all its CPUs: noise in this run.
others = busy - loadgen - upstream - nofilter - filter_
r["others_cpu_pct"] = round(100 * max(0.0, others) / (wall * os.cpu_count()), 1)
print(json.dumps(r, separators=(",", ":")))
' "$line" "$proxy" "$before" "$after" "$started" "$ended" "$(getconf CLK_TCK)")
    printf '%s\n' "$line" >&2
    printf '%s\n' "$line" >>"$work/results.jsonl"
}

step "start the upstream, nginx and both proxies"
sign_request
"$bin/bench-upstream" 127.0.0.1:0 >"$work/upstream.out" &
upstream_pid=$!
pids+=("$upstream_pid")
upstream=$(address_in "$work/upstream.out" "listening on" "$upstream_pid")

# Each proxy logs one JSON line per request on stderr: to a file, as it would be in service.
case $LOG in
file) nofilter_log=$work/nofilter.log filter_log=$work/filter.log ;;
null) nofilter_log=/dev/null filter_log=/dev/null ;;
*) die "LOG must be file or null, not $LOG" ;;
esac
"$TASKGATE" serve --config "$work/taskgate.toml" --upstream "http://$upstream" --no-filter \
    >"$work/nofilter.out" 2>"$nofilter_log" &
nofilter_pid=$!
pids+=("$nofilter_pid")
"$TASKGATE" serve --config "$work/taskgate.toml" --upstream "http://$upstream" \
    >"$work/filter.out" 2>"$filter_log" &
filter_pid=$!
pids+=("$filter_pid")
start_nginx "$upstream"
nofilter=$(address_in "$work/nofilter.out" "listening on" "$nofilter_pid")
filter=$(address_in "$work/filter.out" "listening on" "$filter_pid")
address_in "$work/filter.out" "admin on" "$filter_pid" >/dev/null

sleep "$IDLE_WAIT"
idle_rss=$(rss_kib "$filter_pid" VmRSS)
idle_rss_nofilter=$(rss_kib "$nofilter_pid" VmRSS)
printf 'idle VmRSS after %ss: filter %s KiB, no-filter %s KiB\n' "$IDLE_WAIT" "$idle_rss" \
    "$idle_rss_nofilter" >&2

: >"$work/results.jsonl"
load "a-direct-max" "$upstream" upstream
load "n-nginx-max" "$nginx" nginx
load "b-nofilter-max" "$nofilter" nofilter
load "c-filter-max" "$filter" filter
if [ -z "$RATE" ]; then
    RATE=$(python3 -c 'import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r["label"] == "n-nginx-max":
        print(max(1, int(r["throughput_rps"] / 2)))' "$work/results.jsonl")
fi
load "a-direct-rate" "$upstream" upstream "$RATE"
load "n-nginx-rate" "$nginx" nginx "$RATE"
load "b-nofilter-rate" "$nofilter" nofilter "$RATE"
load "c-filter-rate" "$filter" filter "$RATE"

load_rss=$(rss_kib "$filter_pid" VmRSS)
peak_rss=$(rss_kib "$filter_pid" VmHWM)
load_rss_nofilter=$(rss_kib "$nofilter_pid" VmRSS)
stop "$filter_pid"
stop "$nofilter_pid"
stop "$nginx_pid"
stop "$upstream_pid"
pids=()
if [ "$LOG" = file ]; then
    forwarded=$(grep -c '"code":"forwarded"' "$filter_log" || true)
else
    forwarded="(not logged)"
fi

step "results"
export LOG CONNECTIONS WARMUP DURATION RATE IDLE_WAIT idle_rss idle_rss_nofilter load_rss peak_rss \
    load_rss_nofilter forwarded
python3 - "$work/results.jsonl" <<'EOF'
import json, os, sys

env = os.environ
runs = {json.loads(l)["label"]: json.loads(l) for l in open(sys.argv[1])}
a, n, b, c = (runs[f"{s}-max"] for s in ("a-direct", "n-nginx", "b-nofilter", "c-filter"))
ar, nr, br, cr = (runs[f"{s}-rate"] for s in ("a-direct", "n-nginx", "b-nofilter", "c-filter"))
bad = [k for k, r in runs.items() if r["non_2xx"] or r["errors"] or r["unsent"]]
rate = env["RATE"]

def mib(name):
    return f"{int(env[name]) / 1024:.1f} MiB"

ratio = c["throughput_rps"] / b["throughput_rps"] if b["throughput_rps"] else 0.0
added_b = cr["p99_us"] - br["p99_us"]
added_n = cr["p99_us"] - nr["p99_us"]
vs_nginx = lambda m: m["throughput_rps"] / n["throughput_rps"] if n["throughput_rps"] else 0.0
added_a = cr["p99_us"] - ar["p99_us"]
idle = int(env["idle_rss"]) / 1024

print(f"taskgate serve on loopback: {os.cpu_count()} CPUs shared by load generator, proxy and "
      f"upstream (nothing pinned); {env['CONNECTIONS']} connections; {env['WARMUP']} s warm-up "
      f"+ {env['DURATION']} s per run; open-loop rate {rate} req/s; proxy logs to {env['LOG']}.")
print()
print("Closed loop (maximum throughput) and open loop at the fixed rate (latency in µs, from each")
print("request's due time). CPU µs/req: the proxy's own CPU time per request at maximum")
print("throughput. p99 from send: counted from the actual send, not the due time. Others: CPU")
print("share of everything else on the machine during the runs (max, rate): noise if not ~0.")
print()
print("| scenario | max req/s | vs nginx | proxy CPU µs/req | p50 | p90 | p99 | p99.9 | max "
      "| p99 from send | others |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
for name, m, r in (("(a) direct to upstream", a, ar), ("(n) nginx", n, nr),
                   ("(b) serve --no-filter", b, br), ("(c) serve (filter)", c, cr)):
    vs = vs_nginx(m)
    cpu = m["cpu_us_per_req"]["proxy"]
    print(f"| {name} | {m['throughput_rps']:.0f} | {vs:.2f} | {'—' if cpu is None else cpu} "
          f"| {r['p50_us']} | {r['p90_us']} | {r['p99_us']} | {r['p999_us']} | {r['max_us']} "
          f"| {r['sent_p99_us']} | {m['others_cpu_pct']} %, {r['others_cpu_pct']} % |")
print()
print("| measure | value | target | |")
print("|---|---|---|---|")
ok = lambda met: "ok" if met else "MISSED"
print(f"| throughput (b)/(n) | {vs_nginx(b):.2f} | >= 1.00 | {ok(vs_nginx(b) >= 1.0)} |")
print(f"| throughput (c)/(n) | {vs_nginx(c):.2f} | >= 0.70 | {ok(vs_nginx(c) >= 0.7)} |")
print(f"| added p99 (c)-(n) at {rate} req/s | {added_n} µs | <= 200 µs | {ok(added_n <= 200)} |")
print(f"| throughput (c)/(b) | {ratio:.2f} | | |")
print(f"| added p99 (c)-(b) at {rate} req/s | {added_b} µs | | |")
print(f"| added p99 (c)-(a) at {rate} req/s | {added_a} µs | | |")
print(f"| idle VmRSS (c), {env['IDLE_WAIT']} s after start | {mib('idle_rss')} | <= 30 MiB "
      f"| {ok(idle <= 30)} |")
print(f"| idle VmRSS (b) | {mib('idle_rss_nofilter')} | | |")
print(f"| VmRSS (c) after the load / peak (VmHWM) | {mib('load_rss')} / {mib('peak_rss')} | | |")
print(f"| VmRSS (b) after the load | {mib('load_rss_nofilter')} | | |")
filter_cpu = c['cpu_us_per_req']['proxy'] - b['cpu_us_per_req']['proxy']
print(f"| proxy CPU per request (c)-(b), max throughput | {filter_cpu:.1f} µs | <= 25 µs "
      f"| {ok(filter_cpu <= 25)} |")
print()
print(f"(c) forwarded {env['forwarded']} requests over all its runs (its log). Load generator's "
      "own send lag at the fixed rate, p99: "
      + ", ".join(f"{k[0]} {runs[k]['lag_p99_us']} µs"
                  for k in ("a-direct-rate", "n-nginx-rate", "b-nofilter-rate", "c-filter-rate"))
      + ".")
if bad:
    print(f"\nWARNING: non-2xx answers, transport errors or unsent requests in {', '.join(bad)}: "
          "those figures are not valid.")
    sys.exit(1)
EOF
