"""Repair mode (`[serve] repair = "truncate"`): a failure report whose free text is over the
service's limit reaches the service cut to the limit, with the vendors' real SDKs.

Such a report would be refused, the worker's library rarely retries it with a shorter text, and
the task would wait for its timeout. With repair = "truncate" the edge cuts each over-long field
to the limit exactly, counted in Unicode characters (an astral character, which boto3 sends as an
escaped surrogate pair, is one): the first characters of the original, then `...[truncated by
taskgate: N characters]` (N, the original length). It signs the report again with the caller's
own key and forwards it. Behind the edge stands a second `taskgate serve`, the "service": no
upstream (its sink records what it accepts and answers with the service's own success body) and
the same access keys, so it verifies the re-signed request, and refuses anything over the limit,
as the service would.

- boto3 SendTaskFailure with a 40,000-character cause (and with both error and cause over their
  limits, in astral characters), RespondActivityTaskFailed with a 300-character reason,
  PutJobFailureResult with a 6,000-character message, and ReportTaskFailed with a
  5,000-character Cause from each Alibaba SDK (alibabacloud-fnf20190315 with RPC v1 and with
  ACS3, the legacy aliyun-python-sdk-fnf): the SDK gets the service's success answer, the service
  records the task failed with the cut text, the edge's log line lists each cut field (its
  original and new length and the SHA-256 of the original) and `taskgate_repaired_total` counts
  it; the service's own line has nothing repaired (what it got was within the limits).
- The same calls through an edge with repair = "off": the service's exact refusal, and nothing
  reaches the service. A route's own `repair = "truncate"` overrides that `[serve]` setting.
- A report at the limits exactly is forwarded as sent: nothing to repair.
- A report that cannot be repaired keeps its original refusal, and the edge's log line says why
  (`not_repaired`): one with another violation besides the long text (a failure type CodePipeline
  does not know, an Alibaba task token whose MAC does not verify), and one whose signature the
  edge could not verify (nothing is signed for a caller the edge cannot vouch for).
- An edge recording in its own sink keeps the same evidence in the sink line.
- An edge with a memory (`[store] kind = "embedded"`) forwards the repaired report once; the
  same bytes again (a boto3 SendTaskFailure with a 40,000-character cause, an Alibaba
  ReportTaskFailed with a 5,000-character Cause) are refused by the memory (the settled task's
  TaskTimedOut, SignatureNonceUsed), nothing more reaches the service, `taskgate_repaired_total`
  still reads 1 (it counts only what is delivered), and the refusal's log line carries the cut.

Run: tests/sdk/setup.sh && TASKGATE_BIN=target/release/taskgate tests/sdk/.venv/bin/python -m pytest tests/sdk/python/test_repair.py
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import uuid
from pathlib import Path
from typing import Callable

import pytest

import sdkcommon as c

REPAIRED = "taskgate_repaired_total"

SFN_TOKEN = "AQCEAAAAKgAAAAMAAAAAAAAAAf-repair-task-token+/=0123456789"
SWF_TOKEN = "AAAAKgAAAAEAAAAAAAAAAswf-repair-task-token+/=0123456789"
JOB_ID = "5e0f3c1a-2b4d-4c6e-8f0a-1b2c3d4e5f60"


def long_text(length: int, line: str = "line {i}: disk full, café 😀 50% a+b=c&d\n") -> str:
    """`length` characters (code points) of numbered lines: no two prefixes of it are alike, so
    a cut one character off is seen."""
    parts, total, i = [], 0, 0
    while total < length:
        part = line.format(i=i)
        parts.append(part)
        total += len(part)
        i += 1
    return "".join(parts)[:length]


@dataclasses.dataclass(frozen=True)
class Text:
    """One free-text field of a failure report, as sent."""

    name: str  # as the service names it: the log line's `field` and the metric's label
    slot: str  # the sink's key for it: `error` or `cause`
    limit: int  # the service's limit, in characters
    value: str

    @property
    def over(self) -> bool:
        return len(self.value) > self.limit

    @property
    def forwarded(self) -> str:
        """What the service should get: the value itself, or its cut."""
        if not self.over:
            return self.value
        marker = f"...[truncated by taskgate: {len(self.value)} characters]"
        return self.value[: self.limit - len(marker)] + marker

    @property
    def evidence(self) -> dict:
        return {
            "field": self.name,
            "original_length": len(self.value),
            "length": self.limit,
            "sha256": hashlib.sha256(self.value.encode("utf-8")).hexdigest(),
        }


def cut(texts: tuple[Text, ...]) -> list[dict]:
    """The log line's `repaired`: the over-long fields, in the service's model order."""
    return [text.evidence for text in texts if text.over]


def too_long(texts: tuple[Text, ...]) -> str:
    """The AWS refusal of these fields' lengths (ValidationException)."""
    parts = [
        f"Value at '{text.name}' failed to satisfy constraint: Member must have length less than or equal to {text.limit}"
        for text in texts
        if text.over
    ]
    errors = "1 validation error" if len(parts) == 1 else f"{len(parts)} validation errors"
    return f"{errors} detected: " + "; ".join(parts)


