"""The wasi:http build of the filter (target/wasi-http/taskgate-http.wasm: the filter composed
with its keyring provider) under hosts that already exist: `wasmtime serve` (the wasmtime CLI of
the version taskgate's host links) and `jco serve`. Real SDK clients (alibabacloud-fnf20190315,
aliyun-python-sdk-fnf, boto3) call it; it forwards what it accepts to a recording upstream
(tests/sdk/recorder.py, answering as the service each request is for) and answers the rest with
the vendor's own error.

Settings and keys reach the component through wasi:config: `-S config-var=...` for wasmtime, the
JSON file of http-filter/jco/wasi-config.mjs (mapped in with --jco-map) for jco.

Run: tests/wasi-http/run.sh (builds the component, installs the tools, runs this file).
Needs TASKGATE_HTTP_COMPONENT, TASKGATE_WASMTIME and TASKGATE_JCO (run.sh sets them), and the
release build's test-pki next to TASKGATE_BIN (default target/release) for the https upstream.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import subprocess
import time
import uuid
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

import sdkcommon as c

COMPONENT = Path(os.environ.get("TASKGATE_HTTP_COMPONENT", c.REPO_ROOT / "target/wasi-http/taskgate-http.wasm"))
WASMTIME = os.environ.get("TASKGATE_WASMTIME", str(c.SDK_DIR / ".venv/bin/wasmtime"))
JCO = os.environ.get("TASKGATE_JCO", str(c.REPO_ROOT / "bindings/node/node_modules/.bin/jco"))
CONFIG_MODULE = c.REPO_ROOT / "http-filter/jco/wasi-config.mjs"
HOSTS = ["wasmtime", "jco"]
STARTUP_SECONDS = 90

# Headers that describe one hop: a proxy drops them and its HTTP client may add its own. `host`
# is the upstream's authority on the way out.
HOP = c.PROXY_HOP_BY_HOP | {"upgrade", "host"}

# The keys: the SDK suites' Alibaba and AWS test keys, and their token key.
KEYS = {
    f"access-key.{c.ACCESS_KEY_ID}": f"{c.ACCOUNT}:{c.ACCESS_KEY_SECRET}",
    f"access-key.{c.AWS_ACCESS_KEY_ID}": f"{c.AWS_ACCOUNT}:{c.AWS_SECRET_ACCESS_KEY}",
    "token-key.main": f"{c.ACCOUNT}:{c.TOKEN_KEY}",
}
SFN_TOKEN = "AQCEAAAAKgAAAAMAAAAAAAAAAf-sfn-task-token+/=0123456789"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Host:
    """`wasmtime serve` or `jco serve` running the component on a loopback port."""

    def __init__(self, kind: str, settings: dict[str, str], workdir: Path, env: dict[str, str] | None = None) -> None:
        self.kind = kind
        self.port = free_port()
        self.log = workdir / f"{kind}-{self.port}.log"
        env = {**os.environ, **(env or {})}
        if kind == "wasmtime":
            config = [arg for k, v in settings.items() for arg in ("-S", f"config-var={k}={v}")]
            command = [WASMTIME, "serve", "-S", "cli", "-S", "config", *config,
                       "--addr", f"127.0.0.1:{self.port}", str(COMPONENT)]
        else:
            config_file = workdir / f"config-{self.port}.json"
            config_file.write_text(json.dumps(settings), encoding="utf-8")
            env["TASKGATE_HTTP_CONFIG"] = str(config_file)
            command = [JCO, "serve", "--jco-map", f"wasi:config/store={CONFIG_MODULE}",
                       "--host", "127.0.0.1", "--port", str(self.port), str(COMPONENT)]
        with open(self.log, "wb") as log:
            # Its own process group: jco serve runs the server in a child node process.
            self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log,
                                            stderr=subprocess.STDOUT, env=env, start_new_session=True)
        self._wait_until_listening()

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def _wait_until_listening(self) -> None:
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"{self.kind} serve exited ({self.process.returncode}): {self.output()}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return
            time.sleep(0.2)
        self.stop()
        raise AssertionError(f"{self.kind} serve did not listen within {STARTUP_SECONDS} s: {self.output()}")

    def stop(self) -> None:
        c.stop_group(self.process)

    def __enter__(self) -> "Host":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def settings_for(upstream: str, **more: str) -> dict[str, str]:
    return {"upstream": upstream, "max-aws-body-bytes": str(c.AWS_MAX_BODY_BYTES), **KEYS, **more}


@pytest.fixture(scope="module")
def recorder():
    with c.Recorder(answer="auto") as rec:
        yield rec


@pytest.fixture(scope="module", params=HOSTS)
def host(request, recorder: c.Recorder, tmp_path_factory):
    """One host per kind, forwarding to the recorder, behind a tap that keeps what clients sent."""
    workdir = tmp_path_factory.mktemp(request.param)
    with Host(request.param, settings_for(f"http://{recorder.endpoint}"), workdir) as running:
        with c.Tap(running.port) as tap:
            running.tap = tap
            yield running


@pytest.fixture
def served(host: Host, recorder: c.Recorder) -> Host:
    recorder.clear()
    host.tap.clear()
    return host


def log_records(output: str) -> list[dict]:
    """The component's log lines (the record every build writes, on stderr), however the host
    prefixes them."""
    out = []
    for line in output.splitlines():
        start = line.find('{"request_id"')
        if start >= 0:
            out.append(json.loads(line[start:]))
    return out


def wait_for_records(host: "Host", count: int, timeout: float = 10.0) -> list[dict]:
    """The component's log records once there are `count`: a request's line is written after
    its answer, and the host passes the component's stderr on in its own time."""
    deadline = time.monotonic() + timeout
    while True:
        lines = log_records(host.output())
        if len(lines) >= count or time.monotonic() > deadline:
            return lines
        time.sleep(0.05)


