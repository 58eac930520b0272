"""The rest of the callback family through `taskgate serve`, with the real SDKs: the success,
cancel and heartbeat calls of each service, checked with that service's own rules and errors.

- boto3: Step Functions SendTaskSuccess / SendTaskHeartbeat, SWF RespondActivityTaskCompleted /
  RespondActivityTaskCanceled / RecordActivityTaskHeartbeat, CodePipeline PutJobSuccessResult /
  AcknowledgeJob; the Alibaba SDKs (tea client, RPC v1 and ACS3; legacy aliyun-python-sdk-fnf):
  ReportTaskSucceeded;
- a valid call reaches the upstream byte-identical (a transparent TCP tap in front of the gateway
  keeps the bytes the SDK wrote; the recorder must have got the same, but for what a proxy adds:
  `X-Forwarded-For`, lower-case header names), its answer comes back, and `taskgate check` judges
  the forwarded bytes as the same callback;
- every model boundary at its limit (forwarded) and one past it (the exact ValidationException,
  nothing forwarded): SFN `output` counted in UTF-8 bytes (`é` 2, an emoji 4), SWF texts in
  characters; InvalidOutput, InvalidToken, UnknownResourceFault; the CodePipeline structures;
  Alibaba's MissingRequiredParams, EntityTooLarge, SignatureNotMatch;
- sink mode: each service's success body, one line per call with its `callback` and `output`;
- the ledger (the embedded store): a success or a cancel settles the task, so a later report or
  heartbeat for it gets the service's "already closed" error at the edge; a heartbeat settles
  nothing.

The AWS calls keep the default AWS body limit (`[limits] max_aws_body_bytes`, 1 MiB): an `output`
of 262144 bytes of `é` is a body of about 786 KB from boto3 (`\\u00e9`, 6 bytes each). Alibaba
bodies keep the 64 KiB `max_body_bytes`. boto3 runs with a single attempt and its own parameter
validation, as in test_aws_serve.py.

Run: tests/sdk/setup.sh && TASKGATE_BIN=target/release/taskgate tests/sdk/.venv/bin/python -m pytest tests/sdk/python/test_callbacks.py
"""

from __future__ import annotations

import datetime
import json
import re
import uuid
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

import sdkcommon as c

SFN_TOKEN = "AQCEAAAAKgAAAAMAAAAAAAAAAf-sfn-callback-token+/=0123456789"
SWF_TOKEN = "AAAAKgAAAAEAAAAAAAAAAswf-callback-task-token+/=0123456789"
JOB_ID = "5f0e3c7a-2b9d-4e1f-8a6c-3d2b1a0f9e8d"
JOB_ID_PATTERN = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
OUTPUT_VARIABLE_KEY_PATTERN = "[A-Za-z0-9@\\-_]+"
E_ACUTE = "é"  # 1 character, 2 bytes in UTF-8, `\u00e9` (6 bytes) in boto3's JSON
EMOJI = "😀"  # 1 character, 4 bytes in UTF-8, `\ud83d\ude00` (12 bytes) in boto3's JSON
SFN_OUTPUT_BYTES = 262144
VE = "ValidationException"

TARGETS = {
    ("stepfunctions", "send_task_success"): "AWSStepFunctions.SendTaskSuccess",
    ("stepfunctions", "send_task_heartbeat"): "AWSStepFunctions.SendTaskHeartbeat",
    ("stepfunctions", "send_task_failure"): "AWSStepFunctions.SendTaskFailure",
    ("swf", "respond_activity_task_completed"): "SimpleWorkflowService.RespondActivityTaskCompleted",
    ("swf", "respond_activity_task_canceled"): "SimpleWorkflowService.RespondActivityTaskCanceled",
    ("swf", "record_activity_task_heartbeat"): "SimpleWorkflowService.RecordActivityTaskHeartbeat",
    ("swf", "respond_activity_task_failed"): "SimpleWorkflowService.RespondActivityTaskFailed",
    ("codepipeline", "put_job_success_result"): "CodePipeline_20150709.PutJobSuccessResult",
    ("codepipeline", "acknowledge_job"): "CodePipeline_20150709.AcknowledgeJob",
    ("codepipeline", "put_job_failure_result"): "CodePipeline_20150709.PutJobFailureResult",
}
CONTENT_TYPE = {
    "stepfunctions": "application/x-amz-json-1.0",
    "swf": "application/x-amz-json-1.0",
    "codepipeline": "application/x-amz-json-1.1",
}
# What the sink records as each call's `callback`.
CALLBACK = {
    "send_task_success": "succeeded",
    "send_task_heartbeat": "heartbeat",
    "respond_activity_task_completed": "succeeded",
    "respond_activity_task_canceled": "canceled",
    "record_activity_task_heartbeat": "heartbeat",
    "put_job_success_result": "succeeded",
    "acknowledge_job": "heartbeat",
}


def sfn_output_of_bytes(n: int, fill: str) -> str:
    """A JSON string value whose UTF-8 encoding is exactly `n` bytes: quotes, `fill` as often as
    it fits, then ASCII `a`s for the rest."""
    width = len(fill.encode("utf-8"))
    count = (n - 2) // width
    text = '"' + fill * count + "a" * (n - 2 - count * width) + '"'
    assert len(text.encode("utf-8")) == n
    json.loads(text)
    return text


