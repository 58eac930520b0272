"""Shared pieces of the Python SDK end-to-end tests and of the fixture capture script.

* the SDK layouts: each sends one real `ReportTaskFailed` through a vendor SDK to a recorder;
* task tokens, built here independently of taskgate's own code;
* a minimal raw-HTTP parser (to check where each SDK put its parameters);
* config files and the `taskgate check` runner.
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
from typing import Callable
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


def config_toml(secret: str = ACCESS_KEY_SECRET) -> str:
    return f"""[limits]
max_body_bytes = 65536
max_clock_skew_seconds = 900

[[access_keys]]
id = "{ACCESS_KEY_ID}"
secret = "{secret}"
account = "{ACCOUNT}"

[[token_keys]]
account = "{ACCOUNT}"
secret = "{TOKEN_KEY}"
"""


def taskgate_bin() -> str:
    env = os.environ.get("TASKGATE_BIN")
    return env if env else str(REPO_ROOT / "target" / "release" / "taskgate")


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
