"""Shared pieces of the Python SDK end-to-end tests and of the fixture capture script.

* the SDK layouts: each sends one real `ReportTaskFailed` through a vendor SDK to a recorder;
* task tokens, built here independently of taskgate's own code;
* a minimal raw-HTTP parser (to check where each SDK put its parameters);
* config files and the `taskgate check` runner;
* `taskgate serve` as a child process, boto3 clients, and a transparent TCP tap.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import json
import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Callable, Sequence
from urllib.parse import unquote_to_bytes

SDK_DIR = Path(__file__).resolve().parents[1]
REPO_ROOT = SDK_DIR.parents[1]
sys.path.insert(0, str(SDK_DIR))

from recorder import EVENT_ID, Recorder  # noqa: E402  (re-exported for the tests)

__all__ = ["EVENT_ID", "Recorder"]

ACCESS_KEY_ID = "LTAItestkey"
ACCESS_KEY_SECRET = "test-secret"
WRONG_SECRET = "not-the-test-secret"
ACCOUNT = "1234567890123456"
TOKEN_KEY = "token-key-one"

# Values that exercise the encoders: space, `+`, `*`, `~`, `%`, `&`, `=`, `/`, non-ASCII, emoji.
ERROR = "Worker.Crashed (exit 1+1)"
CAUSE = "Disk full: 50% used + 2*3 ~ retry café 🚀 a/b=c&d"

# The fixed token of the golden fixtures.
FIXTURE_EXECUTION_ID = "2b0c6a4e-8f5e-4d1a-9c3b-7e6f5a4d3c2b"
FIXTURE_EVENT_ID = 42

# Drop any proxy settings: every request of these tests goes to 127.0.0.1 only.
for _name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
    os.environ.pop(_name, None)
os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"


# ---------------------------------------------------------------------------------------------
# task tokens


def make_task_token(execution_id: str, event_id: int, key: str = TOKEN_KEY) -> str:
    """Base64 of `v1#a#<uuid>#<event id>#<Base64 HMAC-SHA1(key, "v1#a#<uuid>#<event id>")>`."""
    body = f"v1#a#{execution_id}#{event_id}"
    mac = base64.b64encode(hmac.new(key.encode(), body.encode(), hashlib.sha1).digest()).decode()
    return base64.b64encode(f"{body}#{mac}".encode("ascii")).decode("ascii")


# ---------------------------------------------------------------------------------------------
# raw HTTP


@dataclasses.dataclass
class RawRequest:
    method: str
    path: str
    raw_query: str
    headers: list[tuple[str, str]]  # names lower-cased, in order
    body: bytes  # de-chunked
    chunked: bool

    def header(self, name: str) -> str | None:
        for k, v in self.headers:
            if k == name:
                return v
        return None

    @property
    def query(self) -> dict[str, str]:
        return dict(form_decode(self.raw_query.encode("latin-1")))

    @property
    def form(self) -> dict[str, str]:
        if "x-www-form-urlencoded" not in (self.header("content-type") or ""):
            return {}
        return dict(form_decode(self.body))


def form_decode(data: bytes) -> list[tuple[str, str]]:
    """`application/x-www-form-urlencoded` decoding: `+` -> space, then `%XX`, then UTF-8."""

    def dec(x: bytes) -> str:
        return unquote_to_bytes(x.replace(b"+", b" ")).decode("utf-8")

    pairs = []
    for part in data.split(b"&"):
        if part:
            k, _, v = part.partition(b"=")
            pairs.append((dec(k), dec(v)))
    return pairs


def parse_raw(raw: bytes) -> RawRequest:
    head, sep, rest = raw.partition(b"\r\n\r\n")
    assert sep, "no end of headers"
    lines = head.split(b"\r\n")
    method, target, version = lines[0].decode("latin-1").split(" ")
    assert version == "HTTP/1.1", version
    headers = []
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        headers.append((name.decode("latin-1").strip().lower(), value.decode("latin-1").strip()))
    hmap = dict(headers)
    chunked = "chunked" in hmap.get("transfer-encoding", "").lower()
    if chunked:
        body = b""
        while True:
            size_line, _, rest = rest.partition(b"\r\n")
            size = int(size_line.split(b";")[0], 16)
            if size == 0:
                break
            body += rest[:size]
            assert rest[size : size + 2] == b"\r\n"
            rest = rest[size + 2 :]
    else:
        length = int(hmap.get("content-length", "0"))
        body = rest[:length]
        assert len(body) == length and len(rest) == length, "body length differs from Content-Length"
    path, _, raw_query = target.partition("?")
    return RawRequest(method, path, raw_query, headers, body, chunked)


def request_time(raw: bytes) -> str:
    """The request's own time: `Timestamp` (RPC v1) or `x-acs-date` (ACS3), RFC 3339 UTC."""
    req = parse_raw(raw)
    ts = req.query.get("Timestamp") or req.form.get("Timestamp") or req.header("x-acs-date")
    assert ts and ts.endswith("Z"), ts
    return ts