def revision(**over) -> dict:
    value = {
        "revision": "9f8e7d6c5b4a",
        "changeIdentifier": "change-42",
        "created": datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc),
        "revisionSummary": f"merge: {c.CAUSE}",
    }
    value.update(over)
    return value


def execution_details(**over) -> dict:
    value = {"summary": f"deployed {E_ACUTE}", "externalExecutionId": "run-42", "percentComplete": 100}
    value.update(over)
    return value


def valid_params(method: str) -> dict:
    """A valid call of `method` with every member it takes."""
    return {
        "send_task_success": {"taskToken": SFN_TOKEN, "output": json.dumps({"order": 42, "note": c.CAUSE}, ensure_ascii=False)},
        "send_task_heartbeat": {"taskToken": SFN_TOKEN},
        "respond_activity_task_completed": {"taskToken": SWF_TOKEN, "result": c.CAUSE},
        "respond_activity_task_canceled": {"taskToken": SWF_TOKEN, "details": f"stopped: {c.CAUSE}"},
        "record_activity_task_heartbeat": {"taskToken": SWF_TOKEN, "details": f"50% {E_ACUTE}"},
        "put_job_success_result": {
            "jobId": JOB_ID,
            "currentRevision": revision(),
            "executionDetails": execution_details(),
            "outputVariables": {"IMAGE_TAG": "v1.2.3", "build@id": "a-b_c", "note": c.CAUSE},
        },
        "acknowledge_job": {"jobId": JOB_ID, "nonce": "nonce-1"},
    }[method]


SERVICE_OF = {
    "send_task_success": "stepfunctions",
    "send_task_heartbeat": "stepfunctions",
    "respond_activity_task_completed": "swf",
    "respond_activity_task_canceled": "swf",
    "record_activity_task_heartbeat": "swf",
    "put_job_success_result": "codepipeline",
    "acknowledge_job": "codepipeline",
}
METHODS = list(SERVICE_OF)


def upstreams(aws: c.Recorder, fnf: c.Recorder) -> dict[str, str]:
    return {
        "fnf": f"http://{fnf.endpoint}",
        "states": f"http://{aws.endpoint}",
        "swf": f"http://{aws.endpoint}",
        "codepipeline": f"http://{aws.endpoint}",
    }


def write_config(tmp_path: Path, **kwargs) -> Path:
    path = tmp_path / "taskgate.toml"
    kwargs.setdefault("extra_access_keys", c.AWS_ACCESS_KEYS)
    path.write_text(c.serve_config_toml(**kwargs), encoding="utf-8")
    return path


def embedded_store(tmp_path: Path) -> str:
    return f'kind = "embedded"\npath = {c._toml_string(str(tmp_path / "state.redb"))}'


def assert_aws_error(exc: ClientError, code: str, status: int, service: str) -> str:
    """The error is `code` with HTTP `status`, in the AWS JSON error form; returns its message."""
    err = exc.response.get("Error", {})
    meta = exc.response.get("ResponseMetadata", {})
    headers = meta.get("HTTPHeaders", {})
    assert err.get("Code") == code, f"expected {code}, got {err!r} (HTTP {meta.get('HTTPStatusCode')})"
    assert meta.get("HTTPStatusCode") == status, f"{code}: HTTP {meta.get('HTTPStatusCode')}, expected {status}"
    assert headers.get("content-type") == CONTENT_TYPE[service], f"{code}: Content-Type {headers.get('content-type')!r}"
    assert re.fullmatch(r"[0-9a-fA-F-]{36}", meta.get("RequestId") or ""), f"{code}: x-amzn-RequestId {meta!r}"
    message = err.get("Message")
    assert isinstance(message, str), f"{code}: no message in {err!r}"
    return message


def too_long(member: str, limit: int) -> str:
    return (
        f"1 validation error detected: Value at '{member}' failed to satisfy constraint: "
        f"Member must have length less than or equal to {limit}"
    )


# ---------------------------------------------------------------------------------------------
# ReportTaskSucceeded with each Alibaba SDK


def report_task_succeeded(layout: str, endpoint: str, token: str, output: str | None,
                          secret: str = c.ACCESS_KEY_SECRET) -> c.SdkResult:
    """One ReportTaskSucceeded from the SDK of `layout` (`output=None`: no Output at all)."""
    if layout == "python-legacy-rpc":
        from aliyunsdkcore.client import AcsClient
        from aliyunsdkfnf.request.v20190315.ReportTaskSucceededRequest import ReportTaskSucceededRequest

        client = AcsClient(c.ACCESS_KEY_ID, secret, "cn-hangzhou", auto_retry=False)
        req = ReportTaskSucceededRequest()
        req.set_endpoint(endpoint)
        req.set_protocol_type("http")
        req.set_TaskToken(token)
        if output is not None:
            req.set_Output(output)
        body = json.loads(client.do_action_with_exception(req))
        return c.SdkResult(body.get("EventId"), body.get("RequestId"))

    from alibabacloud_fnf20190315 import models as fnf_models

    saved = c.ACCESS_KEY_SECRET
    c.ACCESS_KEY_SECRET = secret  # read by c._tea_client (the tests call SDKs one at a time)
    try:
        client = c._tea_client(endpoint, acs3=layout == "python-tea-acs3")
    finally:
        c.ACCESS_KEY_SECRET = saved
    resp = client.report_task_succeeded(fnf_models.ReportTaskSucceededRequest(task_token=token, output=output))
    assert resp.status_code == 200
    return c.SdkResult(resp.body.event_id, resp.body.request_id)


