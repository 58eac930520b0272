"""The edge signs for workers without cloud credentials (`sign_as`), with the vendors' real SDKs.

A worker signs with a key the gateway issued it (`[[access_keys]] id = "WORKER0001"`, `sign_as =
"cloud"`), exactly as it would sign for the service; the edge verifies that signature as it
verifies every callback and forwards the callback signed with its own `[[credentials]]` entry
"cloud" (SigV4; RPC v1 or ACS3 as the caller used). Behind the edge stands a second
`taskgate serve`, the "service": no upstream (its sink records what it accepts and answers with
the service's own success body), and only the cloud credential in its `[[access_keys]]`, so it
verifies every re-signed request byte for byte as the service would.

- boto3 signed with the worker's key, every AWS callback (Step Functions SendTaskFailure /
  SendTaskSuccess / SendTaskHeartbeat, SWF RespondActivityTaskFailed / Completed / Canceled /
  RecordActivityTaskHeartbeat, CodePipeline PutJobFailureResult / PutJobSuccessResult /
  AcknowledgeJob): the SDK gets the service gateway's answer, the service's sink records the call
  under the cloud key id, the edge's log line names the worker's key and the credential, the edge
  counts it in `taskgate_resigned_total{dialect,credential}`, and no secret is in either log.
- The Alibaba SDKs (alibabacloud-fnf20190315 with RPC v1 and ACS3, the legacy
  aliyun-python-sdk-fnf): ReportTaskFailed and ReportTaskSucceeded, the same way.
- A wrong worker secret: the vendor's signature error at the edge (InvalidSignatureException,
  SignatureNotMatch), nothing re-signed, the service's sink empty.
- A credential with a session token (the AWS one inline, the Alibaba STS one from the
  environment, `secret_env` / `session_token_env`): what the edge forwards (a recording upstream
  in place of the service) carries the token where the scheme signs it (`X-Amz-Security-Token`,
  `SecurityToken`, `x-acs-security-token`) under the credential's key id, with a new signature
  nonce; `taskgate check`, with the credential as an access key, forwards it.

Run: tests/sdk/setup.sh && TASKGATE_BIN=target/release/taskgate tests/sdk/.venv/bin/python -m pytest tests/sdk/python/test_resign.py
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import re
import time
import uuid
from pathlib import Path
from urllib.parse import quote

import pytest

import sdkcommon as c

# The worker's key: what the gateway issued it, never a cloud credential.
WORKER_ID = "WORKER0001"
WORKER_SECRET = "the-workers-own-secret"
WRONG_WORKER_SECRET = "not-the-workers-secret"
# The gateway's cloud credential, which the worker never holds.
CREDENTIAL = "cloud"
CLOUD_ID = "AKIDCLOUDCREDENTIAL"
CLOUD_SECRET = "the-clouds-secret"

# Temporary credentials of the gateway itself: an IAM role session and an Alibaba STS session.
AWS_ROLE = "aws-role"
AWS_SESSION_ID = "ASIAGATEWAYSESSIONEX"
AWS_SESSION_SECRET = "gAtEwAy/RoLe+SessionSecretAccessKeyEXAMPLE"
AWS_SESSION_TOKEN = (
    "IQoJb3JpZ2luX2VjEXAMPLE//////////wEaCXVzLWVhc3QtMSJHMEUCIQDgatewayRole+session/token="
    "ForTheEdgeItselfEXAMPLE0123456789abcdef=="
)
STS_ROLE = "sts-role"
STS_SESSION_ID = "STS.NUgYrLnoGatewaySessionEXAMPLE"
STS_SESSION_SECRET = "sts-gateway-session-secret-EXAMPLE-77"
STS_SESSION_TOKEN = "CAIS8gF1q6Ft5B2yfSjIr5bSGatewaySecurityToken+with/slashes=andTheRestOfIt=="
STS_SECRET_ENV = "TASKGATE_TEST_STS_ROLE_SECRET"
STS_TOKEN_ENV = "TASKGATE_TEST_STS_ROLE_TOKEN"
WORKER_FOR_STS = "WORKER0002"
WORKER_FOR_STS_SECRET = "the-second-workers-secret"

RESIGNED = "taskgate_resigned_total"
SIGNATURE_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. Check your AWS "
    "Secret Access Key and signing method. Consult the service documentation for details."
)

SFN_TOKEN = "AQCEAAAAKgAAAAMAAAAAAAAAAf-resign-task-token+/=0123456789"
SWF_TOKEN = "AAAAKgAAAAEAAAAAAAAAAswf-resign-task-token+/=0123456789"
JOB_ID = "7d3e1a2b-4c5d-4e6f-8a9b-0c1d2e3f4a5b"


# ---------------------------------------------------------------------------------------------
# the AWS callbacks


@dataclasses.dataclass(frozen=True)
class AwsCase:
    service: str  # boto3 client name
    method: str  # boto3 client method
    dialect: str
    action: str
    callback: str  # as the sink records it
    params: dict
    answer: dict  # the service's output

    @property
    def id(self) -> str:
        return self.method


AWS_CASES = [
    AwsCase("stepfunctions", "send_task_failure", "states", "SendTaskFailure", "failed",
            {"taskToken": SFN_TOKEN, "error": "Worker.Crashed", "cause": c.CAUSE}, {}),
    AwsCase("stepfunctions", "send_task_success", "states", "SendTaskSuccess", "succeeded",
            {"taskToken": SFN_TOKEN, "output": json.dumps({"order": 42, "note": c.CAUSE}, ensure_ascii=False)}, {}),
    AwsCase("stepfunctions", "send_task_heartbeat", "states", "SendTaskHeartbeat", "heartbeat",
            {"taskToken": SFN_TOKEN}, {}),
    AwsCase("swf", "respond_activity_task_failed", "swf", "RespondActivityTaskFailed", "failed",
            {"taskToken": SWF_TOKEN, "reason": "Worker.Crashed", "details": c.CAUSE}, {}),
    AwsCase("swf", "respond_activity_task_completed", "swf", "RespondActivityTaskCompleted", "succeeded",
            {"taskToken": SWF_TOKEN, "result": c.CAUSE}, {}),
    AwsCase("swf", "respond_activity_task_canceled", "swf", "RespondActivityTaskCanceled", "canceled",
            {"taskToken": SWF_TOKEN, "details": f"stopped: {c.CAUSE}"}, {}),
    AwsCase("swf", "record_activity_task_heartbeat", "swf", "RecordActivityTaskHeartbeat", "heartbeat",
            {"taskToken": SWF_TOKEN, "details": "50% é"}, {"cancelRequested": False}),
    AwsCase("codepipeline", "put_job_failure_result", "codepipeline", "PutJobFailureResult", "failed",
            {"jobId": JOB_ID, "failureDetails": {"type": "JobFailed", "message": c.CAUSE}}, {}),
    AwsCase("codepipeline", "put_job_success_result", "codepipeline", "PutJobSuccessResult", "succeeded",
            {"jobId": JOB_ID, "outputVariables": {"IMAGE_TAG": "v1.2.3", "note": c.CAUSE}}, {}),
    AwsCase("codepipeline", "acknowledge_job", "codepipeline", "AcknowledgeJob", "heartbeat",
            {"jobId": JOB_ID, "nonce": "nonce-1"}, {"status": "InProgress"}),
]
AWS_FAILURES = [case for case in AWS_CASES if case.callback == "failed"]


def worker_aws_client(service: str, endpoint: str, secret: str = WORKER_SECRET, key_id: str = WORKER_ID):
    """boto3 for `service` at `http://<endpoint>`, signing with the worker's key."""
    return c.aws_client(service, endpoint, key_id=key_id, secret=secret)