# ---------------------------------------------------------------------------------------------
# the SDK layouts


@dataclasses.dataclass
class SdkResult:
    event_id: object
    request_id: object


@dataclasses.dataclass(frozen=True)
class Layout:
    name: str  # also the fixture file name
    package: str  # distribution whose version names the SDK
    description: str
    send: Callable[[str, str, str, str], SdkResult]  # (endpoint host:port, token, error, cause)

    @property
    def sdk(self) -> str:
        return f"{self.package}@{metadata.version(self.package)}"


def _tea_client(endpoint: str, acs3: bool):
    from alibabacloud_fnf20190315.client import Client
    from alibabacloud_tea_openapi import models as open_api_models

    config = open_api_models.Config(
        access_key_id=ACCESS_KEY_ID,
        access_key_secret=ACCESS_KEY_SECRET,
        endpoint=endpoint,
        protocol="http",
        region_id="cn-hangzhou",
    )
    client = Client(config)
    if acs3:
        # The generated fnf client pins `_signature_algorithm = 'v2'` (RPC v1) in its constructor,
        # over whatever Config said. Any other value routes the call through tea-openapi's
        # `do_request`, which signs with the algorithm named here (None also means ACS3).
        client._signature_algorithm = "ACS3-HMAC-SHA256"
    return client


def _send_tea(endpoint: str, token: str, error: str, cause: str, acs3: bool) -> SdkResult:
    from alibabacloud_fnf20190315 import models as fnf_models

    client = _tea_client(endpoint, acs3)
    resp = client.report_task_failed(
        fnf_models.ReportTaskFailedRequest(task_token=token, error=error, cause=cause)
    )
    assert resp.status_code == 200
    return SdkResult(resp.body.event_id, resp.body.request_id)


def send_tea_rpc(endpoint: str, token: str, error: str, cause: str) -> SdkResult:
    return _send_tea(endpoint, token, error, cause, acs3=False)


def send_tea_acs3(endpoint: str, token: str, error: str, cause: str) -> SdkResult:
    return _send_tea(endpoint, token, error, cause, acs3=True)


def send_legacy(endpoint: str, token: str, error: str, cause: str) -> SdkResult:
    from aliyunsdkcore.client import AcsClient
    from aliyunsdkfnf.request.v20190315.ReportTaskFailedRequest import ReportTaskFailedRequest

    client = AcsClient(ACCESS_KEY_ID, ACCESS_KEY_SECRET, "cn-hangzhou", auto_retry=False)
    req = ReportTaskFailedRequest()
    req.set_endpoint(endpoint)
    req.set_protocol_type("http")
    req.set_TaskToken(token)
    req.set_Error(error)
    req.set_Cause(cause)
    body = json.loads(client.do_action_with_exception(req))
    return SdkResult(body.get("EventId"), body.get("RequestId"))


LAYOUTS = [
    Layout(
        "python-tea-rpc",
        "alibabacloud-fnf20190315",
        "tea client, default RPC v1 HMAC-SHA1: common params + TaskToken in query, Error/Cause form body",
        send_tea_rpc,
    ),
    Layout(
        "python-tea-acs3",
        "alibabacloud-fnf20190315",
        "tea client switched to ACS3-HMAC-SHA256: TaskToken in query, Error/Cause form body, x-acs-* headers",
        send_tea_acs3,
    ),
    Layout(
        "python-legacy-rpc",
        "aliyun-python-sdk-fnf",
        "aliyun-python-sdk-core RpcRequest, RPC v1: params in query (RegionId, empty SignatureType), Error/Cause form body, Content-MD5",
        send_legacy,
    ),
]


def package_versions() -> dict[str, str]:
    names = [
        "alibabacloud-fnf20190315",
        "alibabacloud-tea-openapi",
        "aliyun-python-sdk-core",
        "aliyun-python-sdk-fnf",
    ]
    return {n: metadata.version(n) for n in names}


# ---------------------------------------------------------------------------------------------
# taskgate


def config_toml(
    secret: str = ACCESS_KEY_SECRET,
    *,
    extra_access_keys: Sequence[tuple[str, str, str]] = (),
    max_body_bytes: int = 65536,
) -> str:
    """The test configuration: the Alibaba test key and token key, and `extra_access_keys`
    (`(id, secret, account)` each, e.g. the AWS key of `AWS_ACCESS_KEYS`) after it."""
    extra = "".join(
        f"\n[[access_keys]]\nid = {_toml_string(kid)}\nsecret = {_toml_string(ksecret)}\naccount = {_toml_string(kaccount)}\n"
        for kid, ksecret, kaccount in extra_access_keys
    )
    return f"""[limits]
max_body_bytes = {int(max_body_bytes)}
max_clock_skew_seconds = 900

[[access_keys]]
id = "{ACCESS_KEY_ID}"
secret = "{secret}"
account = "{ACCOUNT}"
{extra}
[[token_keys]]
account = "{ACCOUNT}"
secret = "{TOKEN_KEY}"
"""


