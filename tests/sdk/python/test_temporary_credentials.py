"""Temporary credentials (`[serve] temporary_credentials`, per route too) seen by the real SDKs:
callers that sign with a session's key id (`ASIA…`, `STS.…`) and carry its session token
(boto3 `aws_session_token=`: `X-Amz-Security-Token`; the Alibaba tea client's
`Config(security_token=...)`: `SecurityToken` in RPC v1, `x-acs-security-token` in ACS3), a key
the gateway's keyring cannot hold.

- `"forward"`: every check but the MAC runs and the request reaches the upstream byte for byte
  as the SDK wrote it (a transparent TCP tap in front of the gateway keeps the SDK's bytes); the
  log line says `"signature": "service"` and the key id (a verified call says `"edge"`), the
  request is counted in `taskgate_signature_left_to_service_total{dialect}`, and the session
  token is never logged. An over-long cause is still refused at the edge.
- `"refuse"` (the default): the unknown-key error (`UnrecognizedClientException`,
  `InvalidAccessKeyID`), nothing forwarded; a route's own `"forward"` overrides it for its hosts.
- The local sink (no upstream) refuses them with the unknown-key error even under `"forward"`.
- Memory (the embedded store): forged reports (an unknown key's temporary credentials, or a
  keyring key's id with a session token and a wrong secret) spend nothing of a keyring key's
  rate and never hold a task, so the genuine report goes through and settles it; an unverified
  report in flight never makes a verified one wait; a forgery copying an unverified request's
  key id and nonce does not make it a replay, while the same bytes sent twice are.

Run: tests/sdk/setup.sh && TASKGATE_BIN=target/release/taskgate tests/sdk/.venv/bin/python -m pytest tests/sdk/python/test_temporary_credentials.py
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import quote

import pytest

import sdkcommon as c

FORWARD = 'temporary_credentials = "forward"'
REFUSE = 'temporary_credentials = "refuse"'

# An IAM role session's credentials: a key id no configuration holds, its secret, its token.
AWS_TEMP_KEY_ID = "ASIAZ3TEMPKEYEXAMPLE"
AWS_TEMP_SECRET = "tEmPoRaRy/SeCrEt+AccessKeyOfTheSessionEXAMPLE"
AWS_SESSION_TOKEN = (
    "IQoJb3JpZ2luX2VjEXAMPLE//////////wEaCXVzLWVhc3QtMSJHMEUCIQDsessionToken+for/a=role"
    "SessionOfALambdaFunctionEXAMPLEsessionTokenValue0123456789abcdef=="
)
# An Alibaba Cloud STS session's credentials.
STS_KEY_ID = "STS.NUgYrLnoC37mZZCNnAbez2EXAMPLE"
STS_SECRET = "sts-temporary-secret-EXAMPLE-4242"
STS_TOKEN = "CAIS8gF1q6Ft5B2yfSjIr5bSEXAMPLEsecurityToken+with/slashes=andTheRestOfTheSTSToken=="

SFN_TOKEN = "AQCEAAAAKgAAAAMAAAAAAAAAAf-temporary-credentials-task+/=0123"
SWF_TOKEN = "AAAAKgAAAAEAAAAAAAAAAswf-temporary-credentials-task+/=0123"
JOB_ID = "3a7c9e1f-5b2d-4e6f-8a0b-1c2d3e4f5a6b"
FNF_HOST = "cn-hangzhou.fnf.aliyuncs.com"
SFN_HOST = "states.us-east-1.amazonaws.com"

UNKNOWN_AWS_KEY = "The security token included in the request is invalid."
LEFT_TO_SERVICE = "taskgate_signature_left_to_service_total"
ACS3 = [False, True]
ACS3_IDS = ["rpc-v1", "acs3"]


# ---------------------------------------------------------------------------------------------
# clients


def temp_aws_client(service: str, endpoint: str, **kwargs):
    """boto3 for `service` at `http://<endpoint>`, signing with the role session's credentials."""
    kwargs.setdefault("key_id", AWS_TEMP_KEY_ID)
    kwargs.setdefault("secret", AWS_TEMP_SECRET)
    kwargs.setdefault("session_token", AWS_SESSION_TOKEN)
    return c.aws_client(service, endpoint, **kwargs)