def expect_aws_error(send, code: str, status: int) -> str:
    exc = c.expect_client_error(send)
    got = (exc.response["Error"]["Code"], exc.response["ResponseMetadata"]["HTTPStatusCode"])
    assert got == (code, status), exc.response
    return exc.response["Error"]["Message"]


# ---------------------------------------------------------------------------------------------
# the Alibaba SDKs, signing with any key

FNF_LAYOUTS = ["python-tea-rpc", "python-tea-acs3", "python-legacy-rpc"]
FNF_ACTIONS = ["ReportTaskFailed", "ReportTaskSucceeded"]
OUTPUT = json.dumps({"done": True, "note": c.CAUSE}, ensure_ascii=False)


def fnf_report(layout: str, action: str, endpoint: str, token: str, *, key_id: str = WORKER_ID,
               secret: str = WORKER_SECRET) -> c.SdkResult:
    """One ReportTaskFailed (Error, Cause) or ReportTaskSucceeded (Output) from the SDK of `layout`,
    signed with `key_id` / `secret`."""
    if layout == "python-legacy-rpc":
        from aliyunsdkcore.client import AcsClient

        client = AcsClient(key_id, secret, "cn-hangzhou", auto_retry=False)
        if action == "ReportTaskFailed":
            from aliyunsdkfnf.request.v20190315.ReportTaskFailedRequest import ReportTaskFailedRequest

            req = ReportTaskFailedRequest()
            req.set_Error(c.ERROR)
            req.set_Cause(c.CAUSE)
        else:
            from aliyunsdkfnf.request.v20190315.ReportTaskSucceededRequest import ReportTaskSucceededRequest

            req = ReportTaskSucceededRequest()
            req.set_Output(OUTPUT)
        req.set_endpoint(endpoint)
        req.set_protocol_type("http")
        req.set_TaskToken(token)
        body = json.loads(client.do_action_with_exception(req))
        return c.SdkResult(body.get("EventId"), body.get("RequestId"))

    from alibabacloud_fnf20190315 import models as fnf_models
    from alibabacloud_fnf20190315.client import Client
    from alibabacloud_tea_openapi import models as open_api_models

    client = Client(open_api_models.Config(
        access_key_id=key_id, access_key_secret=secret, endpoint=endpoint, protocol="http", region_id="cn-hangzhou",
    ))
    if layout == "python-tea-acs3":
        client._signature_algorithm = "ACS3-HMAC-SHA256"  # see sdkcommon._tea_client
    if action == "ReportTaskFailed":
        resp = client.report_task_failed(fnf_models.ReportTaskFailedRequest(task_token=token, error=c.ERROR, cause=c.CAUSE))
    else:
        resp = client.report_task_succeeded(fnf_models.ReportTaskSucceededRequest(task_token=token, output=OUTPUT))
    assert resp.status_code == 200
    return c.SdkResult(resp.body.event_id, resp.body.request_id)