def taskgate_bin() -> str:
    env = os.environ.get("TASKGATE_BIN")
    return env if env else str(REPO_ROOT / "target" / "release" / "taskgate")


def make_pki(out: Path) -> Path:
    """Certificates made now by the release build's `test-pki` into `out`: ca.pem (the test CA),
    vendors.pem/.key (the vendors' names, localhost, 127.0.0.1), wrong-name.pem/.key,
    untrusted.pem/.key (from a CA nobody trusts)."""
    binary = Path(taskgate_bin()).with_name("test-pki")
    subprocess.run([str(binary), str(out)], check=True, capture_output=True, timeout=60)
    return out


@dataclasses.dataclass
class CheckResult:
    exit_code: int
    output: dict
    stdout: str
    stderr: str


def taskgate_check(config_path: Path, request_path: Path) -> CheckResult:
    binary = taskgate_bin()
    if not os.path.isfile(binary):
        raise AssertionError(f"taskgate binary not found at {binary!r}: build it or set TASKGATE_BIN")
    proc = subprocess.run(
        [binary, "check", "--config", str(config_path), str(request_path)],
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )
    try:
        output = json.loads(proc.stdout)
    except json.JSONDecodeError as exc:
        raise AssertionError(
            f"taskgate printed no JSON (exit {proc.returncode}): stdout={proc.stdout!r} stderr={proc.stderr!r}"
        ) from exc
    return CheckResult(proc.returncode, output, proc.stdout, proc.stderr)


# ---------------------------------------------------------------------------------------------
# `taskgate serve` (used by test_serve.py; everything above is unchanged)

import contextlib  # noqa: E402
import queue  # noqa: E402
import re  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402

SERVE_STARTUP_SECONDS = 20
SERVE_STOP_SECONDS = 20
SERVE_UPSTREAM_TIMEOUT_MS = 2000

# The marker the test-faults build of the component traps on when it sees it in a body.
TRAP_MARKER = "taskgate-test-trap"

FAULTS_COMPONENT_ENV = "TASKGATE_FAULTS_COMPONENT"
FAULTS_COMPONENT_TARGET_DIR = "target/component-build-faults"
# `--profile component` already implies an optimised build (cargo refuses it together with --release).
FAULTS_COMPONENT_BUILD = [
    "cargo", "build", "-p", "taskgate-filter", "--features", "test-faults",
    "--target", "wasm32-wasip2", "--profile", "component", "--target-dir", FAULTS_COMPONENT_TARGET_DIR,
]
FAULTS_COMPONENT_OUTPUT = f"{FAULTS_COMPONENT_TARGET_DIR}/wasm32-wasip2/component/taskgate_filter.wasm"

_faults_component_lock = threading.Lock()
_faults_component_path: Path | None = None


def _toml_string(value: str) -> str:
    # A JSON string is a valid TOML basic string once DEL is escaped too.
    return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")


def serve_config_toml(
    secret: str = ACCESS_KEY_SECRET,
    *,
    upstream: str | None = None,
    sink_path: Path | str | None = None,
    upstream_timeout_ms: int = SERVE_UPSTREAM_TIMEOUT_MS,
    upstreams: dict[str, str] | None = None,
    extra_access_keys: Sequence[tuple[str, str, str]] = (),
    max_body_bytes: int = 65536,
    extra: str = "",
    store: str = 'kind = "none"',
    before: str = "",
) -> str:
    """`config_toml(secret, ...)` plus a `[serve]` table on 127.0.0.1 port 0 (admin too).

    `store` is the body of the `[store]` table. These suites send one task token many times to
    see each call forwarded, so by default the gateway remembers nothing; the memory tests pass
    their own store. `before` is raw TOML (tables such as `[throttle]`) ahead of `[store]`.

    `extra` is raw TOML appended inside `[serve]` (keys such as `other_calls = "reject"` first,
    then tables such as `[[serve.routes]]` and `[[serve.tls.certificates]]`).

    `upstream` (`http://127.0.0.1:PORT`) selects forward mode; without it serve runs its sink.
    `upstreams` (dialect -> URL: `fnf`, `states`, `swf`, `codepipeline`) is the `[serve.upstreams]`
    table, which overrides `upstream` per dialect.
    """
    lines = [
        "[serve]",
        'listen = "127.0.0.1:0"',
        'admin_listen = "127.0.0.1:0"',
    ]
    if upstream is not None:
        lines.append(f"upstream = {_toml_string(upstream)}")
    lines.append(f"upstream_timeout_ms = {int(upstream_timeout_ms)}")
    if sink_path is not None:
        lines.append(f"sink_path = {_toml_string(str(sink_path))}")
    if extra:
        lines.append(extra.rstrip("\n"))
    if upstreams:
        lines += ["", "[serve.upstreams]"]
        lines += [f"{dialect} = {_toml_string(url)}" for dialect, url in upstreams.items()]
    base = config_toml(secret, extra_access_keys=extra_access_keys, max_body_bytes=max_body_bytes)
    memory = f"{before.rstrip()}\n[store]\n{store.rstrip()}\n"
    return base + "\n" + memory + "\n" + "\n".join(lines) + "\n"