def failure_params(service: str, **over) -> dict:
    if service == "stepfunctions":
        params = {"taskToken": SFN_TOKEN, "error": "Worker.Crashed", "cause": c.CAUSE}
    elif service == "swf":
        params = {"taskToken": SWF_TOKEN, "reason": "Worker.Crashed", "details": c.CAUSE}
    else:
        params = {"jobId": JOB_ID, "failureDetails": {"type": "JobFailed", "message": c.CAUSE}}
    params.update(over)
    return params


def report_failure(client, service: str, **over) -> dict:
    return getattr(client, c.AWS_CALL_BY_SERVICE[service].method)(**failure_params(service, **over))


def sts_tea_client(
    endpoint: str,
    *,
    acs3: bool,
    key_id: str = STS_KEY_ID,
    secret: str = STS_SECRET,
    token: str | None = STS_TOKEN,
    proxy: str | None = None,
):
    """The Alibaba tea client (alibabacloud-fnf20190315) with STS credentials: `security_token`
    makes it send `SecurityToken` (RPC v1) or `x-acs-security-token` (ACS3). With `proxy`,
    `endpoint` is the service's host, reached through that HTTP proxy."""
    from alibabacloud_fnf20190315.client import Client
    from alibabacloud_tea_openapi import models as open_api_models

    config = open_api_models.Config(
        access_key_id=key_id,
        access_key_secret=secret,
        endpoint=endpoint,
        protocol="http",
        region_id="cn-hangzhou",
    )
    if token is not None:
        config.security_token = token
    if proxy is not None:
        config.http_proxy = proxy
    client = Client(config)
    if acs3:
        client._signature_algorithm = "ACS3-HMAC-SHA256"  # see sdkcommon._tea_client
    return client


def report_task_failed(client, token: str, cause: str = c.CAUSE):
    from alibabacloud_fnf20190315 import models as fnf_models

    resp = client.report_task_failed(fnf_models.ReportTaskFailedRequest(task_token=token, error=c.ERROR, cause=cause))
    assert resp.status_code == 200
    return resp


def new_fnf_token() -> str:
    return c.make_task_token(str(uuid.uuid4()), 1000 + uuid.uuid4().int % 100000)


def expect_fnf_error(send, code: str, status: int) -> BaseException:
    exc = c.expect_sdk_error(send)
    assert (c.sdk_error_code(exc), getattr(exc, "statusCode", None)) == (code, status), exc
    return exc


def expect_aws_error(send, code: str, status: int = 400) -> str:
    exc = c.expect_client_error(send)
    got = (exc.response["Error"]["Code"], exc.response["ResponseMetadata"]["HTTPStatusCode"])
    assert got == (code, status), exc.response
    return exc.response["Error"]["Message"]


# ---------------------------------------------------------------------------------------------
# the gateway's log and metrics


def request_lines(serve: c.Serve, count: int) -> list[dict]:
    """The per-request log lines, once there are (at least) `count` of them."""
    return serve.wait_for_log_lines(count)


def left_to_service(serve: c.Serve) -> dict[str, int]:
    """`taskgate_signature_left_to_service_total` by dialect (absent rows: 0)."""
    out = {}
    for line in serve.metrics().splitlines():
        m = re.fullmatch(LEFT_TO_SERVICE + r'\{dialect="([a-z]+)"\} (\d+)', line)
        if m:
            out[m.group(1)] = int(m.group(2))
    return out


def assert_left_to_service(serve: c.Serve, **counts: int) -> None:
    """The metric holds `counts` (dialect=N; waits for them) and no other non-zero row."""
    for dialect, n in counts.items():
        serve.wait_for_metric(f'{LEFT_TO_SERVICE}{{dialect="{dialect}"}} {n}')
    others = {d: n for d, n in left_to_service(serve).items() if d not in counts and n}
    assert not others, f"{LEFT_TO_SERVICE} counted other dialects: {others}"


def assert_no_secrets_logged(serve: c.Serve) -> None:
    text = serve.stderr_text()
    for secret in (AWS_SESSION_TOKEN, STS_TOKEN, AWS_TEMP_SECRET, STS_SECRET):
        for form in {secret, quote(secret, safe=""), quote(secret, safe="/")}:
            assert form not in text, "a session token or secret is in the log"
    assert c.CAUSE not in text