# ---------------------------------------------------------------------------------------------
# the calls


@dataclasses.dataclass(frozen=True)
class AwsCase:
    id: str
    service: str  # boto3 client name
    method: str  # boto3 client method
    dialect: str
    action: str
    params: dict
    texts: tuple[Text, ...]  # its free text, in the model's order
    recorded: dict  # what else the sink records of it


def send_task_failure(id: str, error: str, cause: str) -> AwsCase:
    texts = (Text("error", "error", 256, error), Text("cause", "cause", 32768, cause))
    return AwsCase(id, "stepfunctions", "send_task_failure", "states", "SendTaskFailure",
                   {"taskToken": SFN_TOKEN, "error": error, "cause": cause}, texts, {"task_token": SFN_TOKEN})


def respond_activity_task_failed(id: str, reason: str, details: str) -> AwsCase:
    texts = (Text("reason", "error", 256, reason), Text("details", "cause", 32768, details))
    return AwsCase(id, "swf", "respond_activity_task_failed", "swf", "RespondActivityTaskFailed",
                   {"taskToken": SWF_TOKEN, "reason": reason, "details": details}, texts, {"task_token": SWF_TOKEN})


def put_job_failure_result(id: str, message: str, failure_type: str = "JobFailed") -> AwsCase:
    texts = (Text("failureDetails.message", "cause", 5000, message),)
    return AwsCase(id, "codepipeline", "put_job_failure_result", "codepipeline", "PutJobFailureResult",
                   {"jobId": JOB_ID, "failureDetails": {"type": failure_type, "message": message}}, texts,
                   {"task_token": JOB_ID, "error": failure_type})


SFN_CAUSE = send_task_failure("send_task_failure-40000-character-cause", "Worker.Crashed", long_text(40000))
# 32769 astral characters: 65538 UTF-16 code units, 393 KB of `\ud83d\ude00` escapes.
SFN_BOTH = send_task_failure("send_task_failure-error-and-cause-in-astral-characters",
                             long_text(300, "E{i} 😀 "), "😀" * 32769)
SWF_REASON = respond_activity_task_failed("respond_activity_task_failed-300-character-reason",
                                          long_text(300, "échec n°{i}: é "), c.CAUSE)
PIPELINE_MESSAGE = put_job_failure_result("put_job_failure_result-6000-character-message", long_text(6000))
AWS_CASES = [SFN_CAUSE, SFN_BOTH, SWF_REASON, PIPELINE_MESSAGE]


def aws_call(case: AwsCase, endpoint: str, **client_args) -> dict:
    client, _ = c.aws_client(case.service, endpoint, **client_args)
    return getattr(client, case.method)(**case.params)


FNF_CAUSE = long_text(5000, "ligne {i}: disque plein é 😀 50% a+b=c&d ~*\n")
FNF_TEXTS = (Text("Error", "error", 128, c.ERROR), Text("Cause", "cause", 4096, FNF_CAUSE))
LAYOUT_IDS = [layout.name for layout in c.LAYOUTS]