def recorders_config(path: Path, fnf: "Recorder", aws: "Recorder", **kwargs) -> Path:
    """Writes to `path` a `serve_config_toml` (with the AWS test key) that forwards Alibaba
    calls to the `fnf` recorder and every AWS dialect to the `aws` one; `kwargs` go to
    `serve_config_toml` (`store`, `before`, `extra`, ...). Returns `path`."""
    upstreams = {"fnf": f"http://{fnf.endpoint}"}
    upstreams.update({dialect: f"http://{aws.endpoint}" for dialect in ("states", "swf", "codepipeline")})
    path.write_text(
        serve_config_toml(upstreams=upstreams, extra_access_keys=AWS_ACCESS_KEYS, **kwargs), encoding="utf-8"
    )
    return path


def send_raw(endpoint: str, raw: bytes) -> tuple[int, bytes]:
    """Writes `raw` (one whole HTTP/1.1 request) on a new connection and reads the answer: its
    status and body."""
    import http.client

    host, port = endpoint.split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(raw)
        answer = http.client.HTTPResponse(sock)
        answer.begin()
        return answer.status, answer.read()


_LISTENING = re.compile(r"^listening on (https?)://(127\.0\.0\.1:(\d+))$")
_ADMIN = re.compile(r"^admin on http://(127\.0\.0\.1:(\d+))$")


class Serve:
    """A `taskgate serve --config CONFIG [--component PATH]` child process.

    `start()` waits (at most `startup_timeout` seconds) for the two stdout lines
    `listening on http://127.0.0.1:PORT` and `admin on http://127.0.0.1:PORT`, and kills the
    process if they do not come. Its stderr (one JSON log line per request) goes to a file.

    As a context manager it stops the process with SIGTERM on exit and, when the block raised
    nothing, asserts exit code 0; when the block raised, it only makes sure the process is gone.
    """

    def __init__(
        self,
        config_path: Path,
        *,
        workdir: Path,
        component: Path | None = None,
        startup_timeout: float = SERVE_STARTUP_SECONDS,
    ) -> None:
        self.config_path = Path(config_path)
        self.component = component
        self.startup_timeout = startup_timeout
        self.stderr_path = Path(workdir) / f"serve-{_unique_suffix()}.stderr"
        self.stdout_lines: list[str] = []
        self.proc: subprocess.Popen | None = None
        self.endpoint = ""  # "127.0.0.1:PORT", no scheme (what the SDKs take)
        self.scheme = "http"  # "https" with TLS on the listener
        self.port = 0
        self.admin_endpoint = ""
        self.exit_code: int | None = None
        self._lines: queue.Queue = queue.Queue()

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.endpoint}"

    def reload(self) -> None:
        """Sends SIGHUP (re-read the configuration)."""
        assert self.proc is not None, "not started"
        self.proc.send_signal(signal.SIGHUP)

    def metrics(self) -> str:
        """The admin listener's /metrics text."""
        import urllib.request

        with urllib.request.urlopen(f"{self.admin_url}/metrics", timeout=10) as response:
            return response.read().decode("utf-8")

    def wait_for_metric(self, line: str, timeout: float = 10.0) -> None:
        """Waits until /metrics holds `line` (e.g. `taskgate_reloads_total 1`)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if line in self.metrics().splitlines():
                return
            time.sleep(0.05)
        raise AssertionError(f"/metrics never held {line!r}\n" + self._diagnostics())

    @property
    def admin_url(self) -> str:
        return f"http://{self.admin_endpoint}"

    def stderr_text(self) -> str:
        try:
            return self.stderr_path.read_bytes().decode("utf-8", "replace")
        except OSError:
            return ""

    def log_lines(self) -> list[dict]:
        """The stderr lines that are JSON objects."""
        out = []
        for line in self.stderr_text().splitlines():
            try:
                obj = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(obj, dict):
                out.append(obj)
        return out

    def wait_for_log_lines(self, count: int, where=lambda line: "total_us" in line, timeout: float = 10.0) -> list[dict]:
        """The log lines matching `where` (by default the per-request lines), once there are at least
        `count` of them: the gateway writes a request's line after its answer, so a test that reads
        the log right after its call must wait for the line."""
        deadline = time.monotonic() + timeout
        while True:
            lines = [line for line in self.log_lines() if where(line)]
            if len(lines) >= count:
                return lines
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(lines)} matching log lines, expected {count}\n" + self._diagnostics())
            time.sleep(0.05)

    def _diagnostics(self) -> str:
        tail = self.stderr_text()[-4000:]
        return f"stdout so far: {self.stdout_lines!r}\nstderr (tail):\n{tail}"

    def _pump(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        try:
            for raw in self.proc.stdout:
                line = raw.decode("utf-8", "replace").rstrip("\r\n")
                self.stdout_lines.append(line)
                self._lines.put(line)
        except (OSError, ValueError):
            pass
        self._lines.put(None)

    def _next_line(self, deadline: float, what: str) -> str:
        remaining = deadline - time.monotonic()
        try:
            if remaining <= 0:
                raise queue.Empty
            line = self._lines.get(timeout=remaining)
        except queue.Empty:
            raise AssertionError(
                f"taskgate serve printed no {what!r} line within {self.startup_timeout:g} s\n"
                + self._diagnostics()
            ) from None
        if line is None:
            assert self.proc is not None
            try:
                code = self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                code = "still running, stdout closed"
            raise AssertionError(
                f"taskgate serve (exit {code}) ended its stdout before the {what!r} line\n"
                + self._diagnostics()
            )
        return line

    def start(self) -> "Serve":
        binary = taskgate_bin()
        if not os.path.isfile(binary):
            raise AssertionError(f"taskgate binary not found at {binary!r}: build it or set TASKGATE_BIN")
        args = [binary, "serve", "--config", str(self.config_path)]
        if self.component is not None:
            args += ["--component", str(self.component)]
        with open(self.stderr_path, "ab") as err:
            self.proc = subprocess.Popen(
                args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err
            )
        threading.Thread(target=self._pump, daemon=True).start()
        deadline = time.monotonic() + self.startup_timeout
        try:
            first = self._next_line(deadline, "listening on http://127.0.0.1:PORT")
            m = _LISTENING.match(first)
            if not m:
                raise AssertionError(
                    f"first stdout line is not 'listening on http://127.0.0.1:PORT': {first!r}\n" + self._diagnostics()
                )
            self.scheme, self.endpoint, self.port = m.group(1), m.group(2), int(m.group(3))
            second = self._next_line(deadline, "admin on http://127.0.0.1:PORT")
            m = _ADMIN.match(second)
            if not m:
                raise AssertionError(
                    f"second stdout line is not 'admin on http://127.0.0.1:PORT': {second!r}\n" + self._diagnostics()
                )
            self.admin_endpoint = m.group(1)
            if self.port == 0 or self.admin_endpoint.endswith(":0"):
                raise AssertionError(f"serve printed port 0: {self.stdout_lines!r}")
        except BaseException:
            self.kill()
            raise
        return self

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self.proc is not None:
            self.exit_code = self.proc.returncode

    def stop(self, timeout: float = SERVE_STOP_SECONDS) -> int:
        """SIGTERM, then wait; kills it and raises if it has not exited within `timeout` s."""
        assert self.proc is not None, "not started"
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.exit_code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(
                f"taskgate serve did not exit within {timeout:g} s of SIGTERM (killed)\n" + self._diagnostics()
            ) from None
        return self.exit_code

    def assert_stopped_cleanly(self) -> None:
        code = self.stop()
        assert code == 0, f"taskgate serve exited with {code} after SIGTERM, not 0\n" + self._diagnostics()

    def __enter__(self) -> "Serve":
        return self.start()

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.assert_stopped_cleanly()
        else:
            try:
                self.stop()
            except AssertionError:
                pass


def _unique_suffix() -> str:
    return os.urandom(8).hex()


@contextlib.contextmanager
def refused_port():
    """A 127.0.0.1 port that refuses connections: bound (so nobody else takes it), never listening."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]
    finally:
        sock.close()


