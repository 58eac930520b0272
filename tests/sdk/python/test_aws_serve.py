"""End to end through `taskgate serve`, AWS dialects: the real boto3 clients of Step Functions
(SendTaskFailure), SWF (RespondActivityTaskFailed) and CodePipeline (PutJobFailureResult) call a
running taskgate, which forwards accepted calls byte-identical to a recording upstream
(tests/sdk/recorder.py answering as an AWS JSON service: 200, `{}`), answers rejected ones itself
with the modeled AWS error, and in sink mode (no upstream) answers and logs them itself.

The behaviour checked is the AWS dialects' contract: X-Amz-Target selects the dialect; SigV4 with
the `[[access_keys]]` of the config; model constraints counted in characters; the error body
`{"__type": ..., "message": ...}` that botocore turns into the exact modeled exception.

Every `taskgate serve` here is started with a temporary config (port 0) and stopped with SIGTERM,
expecting exit code 0. The config raises `[limits] max_body_bytes` to AWS_MAX_BODY_BYTES (512 KiB):
botocore writes JSON with every non-ASCII character escaped, and a `cause` of 32769 emoji is about
393 KB on the wire.

Run: tests/sdk/setup.sh && TASKGATE_BIN=target/release/taskgate tests/sdk/.venv/bin/python -m pytest tests/sdk/python/test_aws_serve.py
`test_sdk_request_shape` needs no taskgate: it pins down what boto3 sends, against the recorder.
"""

from __future__ import annotations

import datetime
import json
import re
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

import sdkcommon as c

CALL_IDS = [call.service for call in c.AWS_CALLS]
HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade"}
# Headers http.client adds below botocore's `before-send` view (checked by test_sdk_request_shape).
ADDED_BELOW_BOTOCORE = {"host", "accept-encoding"}

SIGNATURE_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. Check your AWS "
    "Secret Access Key and signing method. Consult the service documentation for details."
)
UNKNOWN_KEY = "The security token included in the request is invalid."
JOB_ID_PATTERN = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
FAILURE_TYPES = "[JobFailed, ConfigurationError, PermissionError, RevisionOutOfSync, RevisionUnavailable, SystemUnavailable]"

SFN_TOKEN = "AQCEAAAAKgAAAAMAAAAAAAAAAf-sfn-task-token+/=0123456789"
SWF_TOKEN = "AAAAKgAAAAEAAAAAAAAAAswf-activity-task-token+/=0123456789"
JOB_ID = "0c6f2a9e-5b1d-4c3e-8f7a-9d2b1e0a4c6f"
E_ACUTE = "é"
EMOJI = "😀"  # outside the BMP: one character, a surrogate pair in JSON escapes, 4 bytes in UTF-8


def valid_params(service: str, **over) -> dict:
    """A valid call of `service`, with some members replaced (`failure_*` go into failureDetails)."""
    if service == "stepfunctions":
        params = {"taskToken": SFN_TOKEN, "error": "Worker.Crashed (exit 1+1)", "cause": c.CAUSE}
    elif service == "swf":
        params = {"taskToken": SWF_TOKEN, "reason": "Worker.Crashed", "details": c.CAUSE}
    else:
        params = {"jobId": JOB_ID, "failureDetails": {"type": "JobFailed", "message": c.CAUSE, "externalExecutionId": "run-42"}}
    for key, value in over.items():
        if key.startswith("failure_"):
            params["failureDetails"][key[len("failure_"):]] = value
        else:
            params[key] = value
    return params


def invoke(client, service: str, params: dict) -> dict:
    return getattr(client, c.AWS_CALL_BY_SERVICE[service].method)(**params)


def write_config(tmp_path: Path, name: str = "taskgate.toml", **kwargs) -> Path:
    path = tmp_path / name
    kwargs.setdefault("extra_access_keys", c.AWS_ACCESS_KEYS)
    kwargs.setdefault("max_body_bytes", c.AWS_MAX_BODY_BYTES)
    path.write_text(c.serve_config_toml(**kwargs), encoding="utf-8")
    return path