def new_task() -> tuple[str, int, str]:
    """(execution id, event id, token) of a fresh Alibaba task."""
    execution_id = str(uuid.uuid4())
    event_id = 1000 + uuid.uuid4().int % 100000
    return execution_id, event_id, c.make_task_token(execution_id, event_id)


# ---------------------------------------------------------------------------------------------
# configurations


def access_key(key_id: str, secret: str, sign_as: str | None = None) -> str:
    text = f"[[access_keys]]\nid = {c._toml_string(key_id)}\nsecret = {c._toml_string(secret)}\naccount = {c._toml_string(c.ACCOUNT)}\n"
    if sign_as is not None:
        text += f"sign_as = {c._toml_string(sign_as)}\n"
    return text + "\n"


def credential(name: str, key_id: str, *, secret: str | None = None, secret_env: str | None = None,
               session_token: str | None = None, session_token_env: str | None = None) -> str:
    text = f"[[credentials]]\nname = {c._toml_string(name)}\naccess_key_id = {c._toml_string(key_id)}\n"
    for field, value in (("secret", secret), ("secret_env", secret_env), ("session_token", session_token),
                         ("session_token_env", session_token_env)):
        if value is not None:
            text += f"{field} = {c._toml_string(value)}\n"
    return text + "\n"


def gateway_config(path: Path, keys: str, *, upstream: str | None = None, sink: Path | None = None) -> Path:
    """A `taskgate serve` configuration on 127.0.0.1 port 0 (admin too): `keys` (raw TOML, the
    access keys and credentials), the test token key, no memory; forwarding to `upstream`, or
    recording in `sink`."""
    serve = ["[serve]", 'listen = "127.0.0.1:0"', 'admin_listen = "127.0.0.1:0"', "upstream_timeout_ms = 10000"]
    if upstream is not None:
        serve.append(f"upstream = {c._toml_string(upstream)}")
    if sink is not None:
        serve.append(f"sink_path = {c._toml_string(str(sink))}")
    path.write_text(
        "[limits]\nmax_body_bytes = 65536\nmax_clock_skew_seconds = 900\n\n"
        + keys
        + f"[[token_keys]]\naccount = {c._toml_string(c.ACCOUNT)}\nsecret = {c._toml_string(c.TOKEN_KEY)}\n\n"
        + '[store]\nkind = "none"\n\n'
        + "\n".join(serve) + "\n",
        encoding="utf-8",
    )
    return path