def faults_component() -> Path:
    """The test-faults build of the component: `$TASKGATE_FAULTS_COMPONENT`, else built here."""
    global _faults_component_path
    env = os.environ.get(FAULTS_COMPONENT_ENV)
    if env:
        path = Path(env)
        if not path.is_file():
            raise AssertionError(f"{FAULTS_COMPONENT_ENV}={env!r} is not a file")
        return path
    with _faults_component_lock:
        if _faults_component_path is None:
            proc = subprocess.run(
                FAULTS_COMPONENT_BUILD,
                cwd=REPO_ROOT,
                capture_output=True,
                text=True,
                timeout=1800,
                stdin=subprocess.DEVNULL,
            )
            if proc.returncode != 0:
                raise AssertionError(
                    f"building the test-faults component failed (exit {proc.returncode}): "
                    f"{' '.join(FAULTS_COMPONENT_BUILD)}\n{proc.stderr[-4000:]}"
                )
            path = REPO_ROOT / FAULTS_COMPONENT_OUTPUT
            if not path.is_file():
                raise AssertionError(f"the test-faults build did not produce {FAULTS_COMPONENT_OUTPUT}")
            _faults_component_path = path
        return _faults_component_path


def send_with_secret(layout: Layout, secret: str, endpoint: str, token: str, error: str, cause: str) -> SdkResult:
    """`layout.send`, with the SDK client signing with `secret` instead of ACCESS_KEY_SECRET.

    The layouts read the module's ACCESS_KEY_SECRET when they build their client, so it is swapped
    for the duration of the call (the tests call SDKs one at a time).
    """
    global ACCESS_KEY_SECRET
    saved = ACCESS_KEY_SECRET
    ACCESS_KEY_SECRET = secret
    try:
        return layout.send(endpoint, token, error, cause)
    finally:
        ACCESS_KEY_SECRET = saved