def forwarded_once(tap: c.Tap, rec: c.Recorder) -> c.RawRequest:
    """The one request the SDK wrote through the tap reached `rec` unchanged; returns it."""
    sent = tap.requests()
    assert len(sent) == 1, f"the SDK sent {len(sent)} requests through the tap, expected one"
    assert len(rec.captures) == 1, f"the upstream got {len(rec.captures)} requests, expected exactly one"
    c.assert_forwarded_exactly(sent[0], rec.captures[0].raw)
    return c.parse_raw(rec.captures[0].raw)


def config(tmp_path: Path, fnf: c.Recorder, aws: c.Recorder, extra: str = FORWARD, **kwargs) -> Path:
    return c.recorders_config(tmp_path / f"taskgate-{uuid.uuid4().hex[:8]}.toml", fnf, aws, extra=extra, **kwargs)


# ---------------------------------------------------------------------------------------------
# 1. boto3 with an IAM role session's credentials


def test_boto3_temporary_credentials_are_forwarded_byte_for_byte_under_forward(tmp_path: Path) -> None:
    with c.Recorder() as fnf, c.Recorder(answer="aws") as aws:
        with c.Serve(config(tmp_path, fnf, aws), workdir=tmp_path) as serve, c.Tap(serve.port) as tap:
            client, signed = temp_aws_client("stepfunctions", tap.endpoint)
            result = report_failure(client, "stepfunctions")
            up = forwarded_once(tap, aws)
            assert result["ResponseMetadata"]["RequestId"] == aws.captures[0].request_id, "the upstream's answer"
            auth = up.header("authorization")
            assert auth == signed[0].header("authorization"), "the signature boto3 made"
            assert c.credential_scope(auth)[0] == AWS_TEMP_KEY_ID
            assert up.header("x-amz-security-token") == AWS_SESSION_TOKEN
            assert "x-amz-security-token" in c.signed_headers(auth), "boto3 signs the session token"
            assert json.loads(up.body) == failure_params("stepfunctions")

            # A verified call on the same gateway: signed by a keyring key, checked at the edge.
            aws.clear()
            tap.clear()
            verified, _ = c.aws_client("stepfunctions", tap.endpoint)
            report_failure(verified, "stepfunctions")
            forwarded_once(tap, aws)

            temp, edge = request_lines(serve, 2)
            assert (temp["code"], temp["status"], temp["dialect"], temp["action"]) == (
                "forwarded", 200, "states", "SendTaskFailure"), temp
            assert (temp["signature"], temp["access_key_id"]) == ("service", AWS_TEMP_KEY_ID), temp
            assert (edge["signature"], edge["access_key_id"]) == ("edge", c.AWS_ACCESS_KEY_ID), edge
            assert edge["code"] == "forwarded", edge
            assert_left_to_service(serve, states=1)
            assert_no_secrets_logged(serve)


@pytest.mark.parametrize("extra", ["", REFUSE], ids=["default", "refuse"])
def test_boto3_temporary_credentials_are_an_unknown_key_under_refuse(extra: str, tmp_path: Path) -> None:
    with c.Recorder() as fnf, c.Recorder(answer="aws") as aws:
        with c.Serve(config(tmp_path, fnf, aws, extra=extra), workdir=tmp_path) as serve:
            for service in ("stepfunctions", "swf", "codepipeline"):
                client, _ = temp_aws_client(service, serve.endpoint)
                message = expect_aws_error(lambda: report_failure(client, service), "UnrecognizedClientException")
                assert message == UNKNOWN_AWS_KEY
            assert aws.captures == [], "a refused call reached the upstream"
            lines = request_lines(serve, 3)
            assert [line["code"] for line in lines] == ["UnrecognizedClientException"] * 3
            assert not [line for line in lines if line.get("signature") == "service"], lines
            assert_left_to_service(serve)
            assert_no_secrets_logged(serve)


@pytest.mark.parametrize("service", ["swf", "codepipeline"])
def test_boto3_swf_and_codepipeline_temporary_credentials_reach_the_upstream(service: str, tmp_path: Path) -> None:
    call = c.AWS_CALL_BY_SERVICE[service]
    with c.Recorder() as fnf, c.Recorder(answer="aws") as aws:
        with c.Serve(config(tmp_path, fnf, aws), workdir=tmp_path) as serve, c.Tap(serve.port) as tap:
            client, signed = temp_aws_client(service, tap.endpoint)
            result = report_failure(client, service)
            up = forwarded_once(tap, aws)
            assert result["ResponseMetadata"]["RequestId"] == aws.captures[0].request_id
            assert up.header("x-amz-target") == call.target
            assert up.header("x-amz-security-token") == AWS_SESSION_TOKEN
            assert up.header("authorization") == signed[0].header("authorization")
            [line] = request_lines(serve, 1)
            assert (line["signature"], line["access_key_id"], line["dialect"]) == ("service", AWS_TEMP_KEY_ID, call.dialect)
            assert_left_to_service(serve, **{call.dialect: 1})
            assert_no_secrets_logged(serve)