# The service knows the cloud credential as one of its own keys, and nothing of the worker's.
SERVICE_KEYS = access_key(CLOUD_ID, CLOUD_SECRET)
# The edge: the worker's key, re-signed with the credential.
EDGE_KEYS = access_key(WORKER_ID, WORKER_SECRET, sign_as=CREDENTIAL) + credential(CREDENTIAL, CLOUD_ID, secret=CLOUD_SECRET)


# ---------------------------------------------------------------------------------------------
# the edge and the service


def resigned(serve: c.Serve) -> dict[tuple[str, str], int]:
    """`taskgate_resigned_total` by (dialect, credential)."""
    out = {}
    for line in serve.metrics().splitlines():
        m = re.fullmatch(RESIGNED + r'\{dialect="([a-z]+)",credential="([^"]*)"\} (\d+)', line)
        if m:
            out[(m.group(1), m.group(2))] = int(m.group(3))
    return out


def assert_no_secrets_logged(*serves: c.Serve, extra: tuple[str, ...] = ()) -> None:
    for serve in serves:
        text = serve.stderr_text()
        for secret in (CLOUD_SECRET, WORKER_SECRET, WRONG_WORKER_SECRET) + extra:
            for form in {secret, quote(secret, safe=""), quote(secret, safe="/")}:
                assert form not in text, f"a secret is in the log of the gateway at {serve.endpoint}"


@contextlib.contextmanager
def edge_and_service(tmp: Path, edge_keys: str = EDGE_KEYS):
    sink = tmp / "service-sink.jsonl"
    with c.Serve(gateway_config(tmp / "service.toml", SERVICE_KEYS, sink=sink), workdir=tmp) as service:
        edge_config = gateway_config(tmp / "edge.toml", edge_keys, upstream=f"http://{service.endpoint}")
        with c.Serve(edge_config, workdir=tmp) as edge:
            yield c.Pair(edge, service, sink)


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    with edge_and_service(tmp_path_factory.mktemp("resign")) as gateways:
        yield gateways


def assert_resigned_lines(pair: c.Pair, edge_line: dict, service_line: dict, sink_line: dict, dialect: str, action: str) -> None:
    """The edge verified the worker and re-signed; the service verified the credential and recorded it."""
    assert sink_line["access_key_id"] == CLOUD_ID, f"the service recorded another key: {sink_line}"
    assert (sink_line["dialect"], sink_line["action"]) == (dialect, action), sink_line
    assert (edge_line["code"], edge_line["status"], edge_line["dialect"], edge_line["action"]) == (
        "forwarded", 200, dialect, action), edge_line
    assert (edge_line["access_key_id"], edge_line.get("sign_as")) == (WORKER_ID, CREDENTIAL), edge_line
    assert edge_line["signature"] == "edge", edge_line
    assert edge_line["upstream"] == f"http://{pair.service.endpoint}", edge_line
    assert (service_line["status"], service_line["dialect"], service_line["action"]) == (200, dialect, action), service_line
    assert (service_line["access_key_id"], service_line["signature"]) == (CLOUD_ID, "edge"), service_line
    assert service_line.get("sign_as") is None, service_line
    assert service_line["upstream"] == "sink", service_line


# ---------------------------------------------------------------------------------------------
# 1. boto3: every AWS callback


@pytest.mark.parametrize("case", AWS_CASES, ids=[case.id for case in AWS_CASES])
def test_boto3_callback_signed_by_the_worker_reaches_the_service_signed_with_the_credential(case: AwsCase, pair: c.Pair):
    before = pair.counts()
    counted = resigned(pair.edge).get((case.dialect, CREDENTIAL), 0)
    client, signed = worker_aws_client(case.service, pair.edge.endpoint)
    result = getattr(client, case.method)(**case.params)
    meta = result.pop("ResponseMetadata")
    assert meta["HTTPStatusCode"] == 200
    assert result == case.answer, "the service's own output"
    [sent] = signed
    assert c.credential_scope(sent.header("authorization"))[0] == WORKER_ID, "boto3 signed with the worker's key"

    sink_line, edge_line, service_line = pair.one_more(before)
    assert_resigned_lines(pair, edge_line, service_line, sink_line, case.dialect, case.action)
    assert sink_line["request_id"] == meta["RequestId"], "the SDK got the service's answer"
    assert sink_line["callback"] == case.callback, sink_line
    assert sink_line["task_token"] == case.params.get("taskToken", case.params.get("jobId")), sink_line
    pair.edge.wait_for_metric(f'{RESIGNED}{{dialect="{case.dialect}",credential="{CREDENTIAL}"}} {counted + 1}')
    assert_no_secrets_logged(pair.edge, pair.service)