def new_token() -> str:
    return c.make_task_token(str(uuid.uuid4()), 1000 + uuid.uuid4().int % 100000)


def assert_forwarded_intact(sent: bytes, got: bytes, upstream: str) -> None:
    """The upstream got the request the client wrote: method, target, every end-to-end header
    with its value, and the body byte for byte; `host` is the upstream's."""
    client, up = c.parse_raw(sent), c.parse_raw(got)
    assert (up.method, up.path, up.raw_query) == (client.method, client.path, client.raw_query)
    assert up.body == client.body, "the body reached the upstream changed"
    assert up.header("host") == upstream
    end_to_end = lambda request: sorted((n, v) for n, v in request.headers if n not in HOP)  # noqa: E731
    assert end_to_end(up) == end_to_end(client), f"client sent {client.headers!r}, upstream got {up.headers!r}"


# ---------------------------------------------------------------------------------------------
# accepted calls go to the upstream once, intact, and its answer comes back


@pytest.mark.parametrize("layout", c.LAYOUTS, ids=[layout.name for layout in c.LAYOUTS])
def test_alibaba_report_is_forwarded_intact(layout: c.Layout, served: Host, recorder: c.Recorder):
    result = layout.send(served.tap.endpoint, new_token(), c.ERROR, c.CAUSE)
    captures, sent = recorder.captures, served.tap.requests()
    assert len(captures) == 1 and len(sent) == 1, (captures, sent)
    assert (result.event_id, result.request_id) == (c.EVENT_ID, captures[0].request_id)
    assert_forwarded_intact(sent[0], captures[0].raw, recorder.endpoint)


AWS_CALLS = [
    ("stepfunctions", "send_task_failure", {"taskToken": SFN_TOKEN, "error": "Worker.Crashed", "cause": c.CAUSE}),
    ("stepfunctions", "send_task_success", {"taskToken": SFN_TOKEN, "output": '{"done": true, "é": [1, 2.5]}'}),
    ("swf", "respond_activity_task_failed", {"taskToken": SFN_TOKEN, "reason": "Worker.Crashed", "details": c.CAUSE}),
    ("codepipeline", "put_job_failure_result",
     {"jobId": str(uuid.uuid4()), "failureDetails": {"type": "JobFailed", "message": c.CAUSE}}),
]