# ---------------------------------------------------------------------------------------------
# 2. a route's own setting


def proxied_temp_aws_client(proxy: str):
    """boto3 with the role session's credentials, for the service's real `http://` endpoint,
    through `proxy` (HTTP proxy mode: the request line in absolute form)."""
    import boto3
    from botocore.config import Config

    session = boto3.session.Session(
        aws_access_key_id=AWS_TEMP_KEY_ID,
        aws_secret_access_key=AWS_TEMP_SECRET,
        aws_session_token=AWS_SESSION_TOKEN,
        region_name=c.AWS_REGION,
    )
    return session.client(
        "stepfunctions",
        endpoint_url=f"http://{SFN_HOST}",
        config=Config(proxies={"http": proxy}, retries={"total_max_attempts": 1, "mode": "standard"},
                      connect_timeout=10, read_timeout=30),
    )


def test_a_routes_forward_overrides_the_default_refuse(tmp_path: Path) -> None:
    """`[serve]` keeps the default ("refuse"); the routes for the services' hosts say "forward":
    the SDKs through the gateway as their HTTP proxy (routed by host) are forwarded, the same
    credentials sent to the gateway's own address (the default upstreams) are refused."""
    with c.Recorder() as fnf, c.Recorder(answer="aws") as aws, \
            c.Recorder() as routed_fnf, c.Recorder(answer="aws") as routed_aws:
        routes = (
            f'\n[[serve.routes]]\nhost = "*.amazonaws.com"\nupstream = "http://{routed_aws.endpoint}"\n{FORWARD}\n'
            f'\n[[serve.routes]]\nhost = "*.fnf.aliyuncs.com"\nupstream = "http://{routed_fnf.endpoint}"\n{FORWARD}\n'
        )
        with c.Serve(config(tmp_path, fnf, aws, extra=routes), workdir=tmp_path) as serve, c.Tap(serve.port) as tap:
            result = proxied_temp_aws_client(tap.url).send_task_failure(**failure_params("stepfunctions"))
            [sent] = tap.requests()
            assert sent.startswith(f"POST http://{SFN_HOST}/ ".encode()), sent[:80]
            assert len(routed_aws.captures) == 1, "the route's upstream did not get the call"
            assert result["ResponseMetadata"]["RequestId"] == routed_aws.captures[0].request_id
            c.assert_forwarded_exactly(sent, routed_aws.captures[0].raw)
            assert c.parse_raw(routed_aws.captures[0].raw).header("x-amz-security-token") == AWS_SESSION_TOKEN

            tap.clear()
            token = new_fnf_token()
            resp = report_task_failed(sts_tea_client(FNF_HOST, acs3=False, proxy=tap.url), token)
            [sent] = tap.requests()
            assert sent.startswith(f"POST http://{FNF_HOST}/?".encode()), sent[:80]
            assert len(routed_fnf.captures) == 1, "the route's upstream did not get the call"
            assert resp.body.request_id == routed_fnf.captures[0].request_id
            c.assert_forwarded_exactly(sent, routed_fnf.captures[0].raw)
            assert c.parse_raw(routed_fnf.captures[0].raw).query["SecurityToken"] == STS_TOKEN

            # Not for a routed host: the [serve] setting, the default "refuse".
            client, _ = temp_aws_client("stepfunctions", serve.endpoint)
            assert expect_aws_error(lambda: report_failure(client, "stepfunctions"), "UnrecognizedClientException") == UNKNOWN_AWS_KEY
            expect_fnf_error(lambda: report_task_failed(sts_tea_client(serve.endpoint, acs3=False), token),
                             "InvalidAccessKeyID", 403)
            assert aws.captures == [] and fnf.captures == [], "a refused call reached the default upstream"
            assert len(routed_aws.captures) == 1 and len(routed_fnf.captures) == 1

            lines = request_lines(serve, 4)
            routed = [line for line in lines if line["status"] == 200]
            assert [(line["signature"], line["access_key_id"], line["upstream"]) for line in routed] == [
                ("service", AWS_TEMP_KEY_ID, f"http://{routed_aws.endpoint}"),
                ("service", STS_KEY_ID, f"http://{routed_fnf.endpoint}"),
            ], routed
            assert_left_to_service(serve, states=1, fnf=1)
            assert_no_secrets_logged(serve)