def new_task(key: str = c.TOKEN_KEY) -> tuple[str, int, str]:
    """(execution id, event id, token) of a fresh Alibaba task, its token's MAC made with `key`."""
    execution_id = str(uuid.uuid4())
    event_id = 1000 + uuid.uuid4().int % 100000
    return execution_id, event_id, c.make_task_token(execution_id, event_id, key=key)


def refusal(send: Callable[[], object]) -> tuple[str, int, str]:
    """(code, status, message) of the error answer `send()`, an SDK call, must get."""
    from botocore.exceptions import ClientError

    try:
        result = send()
    except ClientError as exc:
        error, meta = exc.response["Error"], exc.response["ResponseMetadata"]
        return error["Code"], meta["HTTPStatusCode"], error["Message"]
    except c.sdk_error_classes() as exc:
        return c.sdk_error_code(exc), c.sdk_error_status(exc), c.sdk_error_message(exc)
    raise AssertionError(f"the SDK call succeeded ({result!r}) where an error answer was expected")


# ---------------------------------------------------------------------------------------------
# the gateways


def gateway_config(path: Path, *, repair: str | None, upstream: str | None = None, sink: Path | None = None,
                   extra: str = "", store: str = 'kind = "none"') -> Path:
    """A `taskgate serve` configuration with the Alibaba and AWS test keys, forwarding to
    `upstream` or recording in `sink`; `repair` is `[serve] repair` (`None`: not set), `store`
    the body of its `[store]` table (by default it remembers nothing)."""
    setting = "" if repair is None else f"repair = {c._toml_string(repair)}\n"
    path.write_text(
        c.serve_config_toml(upstream=upstream, sink_path=sink, upstream_timeout_ms=10000,
                            extra_access_keys=c.AWS_ACCESS_KEYS, extra=setting + extra, store=store),
        encoding="utf-8",
    )
    return path


@dataclasses.dataclass
class Gateways:
    repairing: c.Pair  # an edge with repair = "truncate" in front of the service
    refusing: c.Serve  # an edge with repair = "off" in front of the same service; "truncate" for host localhost
    recording: c.Serve  # an edge with repair = "truncate" and its own sink
    recording_sink: Path

    @property
    def service(self) -> c.Serve:
        return self.repairing.service