# ---------------------------------------------------------------------------------------------
# 2. the Alibaba SDKs: ReportTaskFailed and ReportTaskSucceeded


@pytest.mark.parametrize("action", FNF_ACTIONS)
@pytest.mark.parametrize("layout", FNF_LAYOUTS)
def test_alibaba_report_signed_by_the_worker_reaches_the_service_signed_with_the_credential(layout: str, action: str, pair: c.Pair):
    before = pair.counts()
    counted = resigned(pair.edge).get(("fnf", CREDENTIAL), 0)
    execution_id, event_id, token = new_task()
    result = fnf_report(layout, action, pair.edge.endpoint, token)

    sink_line, edge_line, service_line = pair.one_more(before)
    assert_resigned_lines(pair, edge_line, service_line, sink_line, "fnf", action)
    assert (result.event_id, result.request_id) == (sink_line["event_id_assigned"], sink_line["request_id"]), \
        "the SDK got the service gateway's answer"
    assert type(result.event_id) is int
    assert sink_line["task_token"] == token
    assert (sink_line["execution_id"], sink_line["event_id"], sink_line["verified"]) == (execution_id, event_id, True)
    if action == "ReportTaskFailed":
        assert (sink_line["callback"], sink_line["error"], sink_line["cause"]) == ("failed", c.ERROR, c.CAUSE), sink_line
    else:
        assert (sink_line["callback"], sink_line["output"]) == ("succeeded", OUTPUT), sink_line
    pair.edge.wait_for_metric(f'{RESIGNED}{{dialect="fnf",credential="{CREDENTIAL}"}} {counted + 1}')
    assert_no_secrets_logged(pair.edge, pair.service)


# ---------------------------------------------------------------------------------------------
# 3. a wrong worker secret is refused at the edge: nothing is signed for it


def test_a_wrong_worker_secret_is_refused_at_the_edge_boto3(tmp_path: Path):
    with edge_and_service(tmp_path) as gateways:
        for case in AWS_FAILURES:
            client, _ = worker_aws_client(case.service, gateways.edge.endpoint, secret=WRONG_WORKER_SECRET)
            message = expect_aws_error(lambda: getattr(client, case.method)(**case.params), "InvalidSignatureException", 400)
            assert message == SIGNATURE_MISMATCH
        assert_refused_at_the_edge(gateways, "InvalidSignatureException", len(AWS_FAILURES))


@pytest.mark.parametrize("layout", FNF_LAYOUTS)
def test_a_wrong_worker_secret_is_refused_at_the_edge_alibaba(layout: str, tmp_path: Path):
    with edge_and_service(tmp_path) as gateways:
        for action in FNF_ACTIONS:
            _, _, token = new_task()
            exc = c.expect_sdk_error(
                lambda: fnf_report(layout, action, gateways.edge.endpoint, token, secret=WRONG_WORKER_SECRET))
            assert c.sdk_error_code(exc) == "SignatureNotMatch", repr(exc)
        assert_refused_at_the_edge(gateways, "SignatureNotMatch", len(FNF_ACTIONS))