@pytest.mark.parametrize("service,method,params", AWS_CALLS, ids=[m for _, m, _ in AWS_CALLS])
def test_aws_call_is_forwarded_intact(service: str, method: str, params: dict, served: Host, recorder: c.Recorder):
    client, sent = c.aws_client(service, served.tap.endpoint)
    answer = getattr(client, method)(**params)
    captures, written = recorder.captures, served.tap.requests()
    assert len(captures) == 1 and len(written) == 1, (captures, written)
    assert answer["ResponseMetadata"]["RequestId"] == captures[0].request_id
    assert c.parse_raw(written[0]).body == sent[0].body
    assert_forwarded_intact(written[0], captures[0].raw, recorder.endpoint)


# ---------------------------------------------------------------------------------------------
# bad calls are answered at the edge, in the vendor's words, and never forwarded


@pytest.mark.parametrize("layout", c.LAYOUTS, ids=[layout.name for layout in c.LAYOUTS])
def test_alibaba_wrong_secret_is_signature_not_match(layout: c.Layout, served: Host, recorder: c.Recorder):
    exc = c.expect_sdk_error(
        lambda: c.send_with_secret(layout, c.WRONG_SECRET, served.endpoint, new_token(), c.ERROR, c.CAUSE))
    assert c.sdk_error_code(exc) == "SignatureNotMatch", repr(exc)
    assert recorder.captures == []


def test_alibaba_token_made_by_another_key_is_refused(served: Host, recorder: c.Recorder):
    token = c.make_task_token(str(uuid.uuid4()), 7, key="not-the-token-key")
    exc = c.expect_sdk_error(lambda: c.send_tea_rpc(served.endpoint, token, c.ERROR, c.CAUSE))
    assert c.sdk_error_code(exc) == "InvalidArgument", repr(exc)
    assert "'TaskToken' is not a valid task token: its MAC does not verify." in str(exc), repr(exc)
    assert recorder.captures == []


def test_aws_cause_over_its_limit_is_the_modelled_validation_error(served: Host, recorder: c.Recorder):
    client, _ = c.aws_client("stepfunctions", served.endpoint)
    exc = c.expect_client_error(
        lambda: client.send_task_failure(taskToken=SFN_TOKEN, error="E", cause="é" * 32769))
    assert isinstance(exc, client.exceptions.ClientError)
    assert exc.response["Error"]["Code"] == "ValidationException"
    assert exc.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert exc.response["Error"]["Message"] == (
        "1 validation error detected: Value at 'cause' failed to satisfy constraint: "
        "Member must have length less than or equal to 32768")
    assert recorder.captures == []


def test_aws_wrong_secret_and_unknown_key(served: Host, recorder: c.Recorder):
    client, _ = c.aws_client("swf", served.endpoint, secret="not-the-secret")
    params = {"taskToken": SFN_TOKEN, "reason": "R"}
    exc = c.expect_client_error(lambda: client.respond_activity_task_failed(**params))
    assert exc.response["Error"]["Code"] == "InvalidSignatureException"
    client, _ = c.aws_client("swf", served.endpoint, key_id="AKIDUNKNOWN")
    exc = c.expect_client_error(lambda: client.respond_activity_task_failed(**params))
    assert exc.response["Error"]["Code"] == "UnrecognizedClientException"
    assert exc.response["Error"]["Message"] == "The security token included in the request is invalid."
    assert recorder.captures == []


def test_a_body_over_the_limit_is_refused_before_it_is_read(served: Host, recorder: c.Recorder):
    status, headers, body = c.post_report(served.endpoint, b"x" * 65537,
                                 {"content-type": "application/x-www-form-urlencoded"})
    assert status == 400, body
    assert body["Code"] == "EntityTooLarge", body
    assert re.fullmatch(r"[0-9A-F]{8}(-[0-9A-F]{4}){3}-[0-9A-F]{12}", headers["x-acs-request-id"]), headers
    assert body["RequestId"] == headers["x-acs-request-id"]
    assert recorder.captures == []