@pytest.fixture(scope="module")
def gateways(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("repair")
    sink, recording_sink = tmp / "service-sink.jsonl", tmp / "edge-sink.jsonl"
    # The service: no repair setting (it never has anything to repair), the same keys.
    with c.Serve(gateway_config(tmp / "service.toml", repair=None, sink=sink), workdir=tmp) as service:
        upstream = f"http://{service.endpoint}"
        route = f'\n[[serve.routes]]\nhost = "localhost"\nupstream = {c._toml_string(upstream)}\nrepair = "truncate"\n'
        with c.Serve(gateway_config(tmp / "repairing.toml", repair="truncate", upstream=upstream), workdir=tmp) as repairing, \
                c.Serve(gateway_config(tmp / "refusing.toml", repair="off", upstream=upstream, extra=route),
                        workdir=tmp) as refusing, \
                c.Serve(gateway_config(tmp / "recording.toml", repair="truncate", sink=recording_sink),
                        workdir=tmp) as recording:
            yield Gateways(c.Pair(repairing, service, sink), refusing, recording, recording_sink)


def repaired_counts(serve: c.Serve) -> dict[tuple[str, str], int]:
    """`taskgate_repaired_total` by (dialect, field)."""
    out = {}
    for line in serve.metrics().splitlines():
        m = re.fullmatch(REPAIRED + r'\{dialect="([a-z]+)",field="([^"]*)"\} (\d+)', line)
        if m:
            out[(m.group(1), m.group(2))] = int(m.group(3))
    return out


def next_line(serve: c.Serve, before: int) -> dict:
    """The gateway's one per-request log line after the `before` it had."""
    lines = serve.wait_for_log_lines(before + 1)
    assert len(lines) == before + 1, f"{len(lines) - before} new log lines, expected one:\n{lines[before:]}"
    return lines[-1]


def assert_repaired(pair: c.Pair, lines: tuple[dict, dict, dict], *, dialect: str, action: str, key_id: str,
                    texts: tuple[Text, ...], request_id: str, counted: dict) -> None:
    """The edge cut the over-long texts and signed the report again; the service verified it and
    recorded the task failed with the cut texts."""
    sink_line, edge_line, service_line = lines
    assert (sink_line["dialect"], sink_line["action"], sink_line["callback"]) == (dialect, action, "failed"), sink_line
    assert sink_line["access_key_id"] == key_id
    assert sink_line["request_id"] == request_id, "the SDK got the service's answer"
    for text in texts:
        assert sink_line[text.slot] == text.forwarded, f"the service recorded another {text.name}"
        if text.over:
            assert len(sink_line[text.slot]) == text.limit, f"{text.name} is not cut to its limit exactly"
    assert "repaired" not in sink_line, "the service itself had nothing to repair"

    assert (edge_line["code"], edge_line["status"], edge_line["dialect"], edge_line["action"]) == (
        "forwarded", 200, dialect, action), edge_line
    assert (edge_line["access_key_id"], edge_line["signature"]) == (key_id, "edge"), edge_line
    assert edge_line.get("sign_as") is None, "signed again with the caller's own key"
    assert edge_line["upstream"] == f"http://{pair.service.endpoint}", edge_line
    assert edge_line["repaired"] == cut(texts), edge_line
    assert edge_line["not_repaired"] is None, edge_line

    assert (service_line["code"], service_line["status"], service_line["dialect"], service_line["action"]) == (
        "recorded", 200, dialect, action), service_line
    assert (service_line["access_key_id"], service_line["signature"], service_line["upstream"]) == (
        key_id, "edge", "sink"), "the service verified the signature the edge made"
    assert (service_line["repaired"], service_line["not_repaired"]) == (None, None), service_line

    for text in texts:
        if text.over:
            pair.edge.wait_for_metric(
                f'{REPAIRED}{{dialect="{dialect}",field="{text.name}"}} {counted.get((dialect, text.name), 0) + 1}')


def assert_nothing_reached_the_service(gateways: Gateways, before: tuple[int, int]) -> None:
    pair = gateways.repairing
    now = (len(c.read_sink(pair.sink)), len(c.request_lines(pair.service)))
    assert now == before, "a refused report reached the service"


def service_counts(gateways: Gateways) -> tuple[int, int]:
    return len(c.read_sink(gateways.repairing.sink)), len(c.request_lines(gateways.service))


# ---------------------------------------------------------------------------------------------
# 1. repaired: the task fails with the cut text


@pytest.mark.parametrize("case", AWS_CASES, ids=[case.id for case in AWS_CASES])
def test_boto3_failure_report_over_the_limit_reaches_the_service_cut_to_the_limit(case: AwsCase, gateways: Gateways):
    pair = gateways.repairing
    before, counted = pair.counts(), repaired_counts(pair.edge)
    client, sent = c.aws_client(case.service, pair.edge.endpoint)
    result = getattr(client, case.method)(**case.params)
    meta = result.pop("ResponseMetadata")
    assert (meta["HTTPStatusCode"], result) == (200, {}), "the service's own success answer"
    [request] = sent
    assert json.loads(request.body) == case.params, "boto3 sent the whole text"

    sink_line, edge_line, service_line = lines = pair.one_more(before)
    assert_repaired(pair, lines, dialect=case.dialect, action=case.action, key_id=c.AWS_ACCESS_KEY_ID,
                    texts=case.texts, request_id=meta["RequestId"], counted=counted)
    for key, value in case.recorded.items():
        assert sink_line[key] == value, sink_line


@pytest.mark.parametrize("layout", c.LAYOUTS, ids=LAYOUT_IDS)
def test_alibaba_report_task_failed_over_the_limit_reaches_the_service_cut_to_the_limit(layout: c.Layout,
                                                                                        gateways: Gateways):
    pair = gateways.repairing
    before, counted = pair.counts(), repaired_counts(pair.edge)
    execution_id, event_id, token = new_task()
    result = layout.send(pair.edge.endpoint, token, c.ERROR, FNF_CAUSE)

    sink_line, edge_line, service_line = lines = pair.one_more(before)
    assert_repaired(pair, lines, dialect="fnf", action="ReportTaskFailed", key_id=c.ACCESS_KEY_ID,
                    texts=FNF_TEXTS, request_id=result.request_id, counted=counted)
    assert result.event_id == sink_line["event_id_assigned"], "the SDK got the service's answer"
    assert (sink_line["task_token"], sink_line["execution_id"], sink_line["event_id"], sink_line["verified"]) == (
        token, execution_id, event_id, True), sink_line


def test_a_routes_repair_overrides_the_serve_setting(gateways: Gateways):
    """The refusing edge (`[serve] repair = "off"`) repairs what comes for host `localhost`, whose
    route says "truncate"."""
    pair = c.Pair(gateways.refusing, gateways.service, gateways.repairing.sink)
    case = SWF_REASON
    before, counted = pair.counts(), repaired_counts(pair.edge)
    result = aws_call(case, f"localhost:{pair.edge.port}")
    lines = pair.one_more(before)
    assert_repaired(pair, lines, dialect=case.dialect, action=case.action, key_id=c.AWS_ACCESS_KEY_ID,
                    texts=case.texts, request_id=result["ResponseMetadata"]["RequestId"], counted=counted)


def test_a_report_at_its_limits_exactly_is_forwarded_as_sent(gateways: Gateways):
    pair = gateways.repairing
    case = send_task_failure("at-the-limits", long_text(256, "E{i} 😀 "), "😀" * 32768)
    before, counted = pair.counts(), repaired_counts(pair.edge)
    result = aws_call(case, pair.edge.endpoint)
    sink_line, edge_line, service_line = pair.one_more(before)
    assert (sink_line["error"], sink_line["cause"]) == (case.params["error"], case.params["cause"])
    assert sink_line["request_id"] == result["ResponseMetadata"]["RequestId"]
    assert (edge_line["code"], service_line["code"]) == ("forwarded", "recorded")
    assert (edge_line["repaired"], edge_line["not_repaired"]) == (None, None), edge_line
    assert repaired_counts(pair.edge) == counted


def test_an_edge_recording_in_its_own_sink_keeps_the_evidence_in_the_sink_line(gateways: Gateways):
    edge, sink = gateways.recording, gateways.recording_sink
    case = SFN_CAUSE
    aws_call(case, edge.endpoint)
    _, _, token = new_task()
    c.LAYOUTS[0].send(edge.endpoint, token, c.ERROR, FNF_CAUSE)
    lines = edge.wait_for_log_lines(2)
    records = c.read_sink(sink)
    assert len(lines) == len(records) == 2
    for texts, line, record in zip((case.texts, FNF_TEXTS), lines, records):
        assert (line["code"], line["upstream"]) == ("recorded", "sink"), line
        assert line["repaired"] == record["repaired"] == cut(texts), (line, record)
        for text in texts:
            assert record[text.slot] == text.forwarded, f"the sink recorded another {text.name}"


# ---------------------------------------------------------------------------------------------
# 2. repair = "off": the service's refusal


@pytest.mark.parametrize("case", AWS_CASES, ids=[case.id for case in AWS_CASES])
def test_with_repair_off_boto3_gets_the_services_exact_refusal(case: AwsCase, gateways: Gateways):
    edge = gateways.refusing
    before, lines_before = service_counts(gateways), len(c.request_lines(edge))
    code, status, message = refusal(lambda: aws_call(case, edge.endpoint))
    assert (code, status) == ("ValidationException", 400)
    assert c.same_message(message, too_long(case.texts)), message
    line = next_line(edge, lines_before)
    assert (line["code"], line["status"]) == ("ValidationException", 400), line
    assert (line["repaired"], line["not_repaired"]) == (None, None), line
    assert_nothing_reached_the_service(gateways, before)


@pytest.mark.parametrize("layout", c.LAYOUTS, ids=LAYOUT_IDS)
def test_with_repair_off_alibaba_gets_the_services_exact_refusal(layout: c.Layout, gateways: Gateways):
    edge = gateways.refusing
    before, lines_before = service_counts(gateways), len(c.request_lines(edge))
    _, _, token = new_task()
    answer = refusal(lambda: layout.send(edge.endpoint, token, c.ERROR, FNF_CAUSE))
    assert answer == (
        "InvalidArgument", 400, "Parameter error. The length of 'Cause' must be between 1 and 4096 characters, but is 5000.")
    line = next_line(edge, lines_before)
    assert (line["code"], line["status"]) == ("InvalidArgument", 400), line
    assert (line["repaired"], line["not_repaired"]) == (None, None), line
    assert_nothing_reached_the_service(gateways, before)


# ---------------------------------------------------------------------------------------------
# 3. not repairable: the original refusal, and why in the log


@dataclasses.dataclass(frozen=True)
class Unrepairable:
    id: str
    send: Callable[[str], object]  # the SDK call, to the gateway at an endpoint
    code: str  # the original refusal's code
    names: str  # what the original refusal's message names
    why: str  # what the edge's `not_repaired` says


def foreign_token(layout: c.Layout) -> Callable[[str], object]:
    """ReportTaskFailed with a 5,000-character Cause and a task token whose MAC no token key made."""
    _, _, token = new_task(key="not-the-token-key")
    return lambda endpoint: layout.send(endpoint, token, c.ERROR, FNF_CAUSE)


def wrong_alibaba_secret(layout: c.Layout) -> Callable[[str], object]:
    _, _, token = new_task()
    return lambda endpoint: c.send_with_secret(layout, c.WRONG_SECRET, endpoint, token, c.ERROR, FNF_CAUSE)


UNKNOWN_FAILURE_TYPE = put_job_failure_result("unknown-failure-type", long_text(6000), failure_type="Oops")

UNREPAIRABLE = [
    # Two violations: the repaired report is still refused, for its failure type.
    Unrepairable("put_job_failure_result-unknown-failure-type", lambda endpoint: aws_call(UNKNOWN_FAILURE_TYPE, endpoint),
                 "ValidationException", "'failureDetails.type'", "the repaired report is refused too: ValidationException"),
    Unrepairable("send_task_failure-wrong-secret",
                 lambda endpoint: aws_call(SFN_CAUSE, endpoint, secret="not-the-aws-secret-access-key"),
                 "InvalidSignatureException", "signature", "its signature did not verify at the edge"),
    # Alibaba checks the lengths before the token: the original refusal is the Cause's.
    *[Unrepairable(f"{layout.name}-foreign-task-token", foreign_token(layout), "InvalidArgument", "'Cause'",
                   "the repaired report is refused too: InvalidArgument") for layout in c.LAYOUTS],
    *[Unrepairable(f"{layout.name}-wrong-secret", wrong_alibaba_secret(layout), "SignatureNotMatch", "signature",
                   "its signature did not verify at the edge") for layout in c.LAYOUTS],
]


@pytest.mark.parametrize("case", UNREPAIRABLE, ids=[case.id for case in UNREPAIRABLE])
def test_a_report_that_cannot_be_repaired_keeps_its_original_refusal(case: Unrepairable, gateways: Gateways):
    edge, refusing = gateways.repairing.edge, gateways.refusing
    before, counted = service_counts(gateways), repaired_counts(edge)
    lines_before, refusing_before = len(c.request_lines(edge)), len(c.request_lines(refusing))
    original = refusal(lambda: case.send(refusing.endpoint))
    answer = refusal(lambda: case.send(edge.endpoint))
    assert answer == original, "the repairing edge answers what the service would"
    assert answer[0] == case.code and case.names in answer[2], answer

    line, refused = next_line(edge, lines_before), next_line(refusing, refusing_before)
    assert (line["code"], line["status"]) == (refused["code"], refused["status"]) == answer[:2], line
    assert (line["repaired"], line["not_repaired"]) == (None, case.why), line
    assert (refused["repaired"], refused["not_repaired"]) == (None, None), "repair = off does not try"
    assert repaired_counts(edge) == counted
    assert_nothing_reached_the_service(gateways, before)


# ---------------------------------------------------------------------------------------------
# 4. a memory: a replay it refuses was repaired, but is not counted


@dataclasses.dataclass(frozen=True)
class Replayed:
    id: str
    send: Callable[[str], str]  # the SDK call, to the gateway at an endpoint; returns the request id
    dialect: str
    action: str
    key_id: str
    texts: tuple[Text, ...]
    refusal: tuple[int, str, str]  # the memory's answer to the same bytes again: status, code, message


def fnf_send(layout: c.Layout) -> Callable[[str], str]:
    _, _, token = new_task()
    return lambda endpoint: layout.send(endpoint, token, c.ERROR, FNF_CAUSE).request_id


def answer_code(body: bytes) -> tuple[str, str]:
    """(code, message) of an error answer's JSON body, in the Alibaba or the AWS format."""
    answer = json.loads(body)
    if "Code" in answer:
        return answer["Code"], answer["Message"]
    return answer["__type"].rpartition("#")[2], answer.get("message", answer.get("Message"))


REPLAYED = [
    # SigV4 carries no nonce: the memory knows the task the first report settled.
    Replayed(SFN_CAUSE.id, lambda endpoint: aws_call(SFN_CAUSE, endpoint)["ResponseMetadata"]["RequestId"],
             SFN_CAUSE.dialect, SFN_CAUSE.action, c.AWS_ACCESS_KEY_ID, SFN_CAUSE.texts,
             (400, "TaskTimedOut", "Task Timed Out: 'Provided task does not exist anymore'")),
    # The same SignatureNonce again: a replay.
    Replayed(f"{c.LAYOUTS[0].name}-5000-character-cause", fnf_send(c.LAYOUTS[0]), "fnf", "ReportTaskFailed",
             c.ACCESS_KEY_ID, FNF_TEXTS, (400, "SignatureNonceUsed", "The request signature nonce has been used.")),
]


@pytest.mark.parametrize("case", REPLAYED, ids=[case.id for case in REPLAYED])
def test_a_repaired_report_replayed_to_an_edge_with_a_memory_is_refused_and_counted_once(case: Replayed,
                                                                                         gateways: Gateways,
                                                                                         tmp_path: Path):
    service, sink = gateways.service, gateways.repairing.sink
    store = f'kind = "embedded"\npath = {c._toml_string(str(tmp_path / "state.redb"))}'
    config = gateway_config(tmp_path / "remembering.toml", repair="truncate", upstream=f"http://{service.endpoint}",
                            store=store)
    with c.Serve(config, workdir=tmp_path) as edge, c.Tap(edge.port) as tap:
        pair = c.Pair(edge, service, sink)
        before = pair.counts()
        request_id = case.send(tap.endpoint)
        [raw] = tap.requests()
        lines = pair.one_more(before)
        assert_repaired(pair, lines, dialect=case.dialect, action=case.action, key_id=case.key_id,
                        texts=case.texts, request_id=request_id, counted={})
        counted = {(case.dialect, text.name): 1 for text in case.texts if text.over}
        assert repaired_counts(edge) == counted
        delivered = service_counts(gateways)

        status, body = c.send_raw(tap.endpoint, raw)
        assert (status, *answer_code(body)) == case.refusal, body
        first, replay = edge.wait_for_log_lines(2)
        assert first["code"] == "forwarded", first
        assert (replay["code"], replay["status"], replay["dialect"], replay["action"]) == (
            case.refusal[1], case.refusal[0], case.dialect, case.action), replay
        assert (replay["repaired"], replay["not_repaired"]) == (cut(case.texts), None), "the evidence of the cut"
        assert replay.get("upstream") is None, replay
        assert service_counts(gateways) == delivered, "the replay reached the service"
        assert repaired_counts(edge) == counted, "the refused replay was counted as repaired"