def assert_refused_at_the_edge(gateways: c.Pair, code: str, count: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while len(lines := c.request_lines(gateways.edge)) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(lines) == count, f"{len(lines)} edge log lines, expected {count}:\n{gateways.edge.stderr_text()[-3000:]}"
    for line in lines:
        assert line["code"] == code, line
        assert line.get("sign_as") is None, f"a refused call was signed for: {line}"
    assert c.read_sink(gateways.sink) == [], "a refused call reached the service"
    assert c.request_lines(gateways.service) == [], "a refused call reached the service"
    assert not any(resigned(gateways.edge).values()), f"{RESIGNED} counted a refused call"
    assert_no_secrets_logged(gateways.edge, gateways.service)


# ---------------------------------------------------------------------------------------------
# 4. credentials with a session token: what the edge forwards carries it, signed


SESSION_KEYS = (
    access_key(WORKER_ID, WORKER_SECRET, sign_as=AWS_ROLE)
    + access_key(WORKER_FOR_STS, WORKER_FOR_STS_SECRET, sign_as=STS_ROLE)
    + credential(AWS_ROLE, AWS_SESSION_ID, secret=AWS_SESSION_SECRET, session_token=AWS_SESSION_TOKEN)
    + credential(STS_ROLE, STS_SESSION_ID, secret_env=STS_SECRET_ENV, session_token_env=STS_TOKEN_ENV)
)
SESSION_SECRETS = (AWS_SESSION_SECRET, AWS_SESSION_TOKEN, STS_SESSION_SECRET, STS_SESSION_TOKEN, WORKER_FOR_STS_SECRET)


@pytest.fixture(scope="module")
def session_edge(tmp_path_factory):
    """An edge whose credentials carry session tokens (the STS one read from the environment),
    forwarding to a recorder; (edge, tap in front of it, recorder, config for `taskgate check`)."""
    tmp = tmp_path_factory.mktemp("resign-session")
    check_config = gateway_config(
        tmp / "check.toml", access_key(AWS_SESSION_ID, AWS_SESSION_SECRET) + access_key(STS_SESSION_ID, STS_SESSION_SECRET))
    with pytest.MonkeyPatch.context() as env:
        env.setenv(STS_SECRET_ENV, STS_SESSION_SECRET)
        env.setenv(STS_TOKEN_ENV, STS_SESSION_TOKEN)
        with c.Recorder(answer="auto") as rec:
            edge_config = gateway_config(tmp / "edge.toml", SESSION_KEYS, upstream=f"http://{rec.endpoint}")
            with c.Serve(edge_config, workdir=tmp) as edge, c.Tap(edge.port) as tap:
                yield edge, tap, rec, check_config


@pytest.fixture
def session(session_edge):
    edge, tap, rec, check_config = session_edge
    rec.clear()
    tap.clear()
    return edge, tap, rec, check_config


def forwarded_once(tap: c.Tap, rec: c.Recorder) -> tuple[c.RawRequest, c.RawRequest, bytes]:
    """What the SDK wrote through the tap, what the upstream got (parsed) and its raw bytes."""
    sent, got = tap.requests(), rec.captures
    assert len(sent) == 1, f"the SDK sent {len(sent)} requests, expected one"
    assert len(got) == 1, f"the upstream got {len(got)} requests, expected one"
    return c.parse_raw(sent[0]), c.parse_raw(got[0].raw), got[0].raw


def check_forwarded(check_config: Path, tmp_path: Path, raw: bytes) -> dict:
    """`taskgate check`, with the credential as an access key, on what the edge forwarded."""
    path = tmp_path / f"forwarded-{uuid.uuid4().hex[:8]}.http"
    path.write_bytes(raw)
    res = c.taskgate_check(check_config, path)
    assert res.exit_code == 0 and res.output.get("verdict") == "forward", res
    assert res.output["report"]["signature"] == "edge", "the credential's signature verifies, not left to the service"
    return res.output["report"]


def last_request_line(edge: c.Serve, count_before: int, timeout: float = 10.0) -> dict:
    deadline = time.monotonic() + timeout
    while len(lines := c.request_lines(edge)) <= count_before:
        if time.monotonic() > deadline:
            raise AssertionError(f"no new edge log line:\n{edge.stderr_text()[-3000:]}")
        time.sleep(0.05)
    return lines[-1]


@pytest.mark.parametrize("case", AWS_FAILURES, ids=[case.id for case in AWS_FAILURES])
def test_boto3_through_a_credential_with_a_session_token(case: AwsCase, session, tmp_path: Path):
    edge, tap, rec, check_config = session
    lines_before = len(c.request_lines(edge))
    client, signed = worker_aws_client(case.service, tap.endpoint)
    result = getattr(client, case.method)(**case.params)
    sent, up, raw = forwarded_once(tap, rec)
    assert result["ResponseMetadata"]["RequestId"] == rec.captures[0].request_id, "the upstream's answer"

    auth = up.header("authorization")
    scope, worker_scope = c.credential_scope(auth), c.credential_scope(signed[0].header("authorization"))
    assert scope[0] == AWS_SESSION_ID, auth
    assert scope[2:] == worker_scope[2:] == [c.AWS_REGION, c.AWS_CALL_BY_SERVICE[case.service].signing_name, "aws4_request"]
    assert up.header("x-amz-security-token") == AWS_SESSION_TOKEN
    assert "x-amz-security-token" in c.signed_headers(auth), f"the session token is signed: {auth}"
    assert auth != sent.header("authorization")
    assert (up.header("x-amz-target"), up.header("content-type")) == (sent.header("x-amz-target"), sent.header("content-type"))
    assert up.body == sent.body == signed[0].body, "the body the worker signed"
    assert WORKER_ID.encode() not in raw, "the worker's key id went upstream"

    report = check_forwarded(check_config, tmp_path, raw)
    assert (report["access_key_id"], report["dialect"], report["action"]) == (
        AWS_SESSION_ID, case.dialect, case.action), report
    line = last_request_line(edge, lines_before)
    assert (line["code"], line["access_key_id"], line.get("sign_as")) == ("forwarded", WORKER_ID, AWS_ROLE), line
    assert_no_secrets_logged(edge, extra=SESSION_SECRETS)


@pytest.mark.parametrize("action", FNF_ACTIONS)
@pytest.mark.parametrize("layout", FNF_LAYOUTS)
def test_alibaba_through_a_credential_with_a_security_token(layout: str, action: str, session, tmp_path: Path):
    edge, tap, rec, check_config = session
    lines_before = len(c.request_lines(edge))
    counted = resigned(edge).get(("fnf", STS_ROLE), 0)
    execution_id, event_id, token = new_task()
    result = fnf_report(layout, action, tap.endpoint, token, key_id=WORKER_FOR_STS, secret=WORKER_FOR_STS_SECRET)
    sent, up, raw = forwarded_once(tap, rec)
    assert (result.event_id, result.request_id) == (c.EVENT_ID, rec.captures[0].request_id), "the upstream's answer"

    params, sent_params = {**up.query, **up.form}, {**sent.query, **sent.form}
    assert params["TaskToken"] == sent_params["TaskToken"] == token
    if action == "ReportTaskFailed":
        assert (params["Error"], params["Cause"]) == (c.ERROR, c.CAUSE)
    else:
        assert params["Output"] == OUTPUT
    if layout == "python-tea-acs3":
        auth = up.header("authorization")
        assert auth.startswith(f"ACS3-HMAC-SHA256 Credential={STS_SESSION_ID},"), auth
        assert up.header("x-acs-security-token") == STS_SESSION_TOKEN
        assert "x-acs-security-token" in re.search(r"SignedHeaders=([^,]+)", auth).group(1).split(";"), auth
        nonce, sent_nonce = up.header("x-acs-signature-nonce"), sent.header("x-acs-signature-nonce")
        assert "SecurityToken" not in params
    else:
        assert (params["AccessKeyId"], params["SecurityToken"]) == (STS_SESSION_ID, STS_SESSION_TOKEN), params
        assert "SecurityToken" not in sent_params
        assert re.fullmatch(r"[A-Za-z0-9+/]{27}=", params["Signature"]), params["Signature"]
        nonce, sent_nonce = params["SignatureNonce"], sent_params["SignatureNonce"]
    assert nonce and sent_nonce and nonce != sent_nonce, "a new signature nonce"
    assert WORKER_FOR_STS.encode() not in raw, "the worker's key id went upstream"

    report = check_forwarded(check_config, tmp_path, raw)
    assert (report["access_key_id"], report["action"], report["task_token"]) == (STS_SESSION_ID, action, token), report
    assert (report["token"]["execution_id"], report["token"]["event_id"], report["token"]["verified"]) == (
        execution_id, event_id, True)
    line = last_request_line(edge, lines_before)
    assert (line["code"], line["access_key_id"], line.get("sign_as")) == ("forwarded", WORKER_FOR_STS, STS_ROLE), line
    edge.wait_for_metric(f'{RESIGNED}{{dialect="fnf",credential="{STS_ROLE}"}} {counted + 1}')
    assert_no_secrets_logged(edge, extra=SESSION_SECRETS)