@pytest.mark.parametrize("kind", HOSTS)
def test_shadow_mode_forwards_what_the_filter_refuses_and_says_the_answer_it_would_give(
    kind: str, recorder: c.Recorder, tmp_path: Path
):
    recorder.clear()
    with Host(kind, settings_for(f"http://{recorder.endpoint}", mode="shadow"), tmp_path) as host:
        result = c.send_with_secret(c.LAYOUTS[0], c.WRONG_SECRET, host.endpoint, new_token(), c.ERROR, c.CAUSE)
        assert result.event_id == c.EVENT_ID, "the SDK got the upstream's answer"
        client, _ = c.aws_client("stepfunctions", host.endpoint, secret="not-the-secret")
        client.send_task_failure(taskToken=SFN_TOKEN, error="E", cause="c")
        lines = wait_for_records(host, 2)
        output = host.output()
    assert len(recorder.captures) == 2
    assert [(line["code"], line["status"], line["shadow_code"], line["shadow_status"]) for line in lines] == [
        ("forwarded", 200, "SignatureNotMatch", 403),
        ("forwarded", 200, "InvalidSignatureException", 400),
    ], output
    assert c.CAUSE not in output


@pytest.mark.parametrize("kind", HOSTS)
def test_temporary_credentials_are_refused_unless_forwarded_for_the_service_to_verify(
    kind: str, recorder: c.Recorder, tmp_path: Path
):
    """`temporary-credentials`: boto3 under an IAM role's credentials (a key the keyring does
    not hold, a session token) gets the unknown-key error by default, and reaches the upstream
    unchanged, its token signed, with `forward`."""
    recorder.clear()
    params = {"taskToken": SFN_TOKEN, "error": "E", "cause": "c"}
    role = dict(key_id="ASIAWASIHTTPTEMPKEY1", secret="the-roles-secret", session_token="the-roles-token")
    with Host(kind, settings_for(f"http://{recorder.endpoint}"), tmp_path) as host:
        client, _ = c.aws_client("stepfunctions", host.endpoint, **role)
        exc = c.expect_client_error(lambda: client.send_task_failure(**params))
        assert exc.response["Error"]["Code"] == "UnrecognizedClientException"
    assert recorder.captures == []
    forwarding = settings_for(f"http://{recorder.endpoint}", **{"temporary-credentials": "forward"})
    with Host(kind, forwarding, tmp_path) as host:
        client, _ = c.aws_client("stepfunctions", host.endpoint, **role)
        client.send_task_failure(**params)
        too_long = dict(params, cause="x" * 32769)
        exc = c.expect_client_error(lambda: client.send_task_failure(**too_long))
        assert exc.response["Error"]["Code"] == "ValidationException"
    assert len(recorder.captures) == 1, "the over-long cause is still refused at the edge"
    sent = recorder.captures[0].raw.lower()
    assert b"x-amz-security-token: the-roles-token" in sent
    assert b"credential=asiawasihttptempkey1/" in sent