# ---------------------------------------------------------------------------------------------
# 3. the Alibaba tea client with STS credentials


@pytest.mark.parametrize("acs3", ACS3, ids=ACS3_IDS)
def test_alibaba_sts_credentials_are_forwarded_unchanged_under_forward(acs3: bool, tmp_path: Path) -> None:
    token = new_fnf_token()
    with c.Recorder() as fnf, c.Recorder(answer="aws") as aws:
        with c.Serve(config(tmp_path, fnf, aws), workdir=tmp_path) as serve, c.Tap(serve.port) as tap:
            resp = report_task_failed(sts_tea_client(tap.endpoint, acs3=acs3), token)
            assert resp.body.event_id == c.EVENT_ID and resp.body.request_id == fnf.captures[0].request_id
            up = forwarded_once(tap, fnf)
            params = {**up.query, **up.form}
            assert (params["TaskToken"], params["Error"], params["Cause"]) == (token, c.ERROR, c.CAUSE)
            if acs3:
                assert up.header("x-acs-security-token") == STS_TOKEN
                auth = up.header("authorization")
                assert auth.startswith(f"ACS3-HMAC-SHA256 Credential={STS_KEY_ID},"), auth
                assert "x-acs-security-token" in re.search(r"SignedHeaders=([^,]+)", auth).group(1).split(";")
                assert "SecurityToken" not in params
            else:
                assert (params["SecurityToken"], params["AccessKeyId"]) == (STS_TOKEN, STS_KEY_ID)
                assert re.fullmatch(r"[A-Za-z0-9+/]{27}=", params["Signature"]), params["Signature"]

            # A verified report from the keyring's key on the same gateway.
            fnf.clear()
            tap.clear()
            send = c.send_tea_acs3 if acs3 else c.send_tea_rpc
            send(tap.endpoint, new_fnf_token(), "E", "c")
            forwarded_once(tap, fnf)

            temp, edge = request_lines(serve, 2)
            assert (temp["code"], temp["status"], temp["dialect"], temp["action"]) == (
                "forwarded", 200, "fnf", "ReportTaskFailed"), temp
            assert (temp["signature"], temp["access_key_id"]) == ("service", STS_KEY_ID), temp
            assert (edge["signature"], edge["access_key_id"]) == ("edge", c.ACCESS_KEY_ID), edge
            assert_left_to_service(serve, fnf=1)
            assert_no_secrets_logged(serve)


@pytest.mark.parametrize("acs3", ACS3, ids=ACS3_IDS)
@pytest.mark.parametrize("extra", ["", REFUSE], ids=["default", "refuse"])
def test_alibaba_sts_credentials_are_an_unknown_key_under_refuse(acs3: bool, extra: str, tmp_path: Path) -> None:
    with c.Recorder() as fnf, c.Recorder(answer="aws") as aws:
        with c.Serve(config(tmp_path, fnf, aws, extra=extra), workdir=tmp_path) as serve:
            exc = expect_fnf_error(lambda: report_task_failed(sts_tea_client(serve.endpoint, acs3=acs3), new_fnf_token()),
                                   "InvalidAccessKeyID", 403)
            assert STS_KEY_ID in str(exc.message), exc
            assert fnf.captures == [], "a refused call reached the upstream"
            [line] = request_lines(serve, 1)
            assert line["code"] == "InvalidAccessKeyID" and line.get("signature") != "service", line
            assert_left_to_service(serve)
            assert_no_secrets_logged(serve)


# ---------------------------------------------------------------------------------------------
# 4. what is checked still is: an over-long cause