def sdk_error_classes() -> tuple[type[BaseException], ...]:
    """The exceptions the SDKs raise for an error answer: tea's TeaException, legacy ServerException."""
    from aliyunsdkcore.acs_exception.exceptions import ClientException, ServerException
    from Tea.exceptions import TeaException

    return (TeaException, ServerException, ClientException)


def sdk_error_code(exc: BaseException) -> str | None:
    """The error code an SDK exception carries (`TeaException.code`, `get_error_code()`)."""
    from aliyunsdkcore.acs_exception.exceptions import ClientException, ServerException
    from Tea.exceptions import TeaException

    if isinstance(exc, TeaException):
        return exc.code
    if isinstance(exc, (ServerException, ClientException)):
        return exc.get_error_code()
    return None


def sdk_error_message(exc: BaseException) -> str | None:
    """The `Message` of an Alibaba error answer, as each SDK keeps it."""
    data = getattr(exc, "data", None)
    if isinstance(data, dict):
        return data.get("Message")
    get = getattr(exc, "get_error_msg", None)
    return get() if get else None


def sdk_error_status(exc: BaseException) -> int | None:
    """The HTTP status of an Alibaba error answer (`TeaException.statusCode`, `get_http_status()`)."""
    get = getattr(exc, "get_http_status", None)
    return get() if get else getattr(exc, "statusCode", None)


def expect_sdk_error(send: Callable[[], object]) -> BaseException:
    """Runs `send()`, which must raise one of the SDK error classes; returns that exception."""
    try:
        result = send()
    except sdk_error_classes() as exc:
        return exc
    raise AssertionError(f"the SDK call succeeded ({result!r}) where an error answer was expected")


def read_sink(path: Path) -> list[dict]:
    """The sink file's lines, each parsed as one JSON object (missing file: no lines)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    # Lines end with "\n" only: str.splitlines() would also cut at a U+2028 or U+0085 that a
    # recorded cause holds unescaped (valid JSON).
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    out = []
    for i, line in enumerate(lines):
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise AssertionError(f"sink line {i + 1} is not JSON: {line!r}") from exc
    return out


def request_lines(serve: Serve) -> list[dict]:
    """The gateway's per-request log lines so far."""
    return [line for line in serve.log_lines() if "total_us" in line]


@dataclasses.dataclass
class Pair:
    """An edge `taskgate serve` forwarding to a second one, the "service", which records what it
    accepts in its sink file `sink`."""

    edge: Serve
    service: Serve
    sink: Path

    def counts(self) -> tuple[int, int, int]:
        return len(read_sink(self.sink)), len(request_lines(self.edge)), len(request_lines(self.service))

    def one_more(self, before: tuple[int, int, int], timeout: float = 10.0) -> tuple[dict, dict, dict]:
        """After one call: the service's new sink line, the edge's and the service's new log lines."""
        deadline = time.monotonic() + timeout
        while True:
            sink, edge, service = read_sink(self.sink), request_lines(self.edge), request_lines(self.service)
            now = (len(sink), len(edge), len(service))
            if now == tuple(n + 1 for n in before):
                return sink[-1], edge[-1], service[-1]
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"(sink lines, edge log lines, service log lines) went from {before} to {now}, not one more each\n"
                    f"edge:\n{self.edge.stderr_text()[-3000:]}\nservice:\n{self.service.stderr_text()[-3000:]}"
                )
            time.sleep(0.05)


# ---------------------------------------------------------------------------------------------
# the AWS dialects (used by test_aws_serve.py): boto3 clients pointed at 127.0.0.1

# AWS's documentation key: taskgate's demo configuration carries it too.
AWS_ACCESS_KEY_ID = "AKIDEXAMPLE"
AWS_SECRET_ACCESS_KEY = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
AWS_ACCOUNT = "123456789012"
AWS_REGION = "us-east-1"
AWS_ACCESS_KEYS = [(AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_ACCOUNT)]
# boto3 escapes every non-ASCII character in JSON (`\ud83d\ude00`: 12 bytes an emoji), so a cause
# of 32769 emoji is a body of about 393 KB: the AWS tests raise the 64 KiB default limit.
AWS_MAX_BODY_BYTES = 512 * 1024


@dataclasses.dataclass(frozen=True)
class AwsCall:
    """One of the three AWS "task failed" calls, as taskgate's contract names it."""

    service: str  # boto3 client name
    dialect: str  # taskgate's dialect name (config keys, sink, logs)
    operation: str  # the model's operation name
    method: str  # the boto3 client method
    target: str  # X-Amz-Target
    content_type: str
    signing_name: str  # SigV4 credential scope service