@pytest.mark.parametrize("kind", HOSTS)
def test_a_header_that_is_not_utf8_gets_the_verdict_taskgate_serve_gives(kind: str, tmp_path: Path):
    """One request, one verdict: a header value that is not UTF-8 is read as every build reads
    it (`header_text`), and the request goes on with its original bytes."""
    with c.Recorder() as recorder:
        # What the SDK writes (RPC v1: the signature covers the query, not the headers), with a
        # Latin-1 header added.
        c.send_tea_rpc(recorder.endpoint, new_token(), c.ERROR, c.CAUSE)
        sent = recorder.captures[0].raw
        head, _, body = sent.partition(b"\r\n\r\n")
        raw = head + b"\r\nX-Note: caf\xe9" + b"\r\n\r\n" + body
        recorder.clear()
        config = tmp_path / "taskgate.toml"
        config.write_text(c.serve_config_toml(upstream=f"http://{recorder.endpoint}"), encoding="utf-8")
        with c.Serve(config, workdir=tmp_path) as serve:
            gateway = c.send_raw(serve.endpoint, raw)
        with Host(kind, settings_for(f"http://{recorder.endpoint}"), tmp_path) as host:
            component = c.send_raw(host.endpoint, raw)
        assert gateway[0] == 200, gateway
        assert component[0] == gateway[0], (component, gateway)
        assert len(recorder.captures) == 2
        # Forwarded with its original bytes (names may come lower-cased). The component hands
        # the bytes to the host as they came; jco's Node host writes them out re-encoded as
        # UTF-8 (`caf\xc3\xa9`), which is the host's doing.
        forwarded = [re.search(rb"(?i)\r\nx-note: ([^\r]*)\r\n", capture.raw) for capture in recorder.captures]
        values = [note.group(1) if note else None for note in forwarded]
        assert values[0] == b"caf\xe9", values
        if kind == "wasmtime":
            assert values[1] == b"caf\xe9", values


# ---------------------------------------------------------------------------------------------
# what cannot be done is a 500 in the caller's dialect, said on stderr, never a hang


@pytest.mark.parametrize("kind", HOSTS)
def test_a_dead_upstream_is_internal_server_error_and_the_log_keeps_no_secret(kind: str, tmp_path: Path):
    with c.refused_port() as port, Host(kind, settings_for(f"http://127.0.0.1:{port}"), tmp_path) as dead:
        client, _ = c.aws_client("stepfunctions", dead.endpoint)
        exc = c.expect_client_error(
            lambda: client.send_task_failure(taskToken=SFN_TOKEN, error="Secret.Error", cause="secret cause"))
        assert exc.response["Error"]["Code"] == "InternalFailure", exc.response
        assert exc.response["ResponseMetadata"]["HTTPStatusCode"] == 500
        exc = c.expect_sdk_error(lambda: c.send_tea_rpc(dead.endpoint, new_token(), "Secret.Error", "secret cause"))
        assert c.sdk_error_code(exc) == "InternalServerError", repr(exc)
        output = dead.output()
    assert output.count("the upstream could not be reached") == 2, output
    for secret in (c.ACCESS_KEY_SECRET, c.AWS_SECRET_ACCESS_KEY, c.TOKEN_KEY, "Secret.Error", "secret cause"):
        assert secret not in output, f"{secret!r} in the host's output"


BAD_SETTINGS = [
    ({}, "wasi:config key 'upstream' is required"),
    ({"upstream": "ftp://127.0.0.1:21"},
     "wasi:config key 'upstream' must start with http:// or https://, not \"ftp://127.0.0.1:21\""),
    ({"upstream": "http://127.0.0.1:9", "other-calls": "sometimes"},
     "wasi:config key 'other-calls' must be \"reject\", \"authenticate\" or \"forward\", not \"sometimes\""),
    ({"upstream": "http://127.0.0.1:9", "max-body-bytes": "64k"},
     "wasi:config key 'max-body-bytes' must be a whole number, not \"64k\""),
    ({"upstream": "http://127.0.0.1:9", "mode": "loud"},
     "wasi:config key 'mode' must be \"enforce\" or \"shadow\", not \"loud\""),
    # The bounds of the configuration file's [limits]: a window of 0 would refuse every request.
    ({"upstream": "http://127.0.0.1:9", "max-clock-skew-seconds": "0"},
     "wasi:config key 'max-clock-skew-seconds' must be between 1 and 86400"),
]