def test_an_over_long_cause_with_temporary_credentials_is_refused_at_the_edge(tmp_path: Path) -> None:
    with c.Recorder() as fnf, c.Recorder(answer="aws") as aws:
        with c.Serve(config(tmp_path, fnf, aws), workdir=tmp_path) as serve:
            client, _ = temp_aws_client("stepfunctions", serve.endpoint)
            message = expect_aws_error(lambda: report_failure(client, "stepfunctions", cause="x" * 32769), "ValidationException")
            assert message == (
                "1 validation error detected: Value at 'cause' failed to satisfy constraint: "
                "Member must have length less than or equal to 32768"
            )
            for acs3 in ACS3:
                expect_fnf_error(
                    lambda: report_task_failed(sts_tea_client(serve.endpoint, acs3=acs3), new_fnf_token(), cause="x" * 4097),
                    "InvalidArgument", 400,
                )
            assert aws.captures == [] and fnf.captures == [], "an over-long cause reached the upstream"
            # At the limit, the same credentials go through.
            report_failure(client, "stepfunctions", cause="x" * 32768)
            report_task_failed(sts_tea_client(serve.endpoint, acs3=False), new_fnf_token(), cause="x" * 4096)
            assert len(aws.captures) == 1 and len(fnf.captures) == 1
            lines = request_lines(serve, 5)
            assert [line["code"] for line in lines[:3]] == ["ValidationException", "InvalidArgument", "InvalidArgument"]
            assert_left_to_service(serve, states=1, fnf=1)


# ---------------------------------------------------------------------------------------------
# 5. the sink never answers as the service for a signature nobody verified


def test_the_sink_refuses_temporary_credentials_under_forward(tmp_path: Path) -> None:
    sink = tmp_path / "sink.jsonl"
    path = tmp_path / "sink.toml"
    path.write_text(
        c.serve_config_toml(sink_path=sink, extra=FORWARD, extra_access_keys=c.AWS_ACCESS_KEYS), encoding="utf-8"
    )
    with c.Serve(path, workdir=tmp_path) as serve:
        for service in ("stepfunctions", "swf", "codepipeline"):
            client, _ = temp_aws_client(service, serve.endpoint)
            assert expect_aws_error(lambda: report_failure(client, service), "UnrecognizedClientException") == UNKNOWN_AWS_KEY
        for acs3 in ACS3:
            expect_fnf_error(lambda: report_task_failed(sts_tea_client(serve.endpoint, acs3=acs3), new_fnf_token()),
                             "InvalidAccessKeyID", 403)
        assert c.read_sink(sink) == [], "the sink recorded a call nobody verified"
        # The keyring's keys are recorded as ever.
        verified, _ = c.aws_client("stepfunctions", serve.endpoint)
        report_failure(verified, "stepfunctions")
        c.send_tea_rpc(serve.endpoint, new_fnf_token(), "E", "c")
        lines = c.read_sink(sink)
        assert [line["dialect"] for line in lines] == ["states", "fnf"], lines
        codes = [line["code"] for line in request_lines(serve, 7)]
        assert codes[:5] == ["UnrecognizedClientException"] * 3 + ["InvalidAccessKeyID"] * 2, codes
        assert_no_secrets_logged(serve)


# ---------------------------------------------------------------------------------------------
# 6. memory: forged, unverified requests cannot harm a keyring key's caller


def memory_config(tmp_path: Path, fnf: c.Recorder, aws: c.Recorder, *, ledger: str = "") -> Path:
    """Both keyring keys at one request a second with a burst of two, the embedded store,
    temporary credentials forwarded, Alibaba calls to `fnf` and AWS calls to `aws`."""
    str_ = json.dumps
    text = f"""[limits]
max_body_bytes = {c.AWS_MAX_BODY_BYTES}
max_clock_skew_seconds = 900

[[access_keys]]
id = {str_(c.ACCESS_KEY_ID)}
secret = {str_(c.ACCESS_KEY_SECRET)}
account = {str_(c.ACCOUNT)}
rate_per_second = 1
burst = 2

[[access_keys]]
id = {str_(c.AWS_ACCESS_KEY_ID)}
secret = {str_(c.AWS_SECRET_ACCESS_KEY)}
account = {str_(c.AWS_ACCOUNT)}
rate_per_second = 1
burst = 2

[[token_keys]]
account = {str_(c.ACCOUNT)}
secret = {str_(c.TOKEN_KEY)}

[store]
kind = "embedded"
path = {str_(str(tmp_path / f"state-{uuid.uuid4().hex[:8]}.redb"))}
{ledger}
[serve]
listen = "127.0.0.1:0"
admin_listen = "127.0.0.1:0"
upstream_timeout_ms = 10000
{FORWARD}

[serve.upstreams]
fnf = {str_(f"http://{fnf.endpoint}")}
states = {str_(f"http://{aws.endpoint}")}
swf = {str_(f"http://{aws.endpoint}")}
codepipeline = {str_(f"http://{aws.endpoint}")}
"""
    path = tmp_path / f"memory-{uuid.uuid4().hex[:8]}.toml"
    path.write_text(text, encoding="utf-8")
    return path