AWS_CALLS = [
    AwsCall("stepfunctions", "states", "SendTaskFailure", "send_task_failure",
            "AWSStepFunctions.SendTaskFailure", "application/x-amz-json-1.0", "states"),
    AwsCall("swf", "swf", "RespondActivityTaskFailed", "respond_activity_task_failed",
            "SimpleWorkflowService.RespondActivityTaskFailed", "application/x-amz-json-1.0", "swf"),
    AwsCall("codepipeline", "codepipeline", "PutJobFailureResult", "put_job_failure_result",
            "CodePipeline_20150709.PutJobFailureResult", "application/x-amz-json-1.1", "codepipeline"),
]
AWS_CALL_BY_SERVICE = {call.service: call for call in AWS_CALLS}


@dataclasses.dataclass
class SentRequest:
    """What botocore handed to its HTTP layer, after signing (a `before-send` event)."""

    method: str
    url: str
    headers: list[tuple[str, str]]  # names lower-cased
    body: bytes

    def header(self, name: str) -> str | None:
        for k, v in self.headers:
            if k == name:
                return v
        return None


def aws_client(
    service: str,
    endpoint: str,
    *,
    key_id: str = AWS_ACCESS_KEY_ID,
    secret: str = AWS_SECRET_ACCESS_KEY,
    attempts: int = 1,
    session_token: str | None = None,
):
    """A boto3 client for `service` at `http://<endpoint>` and the list its sent requests go to.

    `attempts` is the total number of attempts (`retries.total_max_attempts`): 1, the default,
    means no retry, so a 500 comes back at once. (`retries={'max_attempts': 1}` would still allow
    one retry: botocore counts `max_attempts` as retries.) `session_token` makes the credentials
    temporary ones: boto3 then sends and signs `X-Amz-Security-Token`.
    """
    import boto3
    from botocore.config import Config

    session = boto3.session.Session(
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
        aws_session_token=session_token,
        region_name=AWS_REGION,
    )
    client = session.client(
        service,
        endpoint_url=f"http://{endpoint}",
        config=Config(
            retries={"total_max_attempts": attempts, "mode": "standard"},
            connect_timeout=10,
            read_timeout=30,
        ),
    )
    sent: list[SentRequest] = []

    def record(request, **_kwargs):
        body = request.body
        if body is None:
            body = b""
        elif isinstance(body, str):
            body = body.encode("utf-8")
        elif not isinstance(body, (bytes, bytearray)):
            raise AssertionError(f"botocore sent a streaming body ({type(body)!r}): not expected here")
        headers = [(str(k).lower(), v.decode("latin-1") if isinstance(v, bytes) else str(v))
                   for k, v in request.headers.items()]
        sent.append(SentRequest(request.method, request.url, headers, bytes(body)))

    client.meta.events.register("before-send", record)
    return client, sent


def signed_headers(authorization: str) -> list[str]:
    """The `SignedHeaders=` names of an AWS4-HMAC-SHA256 Authorization header."""
    m = re.search(r"SignedHeaders=([^,\s]+)", authorization)
    assert m, f"no SignedHeaders in {authorization!r}"
    return m.group(1).split(";")


def credential_scope(authorization: str) -> list[str]:
    """`[key id, yyyymmdd, region, service, 'aws4_request']` of an Authorization header."""
    m = re.search(r"Credential=([^,\s]+)", authorization)
    assert m, f"no Credential in {authorization!r}"
    return m.group(1).split("/")


# ---------------------------------------------------------------------------------------------
# a transparent TCP tap (used by test_deploy.py and test_callbacks.py): the bytes an SDK wrote,
# against the bytes the upstream got

# Headers that describe one hop (RFC 9110 7.6.1), the proxy's own credentials included: a proxy
# drops them, and any header the Connection header names.
PROXY_HOP_BY_HOP = {
    "connection", "keep-alive", "proxy-connection", "proxy-authenticate", "proxy-authorization",
    "te", "trailer", "transfer-encoding",
}


class Tap:
    """A transparent TCP relay on 127.0.0.1 in front of `port`: keeps every byte clients send
    through it (per connection, in order) before passing it on; answers flow back untouched."""

    def __init__(self, port: int) -> None:
        self._port = port
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._lock = threading.Lock()
        self._sent: list[bytearray] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._listener.getsockname()[1]}"

    @property
    def endpoint(self) -> str:
        """`127.0.0.1:PORT`, no scheme (what the SDKs take as their endpoint)."""
        return f"127.0.0.1:{self._listener.getsockname()[1]}"

    def clear(self) -> None:
        """Forgets what was sent so far (call it between requests: open connections go on)."""
        with self._lock:
            for kept in self._sent:
                kept.clear()

    def requests(self) -> list[bytes]:
        """Every request sent through the tap so far, each exactly as the client wrote it."""
        with self._lock:
            streams = [bytes(b) for b in self._sent]
        return [request for stream in streams for request in split_requests(stream)]

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self._port), timeout=30)
            kept = bytearray()
            with self._lock:
                self._sent.append(kept)
            for src, dst, keep in ((client, upstream, kept), (upstream, client, None)):
                threading.Thread(target=self._pipe, args=(src, dst, keep), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket, keep: bytearray | None) -> None:
        try:
            while data := src.recv(65536):
                if keep is not None:
                    with self._lock:
                        keep += data
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def __enter__(self) -> "Tap":
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self._listener.close()


