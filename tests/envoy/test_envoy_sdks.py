"""The Envoy plugin (target/proxy-wasm/taskgate.wasm) in the real Envoy, called by the real SDKs:
boto3 (Step Functions, SWF, CodePipeline: failure, success and heartbeat calls) and the three
Alibaba Python SDK layouts (alibabacloud-fnf20190315 RPC v1 and ACS3, aliyun-python-sdk-fnf).

- an accepted call reaches the upstream (tests/sdk/recorder.py, answering as the service)
  byte-identical: a transparent TCP tap in front of Envoy keeps what the SDK wrote;
- a rejected call gets the modelled exception with the exact code, status and message, and
  nothing reaches the upstream;
- the plugin's memory: a replayed request and a second report for a settled task are answered
  by the plugin; a heartbeat settles nothing;
- one log line per request, counters in Envoy's /stats/prometheus, no secret or sensitive field
  in Envoy's log.

Run: tests/envoy/run.sh (builds the plugin, installs Envoy into the SDK venv, runs this folder).
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import pytest

import envoyproxy as e
import sdkcommon as c

SFN_TOKEN = "AQCEAAAAKgAAAAMAAAAAAAAAAf-sfn-task-token+/=0123456789"

# Headers of one hop: `host` stays (Envoy forwards the client's own), the rest a proxy drops.
HOP = c.PROXY_HOP_BY_HOP | {"upgrade"}


@pytest.fixture(scope="module")
def recorder():
    with c.Recorder(answer="auto") as rec:
        yield rec


@pytest.fixture(scope="module")
def envoy(recorder: c.Recorder, tmp_path_factory):
    """Envoy with the plugin in front of the recorder, behind a tap that keeps what clients sent."""
    workdir = tmp_path_factory.mktemp("envoy")
    with e.Envoy(workdir, settings=e.plugin_settings(), upstream_port=recorder.port) as running:
        with c.Tap(running.port) as tap:
            running.tap = tap
            yield running


@pytest.fixture
def served(envoy: e.Envoy, recorder: c.Recorder) -> e.Envoy:
    recorder.clear()
    envoy.tap.clear()
    return envoy


def new_token() -> str:
    return c.make_task_token(str(uuid.uuid4()), 1000 + uuid.uuid4().int % 100000)


def unique(text: str) -> str:
    """A task token or job id no other test uses: the plugin remembers settled tasks."""
    return f"{text}{uuid.uuid4().hex}"


def assert_forwarded_intact(sent: bytes, got: bytes) -> None:
    """The upstream got the request the client wrote: method, target, every end-to-end header
    with its value (`host` included: Envoy keeps the client's), the body byte for byte."""
    client, up = c.parse_raw(sent), c.parse_raw(got)
    assert (up.method, up.path, up.raw_query) == (client.method, client.path, client.raw_query)
    assert up.body == client.body, "the body reached the upstream changed"
    end_to_end = lambda request: sorted((n, v) for n, v in request.headers if n not in HOP)  # noqa: E731
    assert end_to_end(up) == end_to_end(client), f"client sent {client.headers!r}, upstream got {up.headers!r}"


# ---------------------------------------------------------------------------------------------
# accepted calls go on to Envoy's route once, intact, and the service's answer comes back


@pytest.mark.parametrize("layout", c.LAYOUTS, ids=[layout.name for layout in c.LAYOUTS])
def test_alibaba_report_reaches_the_upstream_intact(layout: c.Layout, served: e.Envoy, recorder: c.Recorder):
    result = layout.send(served.tap.endpoint, new_token(), c.ERROR, c.CAUSE)
    captures, sent = recorder.captures, served.tap.requests()
    assert len(captures) == 1 and len(sent) == 1, (captures, sent)
    assert (result.event_id, result.request_id) == (c.EVENT_ID, captures[0].request_id)
    assert_forwarded_intact(sent[0], captures[0].raw)


AWS_CALLS = [
    ("stepfunctions", "send_task_failure", {"error": "Worker.Crashed", "cause": c.CAUSE}),
    ("stepfunctions", "send_task_success", {"output": '{"done": true, "é": [1, 2.5]}'}),
    ("stepfunctions", "send_task_heartbeat", {}),
    ("swf", "respond_activity_task_failed", {"reason": "Worker.Crashed", "details": c.CAUSE}),
    ("swf", "respond_activity_task_completed", {"result": "done"}),
    ("swf", "respond_activity_task_canceled", {"details": "stopped"}),
    ("swf", "record_activity_task_heartbeat", {"details": "50%"}),
    ("codepipeline", "put_job_failure_result", {"failureDetails": {"type": "JobFailed", "message": c.CAUSE}}),
    ("codepipeline", "put_job_success_result", {}),
    ("codepipeline", "acknowledge_job", {"nonce": "1"}),
]


def aws_params(service: str, params: dict) -> dict:
    if service == "codepipeline":
        return {"jobId": str(uuid.uuid4()), **params}
    return {"taskToken": unique(SFN_TOKEN), **params}


@pytest.mark.parametrize("service,method,params", AWS_CALLS, ids=[m for _, m, _ in AWS_CALLS])
def test_aws_call_reaches_the_upstream_intact(service: str, method: str, params: dict, served: e.Envoy,
                                              recorder: c.Recorder):
    client, sent = c.aws_client(service, served.tap.endpoint)
    answer = getattr(client, method)(**aws_params(service, params))
    captures, written = recorder.captures, served.tap.requests()
    assert len(captures) == 1 and len(written) == 1, (captures, written)
    assert answer["ResponseMetadata"]["RequestId"] == captures[0].request_id
    assert c.parse_raw(written[0]).body == sent[0].body
    assert_forwarded_intact(written[0], captures[0].raw)


# ---------------------------------------------------------------------------------------------
# bad calls are answered by the plugin, in the vendor's words, and never reach the upstream


@pytest.mark.parametrize("layout", c.LAYOUTS, ids=[layout.name for layout in c.LAYOUTS])
def test_alibaba_wrong_secret_is_signature_not_match(layout: c.Layout, served: e.Envoy, recorder: c.Recorder):
    exc = c.expect_sdk_error(
        lambda: c.send_with_secret(layout, c.WRONG_SECRET, served.endpoint, new_token(), c.ERROR, c.CAUSE))
    assert c.sdk_error_code(exc) == "SignatureNotMatch", repr(exc)
    assert recorder.captures == []


def test_alibaba_token_made_by_another_key_is_refused(served: e.Envoy, recorder: c.Recorder):
    token = c.make_task_token(str(uuid.uuid4()), 7, key="not-the-token-key")
    exc = c.expect_sdk_error(lambda: c.send_tea_rpc(served.endpoint, token, c.ERROR, c.CAUSE))
    assert c.sdk_error_code(exc) == "InvalidArgument", repr(exc)
    assert "'TaskToken' is not a valid task token: its MAC does not verify." in str(exc), repr(exc)
    assert recorder.captures == []


def test_aws_cause_over_its_limit_is_the_modelled_validation_error(served: e.Envoy, recorder: c.Recorder):
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


def test_aws_wrong_secret_and_unknown_key(served: e.Envoy, recorder: c.Recorder):
    client, _ = c.aws_client("swf", served.endpoint, secret="not-the-secret")
    params = {"taskToken": SFN_TOKEN, "reason": "R"}
    exc = c.expect_client_error(lambda: client.respond_activity_task_failed(**params))
    assert exc.response["Error"]["Code"] == "InvalidSignatureException"
    client, _ = c.aws_client("swf", served.endpoint, key_id="AKIDUNKNOWN")
    exc = c.expect_client_error(lambda: client.respond_activity_task_failed(**params))
    assert exc.response["Error"]["Code"] == "UnrecognizedClientException"
    assert exc.response["Error"]["Message"] == "The security token included in the request is invalid."
    assert recorder.captures == []


# ---------------------------------------------------------------------------------------------
# the plugin's memory: replays and settled tasks, on this Envoy


def test_a_replayed_alibaba_request_is_signature_nonce_used(served: e.Envoy, recorder: c.Recorder):
    c.send_tea_rpc(served.tap.endpoint, new_token(), c.ERROR, c.CAUSE)
    [original] = served.tap.requests()
    assert len(recorder.captures) == 1
    status, body = c.send_raw(served.endpoint, original)
    body = json.loads(body)
    assert (status, body["Code"]) == (400, "SignatureNonceUsed"), body
    assert body["Message"] == "The request signature nonce has been used."
    assert len(recorder.captures) == 1, "the replay reached the upstream"


def test_a_second_alibaba_report_for_a_settled_task_is_task_already_completed(served: e.Envoy,
                                                                              recorder: c.Recorder):
    token = new_token()
    c.send_tea_acs3(served.endpoint, token, c.ERROR, c.CAUSE)
    exc = c.expect_sdk_error(lambda: c.send_tea_rpc(served.endpoint, token, c.ERROR, c.CAUSE))
    assert c.sdk_error_code(exc) == "TaskAlreadyCompleted", repr(exc)
    assert len(recorder.captures) == 1


def test_a_success_settles_a_step_functions_task_and_a_heartbeat_does_not(served: e.Envoy, recorder: c.Recorder):
    client, _ = c.aws_client("stepfunctions", served.endpoint)
    token = unique(SFN_TOKEN)
    client.send_task_heartbeat(taskToken=token)
    client.send_task_heartbeat(taskToken=token)
    client.send_task_success(taskToken=token, output="{}")
    for late in (lambda: client.send_task_failure(taskToken=token, error="E"),
                 lambda: client.send_task_heartbeat(taskToken=token)):
        exc = c.expect_client_error(late)
        assert exc.response["Error"]["Code"] == "TaskTimedOut", exc.response
        assert exc.response["Error"]["Message"] == "Task Timed Out: 'Provided task does not exist anymore'"
    assert len(recorder.captures) == 3


def test_swf_and_codepipeline_answer_a_settled_task_in_their_own_words(served: e.Envoy, recorder: c.Recorder):
    swf, _ = c.aws_client("swf", served.endpoint)
    token = unique(SFN_TOKEN)
    swf.respond_activity_task_canceled(taskToken=token)
    exc = c.expect_client_error(lambda: swf.respond_activity_task_completed(taskToken=token))
    assert exc.response["Error"]["Code"] == "UnknownResourceFault", exc.response
    pipeline, _ = c.aws_client("codepipeline", served.endpoint)
    job = str(uuid.uuid4())
    pipeline.put_job_success_result(jobId=job)
    exc = c.expect_client_error(lambda: pipeline.put_job_failure_result(
        jobId=job, failureDetails={"type": "JobFailed", "message": "late"}))
    assert exc.response["Error"]["Code"] == "InvalidJobStateException", exc.response
    assert len(recorder.captures) == 2


def test_a_dead_upstream_is_the_services_internal_error_and_leaves_the_task_open(tmp_path: Path):
    # Envoy answers itself (503 "upstream connect error"), in the service's words through the
    # shipped local replies: the SDKs get the internal error they know and can retry. The task
    # was never settled, so the next report for it goes on to the upstream again instead of
    # being answered as settled.
    with c.refused_port() as port, e.Envoy(tmp_path, settings=e.plugin_settings(), upstream_port=port) as envoy:
        token = new_token()
        for _ in range(2):
            exc = c.expect_sdk_error(lambda: c.send_tea_rpc(envoy.endpoint, token, "Secret.Error", "secret cause"))
            assert (c.sdk_error_code(exc), c.sdk_error_status(exc)) == ("InternalServerError", 500), repr(exc)
        client, _ = c.aws_client("stepfunctions", envoy.endpoint)
        exc = c.expect_client_error(lambda: client.send_task_failure(taskToken=SFN_TOKEN, error="E"))
        assert exc.response["ResponseMetadata"]["HTTPStatusCode"] == 500, exc.response
        assert exc.response["Error"]["Code"] == "InternalFailure", exc.response
        verdicts = envoy.wait_verdicts(3)
        output = envoy.output()
    assert [(v["code"], v["status"]) for v in verdicts] == [
        ("InternalServerError", 500), ("InternalServerError", 500), ("InternalFailure", 500)], verdicts
    for secret in (c.ACCESS_KEY_SECRET, "Secret.Error", "secret cause"):
        assert secret not in output


# ---------------------------------------------------------------------------------------------
# what an operator sees: one log line a request, counters, no secrets


def test_each_request_is_one_log_line_and_counted_and_no_secret_is_logged(tmp_path: Path, recorder: c.Recorder):
    with e.Envoy(tmp_path, settings=e.plugin_settings(), upstream_port=recorder.port) as envoy:
        c.send_tea_rpc(envoy.endpoint, new_token(), "Secret.Error", "secret cause")
        c.expect_sdk_error(lambda: c.send_with_secret(
            c.LAYOUTS[0], c.WRONG_SECRET, envoy.endpoint, new_token(), "Secret.Error", "secret cause"))
        client, _ = c.aws_client("stepfunctions", envoy.endpoint)
        client.send_task_success(taskToken=unique(SFN_TOKEN), output='{"secret": "output"}')
        verdicts = envoy.wait_verdicts(3)
        prometheus = envoy.admin("/stats/prometheus")
        output = envoy.output()
    assert [(v["dialect"], v["action"], v["code"], v["status"]) for v in verdicts] == [
        ("fnf", "ReportTaskFailed", "forwarded", 200),
        ("fnf", None, "SignatureNotMatch", 403),
        ("states", "SendTaskSuccess", "forwarded", 200),
    ], verdicts
    assert all(len(v["request_id"]) == 36 for v in verdicts), verdicts
    for line in ('taskgate_requests_total{dialect="fnf",code="forwarded",status="200"} 1',
                 'taskgate_requests_total{dialect="fnf",code="SignatureNotMatch",status="403"} 1',
                 'taskgate_requests_total{dialect="states",code="forwarded",status="200"} 1'):
        assert line in prometheus, prometheus
    for secret in (c.ACCESS_KEY_SECRET, c.AWS_SECRET_ACCESS_KEY, c.TOKEN_KEY, "Secret.Error", "secret cause",
                   '"output"'):
        assert secret not in output, f"{secret!r} in Envoy's log"


# ---------------------------------------------------------------------------------------------
# shadow mode: what the plugin would answer goes on to the upstream, logged and counted


def test_shadow_mode_lets_refused_calls_through_and_counts_enforces_codes(tmp_path: Path, recorder: c.Recorder):
    recorder.clear()
    settings = e.plugin_settings(extra='[serve]\nmode = "shadow"\n')
    with e.Envoy(tmp_path, settings=settings, upstream_port=recorder.port) as envoy:
        token = new_token()
        result = c.send_with_secret(c.LAYOUTS[0], c.WRONG_SECRET, envoy.endpoint, token, "E", "secret cause")
        assert result.event_id == c.EVENT_ID, "the SDK got the upstream's answer"
        client, _ = c.aws_client("stepfunctions", envoy.endpoint, secret="not-the-secret")
        client.send_task_failure(taskToken=unique(SFN_TOKEN), error="E", cause="c")
        # A report for the task the upstream just settled: enforce mode's TaskAlreadyCompleted.
        c.send_tea_rpc(envoy.endpoint, token, "E", "c")
        c.send_tea_rpc(envoy.endpoint, token, "E", "c")
        verdicts = envoy.wait_verdicts(4)
        prometheus = envoy.admin("/stats/prometheus")
        output = envoy.output()
    assert len(recorder.captures) == 4
    assert [(v["code"], v["status"], v["shadow_code"], v["shadow_status"]) for v in verdicts] == [
        ("forwarded", 200, "SignatureNotMatch", 403),
        ("forwarded", 200, "InvalidSignatureException", 400),
        ("forwarded", 200, None, None),
        ("forwarded", 200, "TaskAlreadyCompleted", 400),
    ], verdicts
    for line in ('taskgate_shadow_total{dialect="fnf",code="SignatureNotMatch"} 1',
                 'taskgate_shadow_total{dialect="states",code="InvalidSignatureException"} 1',
                 'taskgate_shadow_total{dialect="fnf",code="TaskAlreadyCompleted"} 1'):
        assert line in prometheus, prometheus
    assert "secret cause" not in output


# ---------------------------------------------------------------------------------------------
# Envoy in front of `taskgate serve` as the sink: the plugin's verdicts and the gateway's agree


def test_envoy_in_front_of_taskgate_serve_as_sink_records_each_accepted_report_once(tmp_path: Path):
    sink = tmp_path / "sink.jsonl"
    config = tmp_path / "serve.toml"
    config.write_text(c.serve_config_toml(sink_path=sink, extra_access_keys=c.AWS_ACCESS_KEYS), encoding="utf-8")
    with c.Serve(config, workdir=tmp_path) as serve, e.Envoy(
            tmp_path, settings=e.plugin_settings(), upstream_port=serve.port) as envoy:
        token = new_token()
        result = c.send_tea_acs3(envoy.endpoint, token, "Secret.Error", c.CAUSE)
        client, _ = c.aws_client("stepfunctions", envoy.endpoint)
        answer = client.send_task_success(taskToken=unique(SFN_TOKEN), output='{"ok": 1}')
        # Refused by the plugin: the gateway behind it never sees it.
        c.expect_sdk_error(lambda: c.send_with_secret(
            c.LAYOUTS[0], c.WRONG_SECRET, envoy.endpoint, new_token(), c.ERROR, c.CAUSE))
        lines = c.read_sink(sink)
    assert [(line["dialect"], line["action"]) for line in lines] == [
        ("fnf", "ReportTaskFailed"), ("states", "SendTaskSuccess")], lines
    assert lines[0]["task_token"] == token and lines[0]["error"] == "Secret.Error"
    assert result.request_id == lines[0]["request_id"]
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 200


# ---------------------------------------------------------------------------------------------
# connections: a refusal keeps the client's connection, as the services (and taskgate serve) do


def test_the_plugins_refusals_keep_the_connection_open(served: e.Envoy):
    import http.client

    connection = http.client.HTTPConnection(served.endpoint, timeout=10)
    try:
        answers = []
        # A missing parameter (400), then a signature that does not match (403), then the
        # same missing parameter again: three answers on one connection.
        now = time.strftime("%Y-%m-%dT%H%%3A%M%%3A%SZ", time.gmtime())
        signed_wrong = (f"Version=2019-03-15&AccessKeyId={c.ACCESS_KEY_ID}&Signature=x&SignatureMethod=HMAC-SHA1"
                        f"&SignatureVersion=1.0&SignatureNonce={uuid.uuid4().hex}&Timestamp={now}&Format=json"
                        f"&TaskToken={new_token()}&Error=E")
        for query in ("Version=2019-03-15", signed_wrong, "Version=2019-03-15"):
            connection.request("POST", f"/?Action=ReportTaskFailed&{query}", body=b"",
                               headers={"content-type": "application/x-www-form-urlencoded"})
            answer = connection.getresponse()
            body = json.loads(answer.read())
            answers.append((answer.status, body["Code"], answer.getheader("connection")))
            assert connection.sock is not None, f"Envoy closed the connection after {answers[-1]}"
    finally:
        connection.close()
    assert answers == [(400, "MissingRequiredParams", None), (403, "SignatureNotMatch", None),
                       (400, "MissingRequiredParams", None)], answers