FNF_LAYOUTS = ["python-tea-rpc", "python-tea-acs3", "python-legacy-rpc"]


def new_token() -> tuple[str, int, str]:
    """(execution id, event id, token) of a fresh Alibaba task."""
    execution_id = str(uuid.uuid4())
    event_id = 1000 + uuid.uuid4().int % 100000
    return execution_id, event_id, c.make_task_token(execution_id, event_id)


# ---------------------------------------------------------------------------------------------
# fixtures: one pair of recorders and one forwarding `taskgate serve` behind a tap, for the module


@pytest.fixture(scope="module")
def recorders():
    with c.Recorder(answer="aws") as aws, c.Recorder() as fnf:
        yield aws, fnf


@pytest.fixture(scope="module")
def gateway(recorders, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("callbacks")
    config = write_config(tmp, upstreams=upstreams(*recorders))
    with c.Serve(config, workdir=tmp) as serve, c.Tap(serve.port) as tap:
        yield serve, tap, config


@pytest.fixture
def gate(gateway, recorders):
    """(tap in front of the gateway, AWS recorder, Alibaba recorder, config), all emptied."""
    serve, tap, config = gateway
    aws, fnf = recorders
    aws.clear()
    fnf.clear()
    tap.clear()
    return tap, aws, fnf, config


def forwarded_once(tap: c.Tap, rec: c.Recorder) -> tuple[bytes, c.Capture]:
    """The one request the SDK wrote, and the one the upstream got, checked equal."""
    sent = tap.requests()
    captures = rec.captures
    assert len(sent) == 1, f"the SDK sent {len(sent)} requests through the tap, expected one"
    assert len(captures) == 1, f"the upstream got {len(captures)} requests, expected exactly one"
    c.assert_forwarded_exactly(sent[0], captures[0].raw)
    return sent[0], captures[0]


def judge(config: Path, tmp_path: Path, raw: bytes) -> dict:
    """`taskgate check` on the bytes the upstream got: the report it forwards."""
    path = tmp_path / f"forwarded-{uuid.uuid4().hex}.http"
    path.write_bytes(raw)
    res = c.taskgate_check(config, path)
    assert res.exit_code == 0 and res.output.get("verdict") == "forward", res
    return res.output["report"]


# ---------------------------------------------------------------------------------------------
# 1. each valid call is forwarded byte-identical, and judged as the same callback upstream


@pytest.mark.parametrize("method", METHODS)
def test_valid_aws_call_is_forwarded_byte_identical(method: str, gate, tmp_path: Path):
    tap, aws, _, config = gate
    service = SERVICE_OF[method]
    client, signed = c.aws_client(service, tap.endpoint)
    params = valid_params(method)
    result = getattr(client, method)(**params)
    sent, capture = forwarded_once(tap, aws)

    assert len(signed) == 1
    up = c.parse_raw(capture.raw)
    assert up.header("authorization") == signed[0].header("authorization"), "what botocore signed"
    assert up.header("x-amz-target") == TARGETS[(service, method)]
    assert up.header("content-type") == CONTENT_TYPE[service]
    assert up.body == signed[0].body
    # The upstream's answer (`{}`, its request id) is what the SDK got.
    assert result["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert result["ResponseMetadata"]["RequestId"] == capture.request_id
    assert set(result) == {"ResponseMetadata"}, result

    report = judge(config, tmp_path, capture.raw)
    assert report["dialect"] == c.AWS_CALL_BY_SERVICE[service].dialect
    assert report["action"] == TARGETS[(service, method)].split(".")[1]
    assert report["callback"] == CALLBACK[method]
    assert report["access_key_id"] == c.AWS_ACCESS_KEY_ID
    assert report["task_token"] == params.get("taskToken", params.get("jobId"))
    assert report["recall"]["settles"] is (CALLBACK[method] != "heartbeat")
    assert report["error"] is None and report["cause"] is None
    if method == "put_job_success_result":
        assert json.loads(report["output"]) == params["outputVariables"]
    else:
        expected = params.get("output", params.get("result", params.get("details")))
        assert report["output"] == expected


def test_put_job_success_result_with_a_continuation_token_is_forwarded(gate, tmp_path: Path):
    tap, aws, _, config = gate
    client, _ = c.aws_client("codepipeline", tap.endpoint)
    client.put_job_success_result(
        jobId=JOB_ID,
        currentRevision={"revision": "r1", "changeIdentifier": "c1"},
        continuationToken="step-2-of-3",
        executionDetails={"summary": "two thirds", "percentComplete": 66},
    )
    _, capture = forwarded_once(tap, aws)
    report = judge(config, tmp_path, capture.raw)
    assert report["callback"] == "succeeded" and report["output"] is None
    assert json.loads(c.parse_raw(capture.raw).body)["continuationToken"] == "step-2-of-3"


@pytest.mark.parametrize("layout", FNF_LAYOUTS)
def test_report_task_succeeded_is_forwarded_byte_identical(layout: str, gate, tmp_path: Path):
    tap, _, fnf, config = gate
    execution_id, event_id, token = new_token()
    output = json.dumps({"order": 42, "note": c.CAUSE}, ensure_ascii=False)
    result = report_task_succeeded(layout, tap.endpoint, token, output)
    _, capture = forwarded_once(tap, fnf)

    # The SDK got the upstream's answer.
    assert result.event_id == c.EVENT_ID
    assert result.request_id == capture.request_id
    up = c.parse_raw(capture.raw)
    assert up.query["TaskToken"] == token, "TaskToken goes in the query"
    assert up.form["Output"] == output, "Output goes in the form body"
    assert "Output" not in up.query
    report = judge(config, tmp_path, capture.raw)
    assert (report["dialect"], report["action"], report["callback"]) == ("fnf", "ReportTaskSucceeded", "succeeded")
    assert report["output"] == output
    assert report["task_token"] == token
    assert report["token"]["execution_id"] == execution_id
    assert report["token"]["event_id"] == event_id
    assert report["token"]["verified"] is True
    assert report["recall"]["settles"] is True


# ---------------------------------------------------------------------------------------------
# 2. model boundaries: at the limit forwarded, one past it the exact ValidationException

SFN_AT_LIMIT = {
    "eacute": sfn_output_of_bytes(SFN_OUTPUT_BYTES, E_ACUTE),
    "emoji": sfn_output_of_bytes(SFN_OUTPUT_BYTES, EMOJI),
    "ascii": sfn_output_of_bytes(SFN_OUTPUT_BYTES, "o"),
}
SFN_OVER_LIMIT = {
    "eacute": sfn_output_of_bytes(SFN_OUTPUT_BYTES + 1, E_ACUTE),
    "emoji": sfn_output_of_bytes(SFN_OUTPUT_BYTES + 1, EMOJI),
    "ascii": sfn_output_of_bytes(SFN_OUTPUT_BYTES + 1, "o"),
}


def cp_over(**over) -> dict:
    """A valid PutJobSuccessResult with members replaced (`revision_*`, `details_*` nested)."""
    params = valid_params("put_job_success_result")
    for key, value in over.items():
        if key.startswith("revision_"):
            params["currentRevision"][key[len("revision_"):]] = value
        elif key.startswith("details_"):
            params["executionDetails"][key[len("details_"):]] = value
        else:
            params[key] = value
    return params


def no_variables(params: dict) -> dict:
    params.pop("outputVariables")
    return params


# (id, method, params, None for "accepted and forwarded" or (code, exact message))
BOUNDARIES = [
    # Step Functions: output in UTF-8 bytes, the token in characters
    *[(f"sfn-output-{SFN_OUTPUT_BYTES}-bytes-{name}", "send_task_success",
       {"taskToken": SFN_TOKEN, "output": text}, None) for name, text in SFN_AT_LIMIT.items()],
    *[(f"sfn-output-{SFN_OUTPUT_BYTES + 1}-bytes-{name}", "send_task_success",
       {"taskToken": SFN_TOKEN, "output": text}, (VE, too_long("output", SFN_OUTPUT_BYTES)))
      for name, text in SFN_OVER_LIMIT.items()],
    ("sfn-success-token-2048", "send_task_success", {"taskToken": "t" * 2048, "output": "{}"}, None),
    ("sfn-success-token-2049", "send_task_success", {"taskToken": "t" * 2049, "output": "{}"},
     (VE, too_long("taskToken", 2048))),
    ("sfn-heartbeat-token-2048", "send_task_heartbeat", {"taskToken": "t" * 2048}, None),
    ("sfn-heartbeat-token-2049", "send_task_heartbeat", {"taskToken": "t" * 2049}, (VE, too_long("taskToken", 2048))),
    *[(f"sfn-output-json-{name}", "send_task_success", {"taskToken": SFN_TOKEN, "output": text}, None)
      for name, text in (("number", "42"), ("null", "null"), ("string", '"done"'), ("array", "[1, 2]"),
                         ("surrounded-by-whitespace", ' {"a": 1}\n'),
                         # JSON by RFC 8259, whatever a parser's limits: taken by the service
                         ("repeated-member", '{"a": 1, "a": 2}'), ("nested-1000-deep", "[" * 1000 + "]" * 1000),
                         ("huge-exponent", '{"x": 1e400}'), ("lone-surrogate-escape", '{"a": "\\ud800"}'))],
    # SWF: every text in characters
    ("swf-result-32768-emoji", "respond_activity_task_completed", {"taskToken": SWF_TOKEN, "result": EMOJI * 32768}, None),
    ("swf-result-32769-eacute", "respond_activity_task_completed", {"taskToken": SWF_TOKEN, "result": E_ACUTE * 32769},
     (VE, too_long("result", 32768))),
    ("swf-result-32769-ascii", "respond_activity_task_completed", {"taskToken": SWF_TOKEN, "result": "r" * 32769},
     (VE, too_long("result", 32768))),
    ("swf-canceled-details-32768-eacute", "respond_activity_task_canceled", {"taskToken": SWF_TOKEN, "details": E_ACUTE * 32768}, None),
    ("swf-canceled-details-32769-emoji", "respond_activity_task_canceled", {"taskToken": SWF_TOKEN, "details": EMOJI * 32769},
     (VE, too_long("details", 32768))),
    ("swf-heartbeat-details-2048-emoji", "record_activity_task_heartbeat", {"taskToken": SWF_TOKEN, "details": EMOJI * 2048}, None),
    ("swf-heartbeat-details-2049-eacute", "record_activity_task_heartbeat", {"taskToken": SWF_TOKEN, "details": E_ACUTE * 2049},
     (VE, too_long("details", 2048))),
    ("swf-heartbeat-details-2049-ascii", "record_activity_task_heartbeat", {"taskToken": SWF_TOKEN, "details": "d" * 2049},
     (VE, too_long("details", 2048))),
    ("swf-completed-without-result", "respond_activity_task_completed", {"taskToken": SWF_TOKEN}, None),
    ("swf-completed-empty-result", "respond_activity_task_completed", {"taskToken": SWF_TOKEN, "result": ""}, None),
    ("swf-canceled-without-details", "respond_activity_task_canceled", {"taskToken": SWF_TOKEN}, None),
    *[(f"swf-{short}-token-1024", method, {"taskToken": "t" * 1024}, None)
      for short, method in (("completed", "respond_activity_task_completed"), ("canceled", "respond_activity_task_canceled"),
                            ("heartbeat", "record_activity_task_heartbeat"))],
    *[(f"swf-{short}-token-1025", method, {"taskToken": "t" * 1025}, (VE, too_long("taskToken", 1024)))
      for short, method in (("completed", "respond_activity_task_completed"), ("canceled", "respond_activity_task_canceled"),
                            ("heartbeat", "record_activity_task_heartbeat"))],
    # CodePipeline PutJobSuccessResult
    ("cp-job-id-alone", "put_job_success_result", {"jobId": JOB_ID}, None),
    ("cp-revision-1500", "put_job_success_result", cp_over(revision_revision="r" * 1500), None),
    ("cp-revision-1501", "put_job_success_result", cp_over(revision_revision="r" * 1501),
     (VE, too_long("currentRevision.revision", 1500))),
    ("cp-change-identifier-100-emoji", "put_job_success_result", cp_over(revision_changeIdentifier=EMOJI * 100), None),
    ("cp-change-identifier-101", "put_job_success_result", cp_over(revision_changeIdentifier="c" * 101),
     (VE, too_long("currentRevision.changeIdentifier", 100))),
    ("cp-revision-summary-2048-eacute", "put_job_success_result", cp_over(revision_revisionSummary=E_ACUTE * 2048), None),
    ("cp-revision-summary-2049", "put_job_success_result", cp_over(revision_revisionSummary="s" * 2049),
     (VE, too_long("currentRevision.revisionSummary", 2048))),
    ("cp-continuation-token-2048", "put_job_success_result", no_variables(cp_over(continuationToken="k" * 2048)), None),
    ("cp-continuation-token-2049", "put_job_success_result", no_variables(cp_over(continuationToken="k" * 2049)),
     (VE, too_long("continuationToken", 2048))),
    ("cp-summary-2048-emoji", "put_job_success_result", cp_over(details_summary=EMOJI * 2048), None),
    ("cp-summary-2049", "put_job_success_result", cp_over(details_summary="s" * 2049),
     (VE, too_long("executionDetails.summary", 2048))),
    ("cp-external-id-1500", "put_job_success_result", cp_over(details_externalExecutionId="x" * 1500), None),
    ("cp-external-id-1501", "put_job_success_result", cp_over(details_externalExecutionId="x" * 1501),
     (VE, too_long("executionDetails.externalExecutionId", 1500))),
    ("cp-percent-0", "put_job_success_result", cp_over(details_percentComplete=0), None),
    ("cp-percent-100", "put_job_success_result", cp_over(details_percentComplete=100), None),
    ("cp-percent-101", "put_job_success_result", cp_over(details_percentComplete=101),
     (VE, "1 validation error detected: Value '101' at 'executionDetails.percentComplete' failed to satisfy "
          "constraint: Member must have value less than or equal to 100")),
    ("cp-variable-key-every-class", "put_job_success_result", cp_over(outputVariables={"aZ09@-_": "v"}), None),
    ("cp-variable-key-bad", "put_job_success_result", cp_over(outputVariables={"good": "v", "bad key": "v"}),
     (VE, "1 validation error detected: Value 'bad key' at 'outputVariables' failed to satisfy constraint: "
          f"Map keys must satisfy constraint: [Member must satisfy regular expression pattern: {OUTPUT_VARIABLE_KEY_PATTERN}]")),
    ("cp-variables-with-continuation-token", "put_job_success_result", cp_over(continuationToken="step-2"),
     (VE, "outputVariables can be included only when there is no continuation token on the request.")),
    ("cp-success-job-id-bad", "put_job_success_result", cp_over(jobId="job-42"),
     (VE, "1 validation error detected: Value 'job-42' at 'jobId' failed to satisfy constraint: "
          f"Member must satisfy regular expression pattern: {JOB_ID_PATTERN}")),
    ("cp-two-errors", "put_job_success_result", cp_over(revision_revision="r" * 1501, details_percentComplete=101),
     (VE, "2 validation errors detected: "
          "Value at 'currentRevision.revision' failed to satisfy constraint: Member must have length less than or equal to 1500; "
          "Value '101' at 'executionDetails.percentComplete' failed to satisfy constraint: Member must have value less than or equal to 100")),
    # CodePipeline AcknowledgeJob
    ("cp-nonce-50", "acknowledge_job", {"jobId": JOB_ID, "nonce": "n" * 50}, None),
    ("cp-nonce-50-emoji", "acknowledge_job", {"jobId": JOB_ID, "nonce": EMOJI * 50}, None),
    ("cp-nonce-51", "acknowledge_job", {"jobId": JOB_ID, "nonce": "n" * 51}, (VE, too_long("nonce", 50))),
    ("cp-ack-job-id-upper", "acknowledge_job", {"jobId": JOB_ID.upper(), "nonce": "n1"},
     (VE, f"1 validation error detected: Value '{JOB_ID.upper()}' at 'jobId' failed to satisfy constraint: "
          f"Member must satisfy regular expression pattern: {JOB_ID_PATTERN}")),
]


@pytest.mark.parametrize("method,params,expected", [b[1:] for b in BOUNDARIES], ids=[b[0] for b in BOUNDARIES])
def test_boundary(method: str, params: dict, expected: tuple[str, str] | None, gate):
    tap, aws, _, _ = gate
    service = SERVICE_OF[method]
    client, signed = c.aws_client(service, tap.endpoint)
    if expected is None:
        result = getattr(client, method)(**params)
        _, capture = forwarded_once(tap, aws)
        assert c.parse_raw(capture.raw).header("authorization") == signed[0].header("authorization")
        assert result["ResponseMetadata"]["RequestId"] == capture.request_id
        return

    code, message = expected
    exc = c.expect_client_error(lambda: getattr(client, method)(**params))
    got = assert_aws_error(exc, code, 400, service)
    modeled = getattr(client.exceptions, code, None)
    if modeled is not None:  # stepfunctions and codepipeline model ValidationException; swf does not
        assert isinstance(exc, modeled), type(exc)
    assert c.same_message(got, message), f"message:\n  expected {message!r}\n  got      {got!r}"
    assert len(signed) == 1, "the SDK retried"
    assert aws.captures == [], "a rejected call reached the upstream"


def test_sfn_output_limit_counts_bytes_not_characters():
    """The boundary cases above tell bytes from characters (and from boto3's escaped JSON)."""
    over = SFN_OVER_LIMIT["eacute"]
    assert len(over) < SFN_OUTPUT_BYTES < len(over.encode("utf-8"))
    at = SFN_AT_LIMIT["emoji"]
    assert len(json.dumps(at)) > SFN_OUTPUT_BYTES == len(at.encode("utf-8"))


@pytest.mark.parametrize(
    "output",
    ["not json", '{"order": 42', '{"a": 1} {"b": 2}', '{"a": 01}', ""],
    ids=["text", "unterminated", "two-values", "leading-zero", "empty"],
)
def test_output_that_is_not_one_json_value_is_invalid_output(output: str, gate):
    tap, aws, _, _ = gate
    client, _ = c.aws_client("stepfunctions", tap.endpoint)
    exc = c.expect_client_error(lambda: client.send_task_success(taskToken=SFN_TOKEN, output=output))
    assert isinstance(exc, client.exceptions.InvalidOutput), type(exc)
    message = assert_aws_error(exc, "InvalidOutput", 400, "stepfunctions")
    assert message.startswith("The provided JSON output data is not valid: "), message
    assert len(message) > len("The provided JSON output data is not valid: "), "no detail"
    assert aws.captures == []


# A mangled token: Step Functions says InvalidToken, SWF UnknownResourceFault; the token is
# never echoed.
@pytest.mark.parametrize("service,method,token,mangle,code", [
    *[("stepfunctions", m, SFN_TOKEN, " ", "InvalidToken") for m in ["send_task_success", "send_task_heartbeat"]],
    *[("swf", m, SWF_TOKEN, "\n", "UnknownResourceFault")
      for m in ["respond_activity_task_completed", "respond_activity_task_canceled", "record_activity_task_heartbeat"]],
])
def test_token_with_whitespace_is_the_services_token_error(service, method, token, mangle, code, gate):
    tap, aws, _, _ = gate
    client, _ = c.aws_client(service, tap.endpoint)
    params = {**valid_params(method), "taskToken": token[:20] + mangle + token[20:]}
    exc = c.expect_client_error(lambda: getattr(client, method)(**params))
    assert isinstance(exc, getattr(client.exceptions, code)), type(exc)
    message = assert_aws_error(exc, code, 400, service)
    assert token[:20] not in message and token[20:] not in message
    assert aws.captures == []


@pytest.mark.parametrize("method", METHODS)
def test_wrong_aws_secret_is_invalid_signature(method: str, gate):
    tap, aws, _, _ = gate
    service = SERVICE_OF[method]
    client, _ = c.aws_client(service, tap.endpoint, secret="not" + c.AWS_SECRET_ACCESS_KEY)
    exc = c.expect_client_error(lambda: getattr(client, method)(**valid_params(method)))
    assert_aws_error(exc, "InvalidSignatureException", 400, service)
    assert aws.captures == []


# ---------------------------------------------------------------------------------------------
# 3. ReportTaskSucceeded's own rules


@pytest.mark.parametrize("output", [None, ""], ids=["absent", "empty"])
@pytest.mark.parametrize("layout", FNF_LAYOUTS)
def test_report_task_succeeded_without_output_is_missing_required_params(layout: str, output: str | None, gate):
    tap, _, fnf, _ = gate
    _, _, token = new_token()
    exc = c.expect_sdk_error(lambda: report_task_succeeded(layout, tap.endpoint, token, output))
    assert c.sdk_error_code(exc) == "MissingRequiredParams", repr(exc)
    assert c.sdk_error_message(exc) == "The HTTP query 'Output' must be specified."
    assert len(tap.requests()) == 1, "the SDK sent the call (it is the gateway that refused it)"
    assert fnf.captures == []


@pytest.mark.parametrize("layout", FNF_LAYOUTS)
def test_report_task_succeeded_with_a_wrong_secret_is_signature_not_match(layout: str, gate):
    tap, _, fnf, _ = gate
    _, _, token = new_token()
    exc = c.expect_sdk_error(lambda: report_task_succeeded(layout, tap.endpoint, token, "{}", secret=c.WRONG_SECRET))
    assert c.sdk_error_code(exc) == "SignatureNotMatch", repr(exc)
    assert fnf.captures == []


def test_output_has_no_limit_of_its_own_but_the_body_has(gate):
    tap, _, fnf, _ = gate
    _, _, token = new_token()
    # Far over ReportTaskFailed's Cause limit (4096 characters), within the 64 KiB body.
    output = json.dumps({"log": "x" * 20000 + E_ACUTE * 5000}, ensure_ascii=False)
    result = report_task_succeeded("python-tea-rpc", tap.endpoint, token, output)
    assert len(fnf.captures) == 1 and result.request_id == fnf.captures[0].request_id
    assert c.parse_raw(fnf.captures[0].raw).form["Output"] == output
    fnf.clear()
    exc = c.expect_sdk_error(lambda: report_task_succeeded("python-tea-rpc", tap.endpoint, token, "x" * 70000))
    assert (c.sdk_error_code(exc), exc.statusCode) == ("EntityTooLarge", 400)
    assert "65536" in c.sdk_error_message(exc)
    assert fnf.captures == []


def test_a_forged_token_is_refused_as_for_report_task_failed(gate):
    """TaskToken is decoded and checked as for ReportTaskFailed: the same answer for both."""
    from alibabacloud_fnf20190315 import models as fnf_models

    tap, _, fnf, _ = gate
    forged = c.make_task_token(str(uuid.uuid4()), 77, key="not-the-token-key")
    client = c._tea_client(tap.endpoint, acs3=False)
    succeeded = c.expect_sdk_error(lambda: client.report_task_succeeded(
        fnf_models.ReportTaskSucceededRequest(task_token=forged, output="{}")))
    failed = c.expect_sdk_error(lambda: client.report_task_failed(
        fnf_models.ReportTaskFailedRequest(task_token=forged, error="E", cause="c")))
    code = c.sdk_error_code(succeeded)
    assert code and code == c.sdk_error_code(failed), (succeeded, failed)
    assert succeeded.statusCode == failed.statusCode == 400
    assert c.sdk_error_message(succeeded) == c.sdk_error_message(failed)
    assert "TaskToken" in c.sdk_error_message(succeeded)
    assert fnf.captures == []


# ---------------------------------------------------------------------------------------------
# 4. sink mode: each service's success body, one line per call


def test_sink_mode_answers_each_call_with_the_services_body_and_records_it(tmp_path: Path):
    sink = tmp_path / "sink.jsonl"
    config = write_config(tmp_path, sink_path=sink)
    sent = []
    with c.Serve(config, workdir=tmp_path) as serve:
        for method in METHODS:
            service = SERVICE_OF[method]
            client, _ = c.aws_client(service, serve.endpoint)
            params = valid_params(method)
            result = getattr(client, method)(**params)
            meta = result.pop("ResponseMetadata")
            assert meta["HTTPStatusCode"] == 200
            assert meta["HTTPHeaders"].get("content-type") == CONTENT_TYPE[service], meta
            if method == "record_activity_task_heartbeat":
                assert result == {"cancelRequested": False}
            elif method == "acknowledge_job":
                assert result == {"status": "InProgress"}
            else:
                assert result == {}, f"{method}: {result!r}"
            sent.append((method, params, meta["RequestId"]))
        execution_id, event_id, token = new_token()
        output = json.dumps({"done": True, "note": c.CAUSE}, ensure_ascii=False)
        fnf_result = report_task_succeeded("python-tea-acs3", serve.endpoint, token, output)
        assert type(fnf_result.event_id) is int and fnf_result.request_id

    lines = c.read_sink(sink)
    assert len(lines) == len(sent) + 1, lines
    for (method, params, request_id), line in zip(sent, lines):
        service = SERVICE_OF[method]
        assert line["request_id"] == request_id, "the sink logged another request id than it answered"
        assert line["dialect"] == c.AWS_CALL_BY_SERVICE[service].dialect
        assert line["action"] == TARGETS[(service, method)].split(".")[1]
        assert line["callback"] == CALLBACK[method], line
        assert line["task_token"] == params.get("taskToken", params.get("jobId"))
        assert line["error"] is None and line["cause"] is None
        if method == "put_job_success_result":
            assert json.loads(line["output"]) == params["outputVariables"]
        else:
            assert line["output"] == params.get("output", params.get("result", params.get("details"))), line
    last = lines[-1]
    assert (last["dialect"], last["action"], last["callback"]) == ("fnf", "ReportTaskSucceeded", "succeeded")
    assert last["output"] == output and last["task_token"] == token
    assert (last["execution_id"], last["event_id"], last["verified"]) == (execution_id, event_id, True)
    assert last["request_id"] == fnf_result.request_id
    assert last["event_id_assigned"] == fnf_result.event_id


# ---------------------------------------------------------------------------------------------
# 5. the ledger: a success or a cancel settles the task, a heartbeat does not


@pytest.fixture
def ledger(tmp_path: Path):
    """A forwarding gateway remembering settled tasks in the embedded store."""
    with c.Recorder(answer="aws") as aws, c.Recorder() as fnf:
        config = write_config(tmp_path, upstreams=upstreams(aws, fnf), store=embedded_store(tmp_path))
        with c.Serve(config, workdir=tmp_path) as serve:
            yield serve, aws, fnf


# (service, the success/cancel, its params, the heartbeat, its params, the failure, its params, closed error)
LEDGER_CASES = [
    ("stepfunctions", "send_task_success", {"taskToken": SFN_TOKEN, "output": '{"ok": true}'},
     "send_task_heartbeat", {"taskToken": SFN_TOKEN},
     "send_task_failure", {"taskToken": SFN_TOKEN, "error": "E"}, "TaskTimedOut"),
    ("swf", "respond_activity_task_completed", {"taskToken": SWF_TOKEN, "result": "done"},
     "record_activity_task_heartbeat", {"taskToken": SWF_TOKEN, "details": "90%"},
     "respond_activity_task_failed", {"taskToken": SWF_TOKEN, "reason": "E"}, "UnknownResourceFault"),
    ("swf", "respond_activity_task_canceled", {"taskToken": SWF_TOKEN, "details": "stopped"},
     "record_activity_task_heartbeat", {"taskToken": SWF_TOKEN},
     "respond_activity_task_completed", {"taskToken": SWF_TOKEN, "result": "late"}, "UnknownResourceFault"),
    ("codepipeline", "put_job_success_result", {"jobId": JOB_ID, "outputVariables": {"TAG": "v1"}},
     "acknowledge_job", {"jobId": JOB_ID, "nonce": "n-1"},
     "put_job_failure_result", {"jobId": JOB_ID, "failureDetails": {"type": "JobFailed", "message": "late"}},
     "InvalidJobStateException"),
]
LEDGER_IDS = ["sfn-success", "swf-completed", "swf-canceled", "cp-success"]


def for_another_task(params: dict) -> dict:
    if "jobId" in params:
        return {**params, "jobId": "0" * 8 + params["jobId"][8:]}
    return {**params, "taskToken": params["taskToken"] + "-other"}


@pytest.mark.parametrize("service,settle,settle_params,beat,beat_params,fail,fail_params,closed", LEDGER_CASES, ids=LEDGER_IDS)
def test_a_settled_task_refuses_later_heartbeats_and_reports_at_the_edge(
    service, settle, settle_params, beat, beat_params, fail, fail_params, closed, ledger
):
    serve, aws, _ = ledger
    client, _ = c.aws_client(service, serve.endpoint)
    result = getattr(client, settle)(**settle_params)
    assert len(aws.captures) == 1 and result["ResponseMetadata"]["RequestId"] == aws.captures[0].request_id
    for method, params in ((beat, beat_params), (fail, fail_params), (settle, settle_params)):
        exc = c.expect_client_error(lambda: getattr(client, method)(**params))
        assert isinstance(exc, getattr(client.exceptions, closed)), (method, type(exc))
        assert_aws_error(exc, closed, 400, service)
    assert len(aws.captures) == 1, "a call for the settled task reached the upstream"
    # Another task is not affected.
    getattr(client, beat)(**for_another_task(beat_params))
    assert len(aws.captures) == 2


@pytest.mark.parametrize("service,settle,settle_params,beat,beat_params,fail,fail_params,closed", LEDGER_CASES, ids=LEDGER_IDS)
def test_a_heartbeat_settles_nothing(service, settle, settle_params, beat, beat_params, fail, fail_params, closed, ledger):
    serve, aws, _ = ledger
    client, _ = c.aws_client(service, serve.endpoint)
    for _ in range(2):
        assert getattr(client, beat)(**beat_params)["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert len(aws.captures) == 2, "each heartbeat is forwarded"
    result = getattr(client, settle)(**settle_params)
    assert len(aws.captures) == 3, "the success after the heartbeats was forwarded"
    assert result["ResponseMetadata"]["RequestId"] == aws.captures[2].request_id
    assert json.loads(c.parse_raw(aws.captures[2].raw).body) == settle_params
    exc = c.expect_client_error(lambda: getattr(client, beat)(**beat_params))
    assert_aws_error(exc, closed, 400, service)
    assert len(aws.captures) == 3


@pytest.mark.parametrize("layout", FNF_LAYOUTS)
def test_report_task_succeeded_settles_the_alibaba_task(layout: str, ledger):
    from alibabacloud_fnf20190315 import models as fnf_models

    serve, _, fnf = ledger
    _, _, token = new_token()
    result = report_task_succeeded(layout, serve.endpoint, token, '{"ok": true}')
    assert len(fnf.captures) == 1 and result.request_id == fnf.captures[0].request_id
    exc = c.expect_sdk_error(lambda: report_task_succeeded(layout, serve.endpoint, token, '{"ok": true}'))
    assert c.sdk_error_code(exc) == "TaskAlreadyCompleted", repr(exc)
    client = c._tea_client(serve.endpoint, acs3=False)
    exc = c.expect_sdk_error(lambda: client.report_task_failed(
        fnf_models.ReportTaskFailedRequest(task_token=token, error="E", cause="late")))
    assert (c.sdk_error_code(exc), exc.statusCode) == ("TaskAlreadyCompleted", 400)
    assert len(fnf.captures) == 1, "a report for the settled task reached the upstream"