FORGERIES = 10


def test_a_forged_flood_neither_spends_a_keys_rate_nor_holds_its_task_boto3(tmp_path: Path) -> None:
    with c.Recorder() as fnf, c.Recorder(answer="aws") as aws:
        with c.Serve(memory_config(tmp_path, fnf, aws), workdir=tmp_path) as serve:
            # An unknown key's temporary credentials: forwarded for the service to judge.
            for _ in range(FORGERIES):
                client, _ = temp_aws_client("stepfunctions", serve.endpoint)
                report_failure(client, "stepfunctions")
            assert len(aws.captures) == FORGERIES
            # The keyring key's id with a session token and a wrong secret: a signature mismatch.
            for _ in range(FORGERIES):
                client, _ = temp_aws_client("stepfunctions", serve.endpoint, key_id=c.AWS_ACCESS_KEY_ID)
                expect_aws_error(lambda: report_failure(client, "stepfunctions"), "InvalidSignatureException")
            assert len(aws.captures) == FORGERIES
            aws.clear()

            # The genuine report: not throttled, not kept waiting, forwarded; it settles the task.
            genuine, _ = c.aws_client("stepfunctions", serve.endpoint)
            result = report_failure(genuine, "stepfunctions")
            assert result["ResponseMetadata"]["RequestId"] == aws.captures[0].request_id
            # Its second report is answered at the edge: the task is settled.
            again, _ = c.aws_client("stepfunctions", serve.endpoint)
            with pytest.raises(again.exceptions.TaskTimedOut):
                report_failure(again, "stepfunctions")
            # So is an unverified one: the settled task is looked up for it too.
            late, _ = temp_aws_client("stepfunctions", serve.endpoint)
            with pytest.raises(late.exceptions.TaskTimedOut):
                report_failure(late, "stepfunctions")
            assert len(aws.captures) == 1, "a report for the settled task reached the upstream"
            codes = [line["code"] for line in request_lines(serve, 2 * FORGERIES + 3)]
            assert codes == ["forwarded"] * FORGERIES + ["InvalidSignatureException"] * FORGERIES + [
                "forwarded", "TaskTimedOut", "TaskTimedOut"], codes


def test_a_forged_flood_neither_spends_a_keys_rate_nor_holds_its_task_alibaba(tmp_path: Path) -> None:
    token = new_fnf_token()
    with c.Recorder() as fnf, c.Recorder(answer="aws") as aws:
        with c.Serve(memory_config(tmp_path, fnf, aws), workdir=tmp_path) as serve:
            for i in range(FORGERIES):
                report_task_failed(sts_tea_client(serve.endpoint, acs3=bool(i % 2)), token)
            assert len(fnf.captures) == FORGERIES
            for i in range(FORGERIES):
                forged = sts_tea_client(serve.endpoint, acs3=bool(i % 2), key_id=c.ACCESS_KEY_ID, secret=c.WRONG_SECRET)
                expect_fnf_error(lambda: report_task_failed(forged, token), "SignatureNotMatch", 403)
            assert len(fnf.captures) == FORGERIES
            fnf.clear()

            result = c.send_tea_rpc(serve.endpoint, token, c.ERROR, c.CAUSE)
            assert result.request_id == fnf.captures[0].request_id, "the genuine report was forwarded"
            expect_fnf_error(lambda: c.send_tea_acs3(serve.endpoint, token, c.ERROR, c.CAUSE), "TaskAlreadyCompleted", 400)
            expect_fnf_error(lambda: report_task_failed(sts_tea_client(serve.endpoint, acs3=False), token),
                             "TaskAlreadyCompleted", 400)
            assert len(fnf.captures) == 1, "a report for the settled task reached the upstream"