@pytest.mark.parametrize("kind", HOSTS)
@pytest.mark.parametrize("settings,named", BAD_SETTINGS, ids=["no-upstream", "ftp", "other-calls", "max-body", "mode", "clock-window"])
def test_a_wrong_setting_is_internal_server_error_naming_it(kind: str, settings: dict, named: str, tmp_path: Path):
    with Host(kind, {**KEYS, **settings}, tmp_path) as wrong:
        exc = c.expect_sdk_error(lambda: c.send_tea_acs3(wrong.endpoint, new_token(), c.ERROR, c.CAUSE))
        assert c.sdk_error_code(exc) == "InternalServerError", repr(exc)
        assert f"taskgate-http: {named}" in wrong.output()


@pytest.mark.parametrize("kind", HOSTS)
def test_a_keyring_entry_of_the_wrong_shape_is_left_out_and_named(kind: str, recorder: c.Recorder, tmp_path: Path):
    settings = {**settings_for(f"http://{recorder.endpoint}"), f"access-key.{c.ACCESS_KEY_ID}": c.ACCESS_KEY_SECRET}
    with Host(kind, settings, tmp_path) as host:
        exc = c.expect_sdk_error(lambda: c.send_tea_rpc(host.endpoint, new_token(), c.ERROR, c.CAUSE))
        assert c.sdk_error_code(exc) == "InvalidAccessKeyID", repr(exc)
        # The AWS key of the same configuration still works.
        client, _ = c.aws_client("stepfunctions", host.endpoint)
        client.send_task_heartbeat(taskToken=SFN_TOKEN)
        output = host.output()
    assert f"wasi:config entry 'access-key.{c.ACCESS_KEY_ID}' left out" in output, output
    assert c.ACCESS_KEY_SECRET not in output


# ---------------------------------------------------------------------------------------------
# an https:// upstream: the host's TLS client verifies it (certificates made now by test-pki)


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> Path:
    return c.make_pki(tmp_path_factory.mktemp("pki"))


def https_recorder(pki: Path, chain: str) -> c.Recorder:
    return c.Recorder(answer="auto", tls=(str(pki / f"{chain}.pem"), str(pki / f"{chain}.key")))


def test_an_https_upstream_gets_the_request_over_verified_tls_under_jco(pki: Path, tmp_path: Path):
    # Node trusts the test CA through NODE_EXTRA_CA_CERTS; wasmtime's client trusts only the
    # public roots it was built with (below).
    with https_recorder(pki, "vendors") as service, Host(
        "jco", settings_for(f"https://localhost:{service.port}"), tmp_path,
        env={"NODE_EXTRA_CA_CERTS": str(pki / "ca.pem")},
    ) as host:
        client, sent = c.aws_client("codepipeline", host.endpoint)
        answer = client.put_job_failure_result(
            jobId=str(uuid.uuid4()), failureDetails={"type": "JobFailed", "message": c.CAUSE})
        captures = service.captures
    assert len(captures) == 1, captures
    assert answer["ResponseMetadata"]["RequestId"] == captures[0].request_id
    forwarded = c.parse_raw(captures[0].raw)
    assert forwarded.body == sent[0].body
    assert forwarded.header("host") == f"localhost:{service.port}"


@pytest.mark.parametrize("kind", HOSTS)
def test_an_https_upstream_whose_certificate_the_host_does_not_trust_is_never_sent_the_request(
    kind: str, pki: Path, tmp_path: Path
):
    # jco: a chain from a CA nobody trusts; wasmtime: the test CA, which is not among its roots.
    chain = "untrusted" if kind == "jco" else "vendors"
    extra = {"NODE_EXTRA_CA_CERTS": str(pki / "ca.pem")} if kind == "jco" else {}
    with https_recorder(pki, chain) as service, Host(
        kind, settings_for(f"https://localhost:{service.port}"), tmp_path, env=extra
    ) as host:
        client, _ = c.aws_client("stepfunctions", host.endpoint)
        exc = c.expect_client_error(lambda: client.send_task_heartbeat(taskToken=SFN_TOKEN))
        captures = service.captures
        output = host.output()
    assert exc.response["Error"]["Code"] == "InternalFailure", exc.response
    assert captures == [], "a request went to an upstream whose certificate is not trusted"
    assert "the upstream could not be reached" in output, output