def assert_aws_error(exc: ClientError, code: str, status: int, call: c.AwsCall) -> str:
    """The error is `code` with HTTP `status`, in the AWS JSON error form; returns its message."""
    err = exc.response.get("Error", {})
    meta = exc.response.get("ResponseMetadata", {})
    headers = meta.get("HTTPHeaders", {})
    assert err.get("Code") == code, f"expected {code}, got {err!r} (HTTP {meta.get('HTTPStatusCode')})"
    assert meta.get("HTTPStatusCode") == status, f"{code}: HTTP {meta.get('HTTPStatusCode')}, expected {status}"
    assert headers.get("content-type") == call.content_type, f"{code}: Content-Type {headers.get('content-type')!r}"
    assert re.fullmatch(r"[0-9a-fA-F-]{36}", meta.get("RequestId") or ""), f"{code}: x-amzn-RequestId {meta!r}"
    message = err.get("Message")
    assert isinstance(message, str), f"{code}: no message in {err!r}"
    return message


def assert_forwarded_identical(sent: c.SentRequest, raw: bytes, serve_endpoint: str) -> None:
    """The upstream received exactly what the SDK sent: method, path, query, headers, body."""
    up = c.parse_raw(raw)
    assert up.method == sent.method
    assert f"http://{serve_endpoint}{up.path}" + (f"?{up.raw_query}" if up.raw_query else "") == sent.url
    assert up.body == sent.body, "the body reached the upstream changed"
    assert up.header("host") == serve_endpoint, "the Host the SDK sent was not kept"
    up_headers = {}
    for name, value in up.headers:
        assert name not in up_headers, f"header {name} twice upstream: {up.headers!r}"
        up_headers[name] = value
    for name, value in sent.headers:
        if name in HOP_BY_HOP:
            continue
        assert up_headers.get(name) == value, f"header {name}: SDK sent {value!r}, upstream got {up_headers.get(name)!r}"
    extra = set(up_headers) - {n for n, _ in sent.headers} - ADDED_BELOW_BOTOCORE - HOP_BY_HOP - {"x-forwarded-for"}
    assert not extra, f"headers the SDK did not send reached the upstream: {sorted(extra)}"
    assert up_headers.get("x-forwarded-for", "127.0.0.1") == "127.0.0.1"


# ---------------------------------------------------------------------------------------------
# fixtures: one recorder and one forwarding `taskgate serve` for the module (boundary tests)


@pytest.fixture(scope="module")
def aws_recorder():
    with c.Recorder(answer="aws") as rec:
        yield rec