def test_an_unverified_report_in_flight_never_makes_the_verified_one_wait(tmp_path: Path) -> None:
    """The upstream holds every answer for 3 s; duplicates wait at most 300 ms. An unverified
    report for task T is at the upstream when the genuine report for T arrives: had it held T,
    the genuine one would wait and be answered ThrottlingException (the ledger's "still
    unknown"); it goes on instead, and then settles T."""
    ledger = "\n[ledger]\nwait_ms = 300\n"
    with c.Recorder() as fnf, c.Recorder(answer="aws", delay=3.0) as aws:
        with c.Serve(memory_config(tmp_path, fnf, aws, ledger=ledger), workdir=tmp_path) as serve:
            forged, _ = temp_aws_client("stepfunctions", serve.endpoint)
            outcome: list[object] = []

            def send_forged() -> None:
                try:
                    outcome.append(report_failure(forged, "stepfunctions"))
                except Exception as exc:  # noqa: BLE001 (reported below)
                    outcome.append(exc)

            thread = threading.Thread(target=send_forged, daemon=True)
            thread.start()
            deadline = time.monotonic() + 10
            while not aws.captures:
                assert time.monotonic() < deadline, "the unverified report never reached the upstream"
                time.sleep(0.02)
            assert json.loads(c.parse_raw(aws.captures[0].raw).body)["taskToken"] == SFN_TOKEN

            genuine, _ = c.aws_client("stepfunctions", serve.endpoint)
            result = report_failure(genuine, "stepfunctions")
            assert result["ResponseMetadata"]["HTTPStatusCode"] == 200
            assert len(aws.captures) == 2, "the genuine report was not forwarded"
            thread.join(timeout=30)
            assert len(outcome) == 1 and isinstance(outcome[0], dict), outcome

            again, _ = c.aws_client("stepfunctions", serve.endpoint)
            with pytest.raises(again.exceptions.TaskTimedOut):
                report_failure(again, "stepfunctions")
            assert len(aws.captures) == 2


def forge_signature(raw: bytes, acs3: bool) -> bytes:
    """The same request with another MAC of the same form: key id, nonce, everything else kept."""
    other = hashlib.sha256(raw).digest()
    if acs3:
        forged, n = re.subn(rb"(\r\nAuthorization: ACS3-HMAC-SHA256 [^\r]*Signature=)[0-9a-f]{64}",
                            lambda m: m.group(1) + other.hex().encode(), raw, count=1, flags=re.IGNORECASE)
    else:
        mac = quote(base64.b64encode(other[:20]).decode(), safe="").encode()
        forged, n = re.subn(rb"([?&]Signature=)[^& ]+", lambda m: m.group(1) + mac, raw, count=1)
    assert n == 1 and forged != raw and len(forged.split(b"\r\n\r\n", 1)[1]) == len(raw.split(b"\r\n\r\n", 1)[1])
    return forged


@pytest.mark.parametrize("acs3", ACS3, ids=ACS3_IDS)
def test_a_forgery_copying_the_key_id_and_nonce_does_not_make_the_genuine_request_a_replay(acs3: bool, tmp_path: Path) -> None:
    with c.Recorder() as fnf, c.Recorder(answer="aws") as aws:
        # The genuine request, as the SDK writes it (signed by its STS session).
        report_task_failed(sts_tea_client(fnf.endpoint, acs3=acs3), new_fnf_token())
        genuine = fnf.captures[0].raw
        fnf.clear()
        forged = forge_signature(genuine, acs3)
        nonce_of = (lambda raw: c.parse_raw(raw).header("x-acs-signature-nonce")) if acs3 else \
            (lambda raw: c.parse_raw(raw).query["SignatureNonce"])
        assert nonce_of(forged) == nonce_of(genuine)

        with c.Serve(memory_config(tmp_path, fnf, aws), workdir=tmp_path) as serve:
            status, body = c.send_raw(serve.endpoint, forged)
            assert status == 200, body
            status, body = c.send_raw(serve.endpoint, genuine)
            assert status == 200, f"the genuine request after the forgery: {status} {body!r}"
            assert len(fnf.captures) == 2, "the upstream did not get the forgery and the genuine request"
            c.assert_forwarded_exactly(forged, fnf.captures[0].raw)
            c.assert_forwarded_exactly(genuine, fnf.captures[1].raw)
            # The very same bytes again are a replay.
            status, body = c.send_raw(serve.endpoint, genuine)
            assert (status, json.loads(body).get("Code")) == (400, "SignatureNonceUsed"), body
            assert len(fnf.captures) == 2
            assert [line["code"] for line in request_lines(serve, 3)] == ["forwarded", "forwarded", "SignatureNonceUsed"]