def split_requests(stream: bytes) -> list[bytes]:
    """One connection's bytes cut into requests (Content-Length or chunked bodies)."""
    out = []
    while stream:
        head_end = stream.index(b"\r\n\r\n") + 4
        fields = {}
        for line in stream[: head_end - 4].split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            fields[name.strip().lower()] = value.strip()
        end = head_end
        if b"chunked" in fields.get(b"transfer-encoding", b"").lower():
            while True:
                line_end = stream.index(b"\r\n", end)
                size = int(stream[end:line_end].split(b";")[0], 16)
                end = line_end + 2 + size + 2
                if size == 0:
                    break
        else:
            end += int(fields.get(b"content-length", b"0"))
        assert end <= len(stream), "a request cut short"
        out.append(stream[:end])
        stream = stream[end:]
    return out


def _head(raw: bytes) -> tuple[list[bytes], list[tuple[bytes, bytes]]]:
    head = raw.partition(b"\r\n\r\n")[0].split(b"\r\n")
    fields = []
    for line in head[1:]:
        name, sep, value = line.partition(b":")
        assert sep, f"malformed header line {line!r}"
        fields.append((name.lower(), value.strip(b" \t")))
    return head[0].split(b" "), fields


def assert_forwarded_exactly(sent: bytes, received: bytes) -> None:
    """The service got the request the client sent through the proxy, byte for byte, but for what
    a proxy must change: the absolute-form target becomes origin form; hop-by-hop headers (and any
    the Connection header names) go; `X-Forwarded-For` is added; the body's framing is the
    gateway's own (a chunked body arrives with its Content-Length). Every other header arrives in
    the order sent, its value byte for byte; names are compared without case (HTTP/1.1 field
    names are case-insensitive; the gateway writes them lower-case)."""
    (method, target, version), sent_fields = _head(sent)
    (up_method, up_target, up_version), up_fields = _head(received)
    assert (up_method, up_version) == (method, version) == (up_method, b"HTTP/1.1")
    if target.startswith(b"http://"):
        origin = target[len(b"http://"):]
        target = origin[origin.index(b"/"):] if b"/" in origin else b"/"
    assert up_target == target, f"the target became {up_target!r}, not {target!r}"
    named = {t.strip().lower() for n, v in sent_fields if n == b"connection" for t in v.split(b",")}
    hop = {n.encode() for n in PROXY_HOP_BY_HOP} | named
    # In the order sent: Content-Length (re-framed for a chunked body) and X-Forwarded-For aside.
    expected = [(n, v) for n, v in sent_fields if n not in hop and n != b"content-length"]
    got = [(n, v) for n, v in up_fields if n not in (b"x-forwarded-for", b"content-length")]
    assert got == expected, "the headers reached the service changed:\n" + "\n".join(
        f"{'  ' if pair in expected and pair in got else '- ' if pair in expected else '+ '}{pair!r}"
        for pair in dict.fromkeys(expected + got)
    )
    assert [v for n, v in up_fields if n == b"x-forwarded-for"] == [b"127.0.0.1"]
    body, up_body = parse_raw(sent).body, parse_raw(received).body
    assert up_body == body, "the body reached the service changed"
    assert [v for n, v in up_fields if n == b"content-length"] == [str(len(body)).encode()]
    for n, v in sent_fields:
        if n == b"content-length":
            assert v == str(len(body)).encode()


def same_message(got: str, expected: str) -> bool:
    """Equal, except that the order of several validation errors is not fixed."""
    head = re.match(r"\d+ validation errors? detected: ", expected)
    if not head or not got.startswith(head.group(0)):
        return got == expected
    parts = lambda m: sorted(m[len(head.group(0)):].split("; "))  # noqa: E731
    return parts(got) == parts(expected)


def expect_client_error(send: Callable[[], object]) -> "ClientError":
    """Runs `send`, an AWS SDK call that must fail with a service error; returns that error."""
    from botocore.exceptions import ClientError

    try:
        result = send()
    except ClientError as exc:
        return exc
    raise AssertionError(f"the SDK call succeeded ({result!r}) where an error answer was expected")


# ---------------------------------------------------------------------------------------------
# hosts run as process groups (wasmtime serve, jco serve, Envoy), and a raw form POST


def stop_group(process: subprocess.Popen, timeout: float = 10) -> None:
    """SIGTERM to the process group `process` leads (started with `start_new_session=True`),
    then SIGKILL if it has not exited after `timeout` seconds."""
    import signal

    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def post_report(endpoint: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict, dict]:
    """A raw `POST /?Action=ReportTaskFailed&Version=2019-03-15`: status, lower-case headers and
    the JSON body of the answer."""
    import http.client

    connection = http.client.HTTPConnection(endpoint, timeout=60)
    try:
        connection.request("POST", "/?Action=ReportTaskFailed&Version=2019-03-15", body=body, headers=headers)
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, json.loads(response.read())
    finally:
        connection.close()