@pytest.fixture(scope="module")
def serve(aws_recorder: c.Recorder, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("aws-serve")
    config = write_config(tmp, upstream=f"http://{aws_recorder.endpoint}")
    with c.Serve(config, workdir=tmp) as s:
        yield s


@pytest.fixture
def recorder(aws_recorder: c.Recorder):
    aws_recorder.clear()
    return aws_recorder


# ---------------------------------------------------------------------------------------------
# 0. what boto3 sends (no taskgate involved)


@pytest.mark.parametrize("service", CALL_IDS)
def test_sdk_request_shape(service: str):
    call = c.AWS_CALL_BY_SERVICE[service]
    with c.Recorder(answer="aws") as rec:
        client, sent = c.aws_client(service, rec.endpoint)
        result = invoke(client, service, valid_params(service))
        captures = rec.captures
    assert len(sent) == 1 and len(captures) == 1
    assert result["ResponseMetadata"]["RequestId"] == captures[0].request_id
    assert set(result) == {"ResponseMetadata"}, result
    raw = c.parse_raw(captures[0].raw)
    s = sent[0]
    # the before-send view is what went out, apart from what http.client adds
    assert raw.body == s.body and not raw.chunked
    assert {n for n, _ in raw.headers} - {n for n, _ in s.headers} == ADDED_BELOW_BOTOCORE
    assert raw.method == "POST" and raw.path == "/" and raw.raw_query == ""
    assert raw.header("x-amz-target") == call.target
    assert raw.header("content-type") == call.content_type
    auth = raw.header("authorization")
    assert auth.startswith("AWS4-HMAC-SHA256 ")
    # boto3 signs exactly these, and sends no x-amz-content-sha256 (tests/sdk/README.md)
    assert c.signed_headers(auth) == ["content-type", "host", "x-amz-date", "x-amz-target"], auth
    assert raw.header("x-amz-content-sha256") is None
    scope = c.credential_scope(auth)
    assert scope[0] == c.AWS_ACCESS_KEY_ID and scope[2:] == [c.AWS_REGION, call.signing_name, "aws4_request"]
    assert scope[1] == raw.header("x-amz-date")[:8]
    # botocore escapes non-ASCII in JSON: what the "lengths count characters" rule must see through
    assert b"caf\\u00e9 \\ud83d\\ude80" in s.body, s.body
    assert json.loads(s.body) == valid_params(service)


# ---------------------------------------------------------------------------------------------
# 1. a valid call is forwarded byte-identical; the SDK gets the upstream's answer


@pytest.mark.parametrize("service", CALL_IDS)
def test_valid_call_is_forwarded_byte_identical(service: str, tmp_path: Path):
    with c.Recorder(answer="aws") as rec:
        config = write_config(tmp_path, upstream=f"http://{rec.endpoint}")
        with c.Serve(config, workdir=tmp_path) as serve:
            client, sent = c.aws_client(service, serve.endpoint)
            result = invoke(client, service, valid_params(service))
            captures = rec.captures
    assert len(sent) == 1
    assert len(captures) == 1, f"the upstream got {len(captures)} requests, expected exactly one"
    assert_forwarded_identical(sent[0], captures[0].raw, serve.endpoint)
    # the upstream's answer (`{}`, its x-amzn-RequestId) is what the SDK got
    assert set(result) == {"ResponseMetadata"}, result
    assert result["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert result["ResponseMetadata"]["RequestId"] == captures[0].request_id


def test_upstreams_table_routes_each_dialect(tmp_path: Path):
    """`[serve.upstreams]` sends each dialect to its own upstream, over the default `upstream`."""
    recs = {call.dialect: c.Recorder(answer="aws").start() for call in c.AWS_CALLS}
    try:
        with c.refused_port() as dead:
            config = write_config(
                tmp_path,
                upstream=f"http://127.0.0.1:{dead}",
                upstreams={dialect: f"http://{rec.endpoint}" for dialect, rec in recs.items()},
            )
            with c.Serve(config, workdir=tmp_path) as serve:
                for call in c.AWS_CALLS:
                    client, sent = c.aws_client(call.service, serve.endpoint)
                    result = invoke(client, call.service, valid_params(call.service))
                    captures = recs[call.dialect].captures
                    assert len(captures) == 1, f"{call.dialect}: its upstream got {len(captures)} requests"
                    assert_forwarded_identical(sent[0], captures[0].raw, serve.endpoint)
                    assert result["ResponseMetadata"]["RequestId"] == captures[0].request_id
        for dialect, rec in recs.items():
            assert len(rec.captures) == 1, f"{dialect}: {len(rec.captures)} requests"
    finally:
        for rec in recs.values():
            rec.stop()


# ---------------------------------------------------------------------------------------------
# 2. model constraints at their boundaries (one serve for all)

VE = "ValidationException"


def too_long(member: str, limit: int) -> str:
    return f"1 validation error detected: Value at '{member}' failed to satisfy constraint: Member must have length less than or equal to {limit}"


# (id, service, params override, None for "accepted and forwarded" or the exact ValidationException message)
BOUNDARIES = [
    ("sfn-error-256", "stepfunctions", {"error": "e" * 256}, None),
    ("sfn-error-257", "stepfunctions", {"error": "e" * 257}, too_long("error", 256)),
    ("sfn-error-256-eacute", "stepfunctions", {"error": E_ACUTE * 256}, None),
    ("sfn-error-257-eacute", "stepfunctions", {"error": E_ACUTE * 257}, too_long("error", 256)),
    ("sfn-error-256-emoji", "stepfunctions", {"error": EMOJI * 256}, None),
    ("sfn-error-257-emoji", "stepfunctions", {"error": EMOJI * 257}, too_long("error", 256)),
    ("sfn-cause-32768", "stepfunctions", {"cause": "c" * 32768}, None),
    ("sfn-cause-32769", "stepfunctions", {"cause": "c" * 32769}, too_long("cause", 32768)),
    ("sfn-cause-32768-eacute", "stepfunctions", {"cause": E_ACUTE * 32768}, None),
    ("sfn-cause-32769-eacute", "stepfunctions", {"cause": E_ACUTE * 32769}, too_long("cause", 32768)),
    ("sfn-cause-32768-emoji", "stepfunctions", {"cause": EMOJI * 32768}, None),
    ("sfn-cause-32769-emoji", "stepfunctions", {"cause": EMOJI * 32769}, too_long("cause", 32768)),
    ("sfn-token-2048", "stepfunctions", {"taskToken": "t" * 2048}, None),
    ("sfn-token-2049", "stepfunctions", {"taskToken": "t" * 2049}, too_long("taskToken", 2048)),
    ("swf-token-1024", "swf", {"taskToken": "t" * 1024}, None),
    ("swf-token-1025", "swf", {"taskToken": "t" * 1025}, too_long("taskToken", 1024)),
    ("swf-reason-256", "swf", {"reason": "r" * 256}, None),
    ("swf-reason-257", "swf", {"reason": "r" * 257}, too_long("reason", 256)),
    ("swf-reason-256-emoji", "swf", {"reason": EMOJI * 256}, None),
    ("swf-reason-257-eacute", "swf", {"reason": E_ACUTE * 257}, too_long("reason", 256)),
    ("swf-details-32768", "swf", {"details": "d" * 32768}, None),
    ("swf-details-32769", "swf", {"details": "d" * 32769}, too_long("details", 32768)),
    ("swf-details-32768-emoji", "swf", {"details": EMOJI * 32768}, None),
    ("swf-details-32769-emoji", "swf", {"details": EMOJI * 32769}, too_long("details", 32768)),
    ("cp-message-5000", "codepipeline", {"failure_message": "m" * 5000}, None),
    ("cp-message-5001", "codepipeline", {"failure_message": "m" * 5001}, too_long("failureDetails.message", 5000)),
    ("cp-message-5000-emoji", "codepipeline", {"failure_message": EMOJI * 5000}, None),
    ("cp-message-5001-eacute", "codepipeline", {"failure_message": E_ACUTE * 5001}, too_long("failureDetails.message", 5000)),
    ("cp-external-id-1500", "codepipeline", {"failure_externalExecutionId": "x" * 1500}, None),
    ("cp-external-id-1501", "codepipeline", {"failure_externalExecutionId": "x" * 1501},
     too_long("failureDetails.externalExecutionId", 1500)),
    ("cp-job-id-bad", "codepipeline", {"jobId": "abc"},
     f"1 validation error detected: Value 'abc' at 'jobId' failed to satisfy constraint: "
     f"Member must satisfy regular expression pattern: {JOB_ID_PATTERN}"),
    ("cp-job-id-upper", "codepipeline", {"jobId": JOB_ID.upper()},
     f"1 validation error detected: Value '{JOB_ID.upper()}' at 'jobId' failed to satisfy constraint: "
     f"Member must satisfy regular expression pattern: {JOB_ID_PATTERN}"),
    ("cp-type-bad", "codepipeline", {"failure_type": "Oops"},
     f"1 validation error detected: Value 'Oops' at 'failureDetails.type' failed to satisfy constraint: "
     f"Member must satisfy enum value set: {FAILURE_TYPES}"),
    ("cp-every-type", "codepipeline", {}, None),  # expanded below
    ("sfn-two-errors", "stepfunctions", {"error": "e" * 257, "cause": "c" * 32769},
     "2 validation errors detected: "
     "Value at 'error' failed to satisfy constraint: Member must have length less than or equal to 256; "
     "Value at 'cause' failed to satisfy constraint: Member must have length less than or equal to 32768"),
]
BOUNDARIES = [b for b in BOUNDARIES if b[0] != "cp-every-type"] + [
    (f"cp-type-{t}", "codepipeline", {"failure_type": t}, None)
    for t in FAILURE_TYPES.strip("[]").split(", ")
]


@pytest.mark.parametrize("service,over,message", [b[1:] for b in BOUNDARIES], ids=[b[0] for b in BOUNDARIES])
def test_boundary(service: str, over: dict, message: str | None, serve: c.Serve, recorder: c.Recorder):
    call = c.AWS_CALL_BY_SERVICE[service]
    client, sent = c.aws_client(service, serve.endpoint)
    params = valid_params(service, **over)
    if message is None:
        result = invoke(client, service, params)
        captures = recorder.captures
        assert len(captures) == 1, f"the upstream got {len(captures)} requests, expected exactly one"
        assert_forwarded_identical(sent[0], captures[0].raw, serve.endpoint)
        assert result["ResponseMetadata"]["RequestId"] == captures[0].request_id
        return

    exc = c.expect_client_error(lambda: invoke(client, service, params))
    got = assert_aws_error(exc, VE, 400, call)
    modeled = getattr(client.exceptions, VE, None)
    if modeled is not None:  # stepfunctions and codepipeline model it; swf does not
        assert isinstance(exc, modeled), type(exc)
    assert c.same_message(got, message), f"message:\n  expected {message!r}\n  got      {got!r}"
    assert recorder.captures == [], "a rejected call reached the upstream"
    # free text is never echoed
    for key in ("error", "cause", "reason", "details", "taskToken"):
        value = params.get(key)
        if isinstance(value, str) and len(value) >= 8:
            assert value[:64] not in got, f"the value of {key} is in the message"
    fd_message = params.get("failureDetails", {}).get("message")
    if fd_message:
        assert fd_message[:64] not in got


def test_boundary_bodies_fit_the_test_limit():
    """The largest boundary body botocore writes stays within AWS_MAX_BODY_BYTES (and over 64 KiB)."""
    body = json.dumps(valid_params("stepfunctions", cause=EMOJI * 32769)).encode()
    assert 65536 < len(body) < c.AWS_MAX_BODY_BYTES


def test_body_over_the_limit_is_request_entity_too_large(serve: c.Serve, recorder: c.Recorder):
    """1.5 MiB is over the AWS body limit (the config's 512 KiB, or the Rust side's own 1 MiB)."""
    call = c.AWS_CALL_BY_SERVICE["stepfunctions"]
    client, sent = c.aws_client("stepfunctions", serve.endpoint)
    exc = c.expect_client_error(lambda: invoke(client, "stepfunctions", valid_params("stepfunctions", cause="x" * (1536 * 1024))))
    message = assert_aws_error(exc, "RequestEntityTooLarge", 413, call)
    m = re.search(r"(\d+) bytes", message)
    assert m and int(m.group(1)) < len(sent[0].body), f"the message does not name the limit in bytes: {message!r}"
    assert recorder.captures == []


# ---------------------------------------------------------------------------------------------
# 3. tokens with whitespace


def test_sfn_token_with_space_is_invalid_token(serve: c.Serve, recorder: c.Recorder):
    call = c.AWS_CALL_BY_SERVICE["stepfunctions"]
    client, _ = c.aws_client("stepfunctions", serve.endpoint)
    token = SFN_TOKEN[:20] + " " + SFN_TOKEN[20:]
    exc = c.expect_client_error(lambda: invoke(client, "stepfunctions", valid_params("stepfunctions", taskToken=token)))
    assert isinstance(exc, client.exceptions.InvalidToken), type(exc)
    message = assert_aws_error(exc, "InvalidToken", 400, call)
    assert message.startswith("Invalid Token"), message
    assert SFN_TOKEN[:20] not in message and SFN_TOKEN[20:] not in message
    assert recorder.captures == []


def test_swf_token_with_newline_is_unknown_resource(serve: c.Serve, recorder: c.Recorder):
    call = c.AWS_CALL_BY_SERVICE["swf"]
    client, _ = c.aws_client("swf", serve.endpoint)
    token = SWF_TOKEN[:20] + "\n" + SWF_TOKEN[20:]
    exc = c.expect_client_error(lambda: invoke(client, "swf", valid_params("swf", taskToken=token)))
    assert isinstance(exc, client.exceptions.UnknownResourceFault), type(exc)
    message = assert_aws_error(exc, "UnknownResourceFault", 400, call)
    assert SWF_TOKEN[:20] not in message and SWF_TOKEN[20:] not in message
    assert recorder.captures == []


# ---------------------------------------------------------------------------------------------
# 4. authentication


@pytest.mark.parametrize("service", CALL_IDS)
def test_wrong_secret_is_invalid_signature(service: str, serve: c.Serve, recorder: c.Recorder):
    call = c.AWS_CALL_BY_SERVICE[service]
    client, _ = c.aws_client(service, serve.endpoint, secret="not" + c.AWS_SECRET_ACCESS_KEY)
    exc = c.expect_client_error(lambda: invoke(client, service, valid_params(service)))
    assert assert_aws_error(exc, "InvalidSignatureException", 400, call) == SIGNATURE_MISMATCH
    assert recorder.captures == []


@pytest.mark.parametrize("service", CALL_IDS)
def test_clock_skew_is_signature_expired(service: str, serve: c.Serve, recorder: c.Recorder, monkeypatch):
    import botocore.auth

    real = botocore.auth.get_current_datetime

    def twenty_minutes_ago(*args, **kwargs):
        return real(*args, **kwargs) - datetime.timedelta(minutes=20)

    monkeypatch.setattr(botocore.auth, "get_current_datetime", twenty_minutes_ago)
    call = c.AWS_CALL_BY_SERVICE[service]
    client, sent = c.aws_client(service, serve.endpoint)
    exc = c.expect_client_error(lambda: invoke(client, service, valid_params(service)))
    message = assert_aws_error(exc, "InvalidSignatureException", 400, call)
    amz_date = sent[0].header("x-amz-date")
    m = re.fullmatch(r"Signature expired: (\d{8}T\d{6}Z) is now earlier than (\d{8}T\d{6}Z) \((\d{8}T\d{6}Z) - 15 min\.\)", message)
    assert m, message
    assert m.group(1) == amz_date
    fmt = "%Y%m%dT%H%M%SZ"
    earliest, now = (datetime.datetime.strptime(m.group(i), fmt) for i in (2, 3))
    assert now - earliest == datetime.timedelta(minutes=15)
    assert abs((now - datetime.datetime.strptime(amz_date, fmt)) - datetime.timedelta(minutes=20)) < datetime.timedelta(minutes=1)
    assert recorder.captures == []


@pytest.mark.parametrize("service", CALL_IDS)
def test_unknown_access_key_is_unrecognized_client(service: str, serve: c.Serve, recorder: c.Recorder):
    call = c.AWS_CALL_BY_SERVICE[service]
    client, _ = c.aws_client(service, serve.endpoint, key_id="AKIDNOTCONFIGURED0001")
    exc = c.expect_client_error(lambda: invoke(client, service, valid_params(service)))
    assert assert_aws_error(exc, "UnrecognizedClientException", 400, call) == UNKNOWN_KEY
    assert recorder.captures == []


# ---------------------------------------------------------------------------------------------
# 5. a dead upstream is InternalFailure


@pytest.mark.parametrize("service", CALL_IDS)
def test_dead_upstream_is_internal_failure(service: str, tmp_path: Path):
    call = c.AWS_CALL_BY_SERVICE[service]
    with c.refused_port() as port:
        config = write_config(tmp_path, upstream=f"http://127.0.0.1:{port}")
        with c.Serve(config, workdir=tmp_path) as serve:
            client, sent = c.aws_client(service, serve.endpoint)
            exc = c.expect_client_error(lambda: invoke(client, service, valid_params(service)))
    assert len(sent) == 1, "the SDK retried although total_max_attempts is 1"
    assert_aws_error(exc, "InternalFailure", 500, call)


# ---------------------------------------------------------------------------------------------
# 6. sink mode


def sink_fields(service: str, params: dict) -> tuple[str, str, str]:
    """(task_token, error, cause) as the sink line names them."""
    if service == "stepfunctions":
        return params["taskToken"], params["error"], params["cause"]
    if service == "swf":
        return params["taskToken"], params["reason"], params["details"]
    fd = params["failureDetails"]
    return params["jobId"], fd["type"], fd["message"]


def test_sink_mode_answers_and_logs_each_call(tmp_path: Path):
    sink = tmp_path / "sink.jsonl"
    config = write_config(tmp_path, sink_path=sink)
    sent = []
    with c.Serve(config, workdir=tmp_path) as serve:
        for call in c.AWS_CALLS:
            for variant in range(2):
                over = {"cause": f"second {EMOJI} x=y&z"} if call.service == "stepfunctions" and variant else {}
                if call.service == "swf" and variant:
                    over = {"details": f"second {E_ACUTE}"}
                if call.service == "codepipeline" and variant:
                    over = {"jobId": "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee", "failure_type": "SystemUnavailable"}
                client, _ = c.aws_client(call.service, serve.endpoint)
                params = valid_params(call.service, **over)
                result = invoke(client, call.service, params)
                meta = result["ResponseMetadata"]
                assert set(result) == {"ResponseMetadata"}, result
                assert meta["HTTPStatusCode"] == 200
                assert meta["HTTPHeaders"].get("content-type") == call.content_type, meta
                assert meta.get("RequestId"), meta
                sent.append((call, params, meta["RequestId"]))

    lines = c.read_sink(sink)
    assert len(lines) == len(sent), f"the sink holds {len(lines)} lines, expected {len(sent)}: {lines!r}"
    for (call, params, request_id), line in zip(sent, lines):
        token, error, cause = sink_fields(call.service, params)
        assert line.get("dialect") == call.dialect, line
        assert line.get("action") == call.operation, line
        assert line.get("task_token") == token, line
        assert line.get("error") == error, line
        assert line.get("cause") == cause, line
        # the decoded-token fields of the fnf dialect (the token's account among them) are null
        for key in ("execution_id", "event_id", "kind", "account", "verified"):
            assert line.get(key) is None, f"{key} should be null for {call.dialect}: {line!r}"
        if "request_id" in line:
            assert line["request_id"] == request_id, "the sink logged another request id than it answered"
        if "access_key_id" in line:
            assert line["access_key_id"] == c.AWS_ACCESS_KEY_ID
