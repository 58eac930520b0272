# Shared by the load benchmarks (serve.sh, tls.sh): sourced after `set -euo pipefail`, with
# $bin (the release binaries) set by the caller; `begin` builds them and makes $work (a scratch
# directory) and $pids (processes to stop on exit).

step() { printf '\n==> %s\n' "$*" >&2; }
die() {
    printf '%s: %s\n' "$(basename "$0")" "$*" >&2
    exit 1
}

# Waits until FILE holds a line `PREFIX http://ADDR` (or `https://`) and prints ADDR.
address_in() {
    local file=$1 prefix=$2 pid=$3 i
    for i in $(seq 300); do
        if addr=$(sed -n -E "s#^$prefix https?://##p" "$file" 2>/dev/null) && [ -n "$addr" ]; then
            printf '%s\n' "$addr"
            return 0
        fi
        kill -0 "$pid" 2>/dev/null || die "process $pid exited before printing '$prefix'"
        sleep 0.1
    done
    die "no '$prefix' line after 30 s"
}

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# until_listening PORT PID NAME LOGS...: waits until something accepts on 127.0.0.1:PORT; dies
# with the LOGS if PID exits first.
until_listening() {
    local port=$1 pid=$2 name=$3 i
    shift 3
    for i in $(seq 600); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
        running "$pid" || die "$name exited: $(cat "$@" 2>/dev/null)"
        sleep 0.1
    done
    die "$name does not listen on $port after 60 s: $(cat "$@" 2>/dev/null)"
}

# debian_install PACKAGE...: installs the first of the Debian packages given that installs (as
# root or through sudo without a password); fails if none does.
debian_install() {
    local package as_root=()
    if [ "$(id -u)" != 0 ]; then as_root=(sudo -n); fi
    for package in "$@"; do
        DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -q "$package" >/dev/null &&
            return 0
    done
    return 1
}

# start_nginx UPSTREAM: the yardstick, what a user would put there instead: Debian's nginx
# (installed when missing, as root or through sudo without a password) as a plain proxy_pass to
# UPSTREAM, upstream keep-alive, one worker per CPU, a buffered access log. Sets $nginx (its
# address) and $nginx_pid, and adds it to $pids.
start_nginx() {
    local upstream=$1 nginx_bin nginx_port
    nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)
    if [ ! -x "$nginx_bin" ]; then
        step "install nginx (Debian's)"
        debian_install nginx-light nginx || die "nginx is not installed and could not be installed"
    fi
    nginx_port=$(free_port)
    mkdir -p "$work/nginx"
    cat >"$work/nginx.conf" <<NGINX
worker_processes $(nproc);
daemon off;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log warn;
events { worker_connections 4096; }
http {
    access_log $work/nginx/access.log combined buffer=64k flush=1s;
    client_body_temp_path $work/nginx/body;
    proxy_temp_path $work/nginx/proxy;
    fastcgi_temp_path $work/nginx/fastcgi;
    uwsgi_temp_path $work/nginx/uwsgi;
    scgi_temp_path $work/nginx/scgi;
    # Client and upstream connections are kept as long as the load runs (nginx closes them
    # after 1000 requests by default, which the load generator would count as errors).
    keepalive_requests 1000000;
    upstream engine {
        server $upstream;
        keepalive 64;
        keepalive_requests 1000000;
    }
    server {
        listen 127.0.0.1:$nginx_port;
        location / {
            proxy_pass http://engine;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host \$host;
        }
    }
}
NGINX
    "$nginx_bin" -p "$work/nginx" -c "$work/nginx.conf" 2>"$work/nginx/stderr.log" &
    nginx_pid=$!
    pids+=("$nginx_pid")
    until_listening "$nginx_port" "$nginx_pid" nginx "$work/nginx/stderr.log" "$work/nginx/error.log"
    nginx="127.0.0.1:$nginx_port"
}

rss_kib() { awk -v key="$2:" '$1 == key { print $2 }' "/proc/$1/status"; }

# True while a child runs (an exited child stays a zombie until it is waited for, and bash may
# reap it at any moment: a stat file that is gone means it has ended).
running() {
    local state
    state=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1) || return 1
    [ -n "$state" ] && [ "$state" != Z ]
}

# Stops a child with SIGTERM, waits up to 10 s for it to finish, then kills it.
stop() {
    local pid=$1 i
    kill -TERM "$pid" 2>/dev/null || return 0
    for i in $(seq 100); do
        running "$pid" || break
        sleep 0.1
    done
    if running "$pid"; then
        printf '%s: process %s ignored SIGTERM for 10 s: killing it\n' "$(basename "$0")" "$pid" >&2
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}

# write_config FILE [SERVE_EXTRA] [STORE]: the demo keys of examples/taskgate.toml; both
# listeners on free loopback ports; SERVE_EXTRA (TOML: keys, then [[serve.*]] tables) inside
# [serve]; STORE the body of [store], by default `kind = "none"`: the benchmarks send one signed
# request again and again, which a gateway that remembers would answer as a replay.
write_config() {
    local store=${3:-}
    [ -n "$store" ] || store='kind = "none"'
    cat >"$1" <<EOF
[store]
$store

[serve]
listen = "127.0.0.1:0"
admin_listen = "127.0.0.1:0"
${2:-}

[[access_keys]]
id = "LTAI5tDemoAccessKeyId"
secret = "demo-access-key-secret"
account = "1234567890123456"

[[token_keys]]
account = "1234567890123456"
secret = "demo-token-key"
EOF
}

# Writes a ReportTaskFailed signed now to $work/request.http (the Python SDK's RPC v1 layout and
# parameter set, as in examples/report-task-failed.http, with a fresh timestamp and signature:
# the test suite's own signer, `test-sign`), then has `taskgate check` accept it. Called before every run
# so that the signature stays inside the 15-minute window however long the runs are.
sign_request() {
    "$bin/test-sign" query-and-form "$work/request.http"
    "$bin/taskgate" check --config "$work/taskgate.toml" "$work/request.http" >"$work/check.json" ||
        die "taskgate check rejects the generated request: $(cat "$work/check.json")"
}


# Builds the binaries (unless TASKGATE_PREBUILT=1: the caller built them, as the test command
# does with its one workspace build), makes $work and stops every process in $pids on exit.
begin() {
    if [ "${TASKGATE_PREBUILT:-}" = 1 ]; then
        step "the binaries already built in $bin"
    else
        step "build"
        cargo build --release -p taskgate -p taskgate-tests --bins
    fi
    work=$(mktemp -d)
    pids=() # started here and not yet stopped
    trap cleanup EXIT
    trap 'exit 130' INT TERM
}

cleanup() {
    local pid
    for pid in "${pids[@]}"; do
        stop "$pid"
    done
    rm -rf "$work"
}

# CPU clock ticks (utime + stime) of the processes given.
ticks() {
    local pid total=0
    for pid in "$@"; do
        total=$((total + $(sed 's/^.*) //' "/proc/$pid/stat" | awk '{ print $12 + $13 }')))
    done
    echo "$total"
}
