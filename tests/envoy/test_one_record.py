"""One request, one record: the same calls through `taskgate serve`, the Envoy plugin (in the
real Envoy) and the wasi:http build (under `wasmtime serve`), each in front of the same
recording upstream, must leave the same log line and (where a build keeps counters) the same
counts. The record and the counters' names are `taskgate_filter::record`'s; this is the test
that would have caught the plugin counting a client that went away as `client_closed` where
`taskgate serve` said `ClientClosedRequest`.

What a build cannot know is named here, once, with why: the plugin has no timings of its own
and no upstream URL (Envoy's cluster is its business), and the wasi:http build is not told its
peer and keeps no counters (wasi:http has no metrics interface; the host counts requests).

Run: tests/envoy/run.sh (it builds the plugin and the wasi:http component and sets
TASKGATE_HTTP_COMPONENT and TASKGATE_WASMTIME).
"""

from __future__ import annotations

import json
import re
import sys
import uuid
from pathlib import Path

import pytest

import envoyproxy as e
import sdkcommon as c

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "wasi-http"))
from test_wasi_http import Host, settings_for, wait_for_records  # noqa: E402

SFN_TOKEN = "AQCEAAAAKgAAAAMAAAAAAAAAAf-sfn-task-token+/=0123456789"
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"

# The record's fields, in its order (`LogRecord`): every build writes every one of them.
FIELDS = [
    "request_id", "client_request_id", "trace_id", "client", "method", "path", "dialect", "action",
    "access_key_id", "signature", "sign_as", "repaired", "not_repaired", "code", "status", "upstream",
    "component_us", "upstream_us", "total_us", "shadow_code", "shadow_status",
]
# Each build's fields that may differ from the others', and why.
OWN = {
    # Each build makes its own id for each request.
    "request_id",
    # The peer as each host sees it (the wasi:http build is not told it).
    "client",
    # Where the request went (the plugin leaves it to Envoy) and how long things took (the
    # plugin has no clock of its own across Envoy's callbacks).
    "upstream", "component_us", "upstream_us", "total_us",
}
# A wasi:http component is not told that its client went away: its answer is written to a
# connection the host then finds closed, and it logs what it answered.
GONE_UNSEEN = {"wasi-http"}
UNKNOWN = {
    "serve": set(),
    "plugin": {"upstream", "component_us", "upstream_us", "total_us"},
    "wasi-http": {"client"},
}


def new_token() -> str:
    return c.make_task_token(str(uuid.uuid4()), 1000 + uuid.uuid4().int % 100000)


def unique(token: str) -> str:
    return f"{token}-{uuid.uuid4().hex}"


def report_accepted(endpoint: str) -> None:
    c.send_tea_rpc(endpoint, new_token(), "Secret.Error", "secret cause")


def report_wrong_secret(endpoint: str) -> None:
    c.expect_sdk_error(lambda: c.send_with_secret(
        c.LAYOUTS[0], c.WRONG_SECRET, endpoint, new_token(), "Secret.Error", "secret cause"))


def sfn_failure_accepted(endpoint: str) -> None:
    client, _ = c.aws_client("stepfunctions", endpoint)
    client.send_task_failure(taskToken=unique(SFN_TOKEN), error="Secret.Error", cause="secret cause")


def sfn_heartbeat_wrong_secret(endpoint: str) -> None:
    client, _ = c.aws_client("stepfunctions", endpoint, secret="not-the-secret")
    c.expect_client_error(lambda: client.send_task_heartbeat(taskToken=unique(SFN_TOKEN)))


def other_call(endpoint: str) -> None:
    client, _ = c.aws_client("stepfunctions", endpoint)
    client.describe_execution(executionArn="arn:aws:states:us-east-1:123456789012:execution:m:e")


def unsigned_with_ids(endpoint: str) -> None:
    """No signature at all, with the client's own request id and trace context: both logged."""
    status, _, body = c.post_report(endpoint, b"TaskToken=t&Error=E", {
        "content-type": "application/x-www-form-urlencoded",
        "x-request-id": "client-request-7",
        "traceparent": TRACEPARENT,
    })
    assert status == 400, (status, body)


def client_goes_away(endpoint: str) -> None:
    """A client that gives up before the upstream answers (the recorder holds its answer back
    for this call): nobody is there to be answered."""
    import boto3
    from botocore.config import Config
    from botocore.exceptions import ReadTimeoutError

    session = boto3.session.Session(aws_access_key_id=c.AWS_ACCESS_KEY_ID,
                                    aws_secret_access_key=c.AWS_SECRET_ACCESS_KEY, region_name=c.AWS_REGION)
    client = session.client("stepfunctions", endpoint_url=f"http://{endpoint}", config=Config(
        retries={"total_max_attempts": 1, "mode": "standard"}, read_timeout=0.5))
    with pytest.raises(ReadTimeoutError):
        client.send_task_heartbeat(taskToken=unique(SFN_TOKEN))


CALLS = [report_accepted, report_wrong_secret, sfn_failure_accepted, sfn_heartbeat_wrong_secret,
         other_call, unsigned_with_ids, client_goes_away]


def run_calls(endpoint: str, recorder: c.Recorder) -> None:
    for call in CALLS:
        recorder.delay = 2.0 if call is client_goes_away else 0.0
        call(endpoint)
    recorder.delay = 0.0


def counts(exposition: str) -> dict[str, float]:
    """`taskgate_requests_total` and `taskgate_other_calls_total` samples, by name and labels
    (sorted), from a Prometheus exposition."""
    out = {}
    for line in exposition.splitlines():
        found = re.fullmatch(r"(taskgate_(?:requests|other_calls)_total)\{([^}]*)\} (\S+)", line)
        if found:
            labels = ",".join(sorted(found.group(2).split(",")))
            out[f"{found.group(1)}{{{labels}}}"] = float(found.group(3))
    return out


def through_serve(tmp_path: Path, recorder: c.Recorder) -> tuple[list[dict], dict[str, float]]:
    config = tmp_path / "serve.toml"
    config.write_text(c.serve_config_toml(
        upstream=f"http://{recorder.endpoint}", extra_access_keys=c.AWS_ACCESS_KEYS,
        max_body_bytes=65536, extra="read_timeout_ms = 2000"), encoding="utf-8")
    with c.Serve(config, workdir=tmp_path) as serve:
        run_calls(serve.endpoint, recorder)
        serve.wait_for_log_lines(len(CALLS))
        lines = c.request_lines(serve)
        return lines, counts(serve.metrics())


def through_plugin(tmp_path: Path, recorder: c.Recorder) -> tuple[list[dict], dict[str, float]]:
    with e.Envoy(tmp_path, settings=e.plugin_settings(memory=False), upstream_port=recorder.port) as envoy:
        run_calls(envoy.endpoint, recorder)
        lines = envoy.wait_verdicts(len(CALLS), timeout=15)
        return lines, counts(envoy.admin("/stats/prometheus"))


def through_wasi_http(tmp_path: Path, recorder: c.Recorder) -> tuple[list[dict], dict[str, float]]:
    with Host("wasmtime", settings_for(f"http://{recorder.endpoint}"), tmp_path) as host:
        run_calls(host.endpoint, recorder)
        return wait_for_records(host, len(CALLS), timeout=15), {}


@pytest.fixture(scope="module")
def recorder():
    with c.Recorder(answer="auto") as rec:
        yield rec


@pytest.fixture(scope="module")
def builds(recorder: c.Recorder, tmp_path_factory) -> dict[str, tuple[list[dict], dict[str, float]]]:
    return {
        name: run(tmp_path_factory.mktemp(name), recorder)
        for name, run in (("serve", through_serve), ("plugin", through_plugin), ("wasi-http", through_wasi_http))
    }


def test_every_build_writes_the_record_with_every_field_in_order(builds):
    for name, (lines, _) in builds.items():
        assert len(lines) == len(CALLS), (name, lines)
        for line in lines:
            assert list(line) == FIELDS, (name, line)
            assert re.fullmatch(r"[0-9A-Fa-f]{8}(-[0-9A-Fa-f]{4}){3}-[0-9A-Fa-f]{12}", line["request_id"]), line
            for field in UNKNOWN[name]:
                assert line[field] is None, (name, field, line)


def test_one_request_is_logged_alike_by_every_build(builds):
    shared = [field for field in FIELDS if field not in OWN]
    serve_lines = builds["serve"][0]
    for name, (lines, _) in builds.items():
        for call, ours, theirs in zip(CALLS, serve_lines, lines):
            if call is client_goes_away and name in GONE_UNSEEN:
                assert (theirs["code"], theirs["action"]) == ("forwarded", ours["action"]), theirs
                continue
            assert {f: theirs[f] for f in shared} == {f: ours[f] for f in shared}, (name, call.__name__)
    # What the calls were logged as, so that "alike" is not alike in being empty.
    assert [(line["dialect"], line["action"], line["code"], line["status"]) for line in serve_lines] == [
        ("fnf", "ReportTaskFailed", "forwarded", 200),
        ("fnf", None, "SignatureNotMatch", 403),
        ("states", "SendTaskFailure", "forwarded", 200),
        ("states", None, "InvalidSignatureException", 400),
        ("states", "DescribeExecution", "forwarded", 200),
        ("fnf", None, serve_lines[5]["code"], 400),
        ("states", "SendTaskHeartbeat", "ClientClosedRequest", 499),
    ], serve_lines
    assert (serve_lines[5]["client_request_id"], serve_lines[5]["trace_id"]) == ("client-request-7", TRACE_ID)
    assert [line["signature"] for line in serve_lines[:5]] == ["edge", None, "edge", None, "edge"]


def test_where_a_build_knows_it_it_logs_the_same(builds):
    upstreams = {name: [line["upstream"] for line in lines] for name, (lines, _) in builds.items()}
    assert upstreams["wasi-http"] == upstreams["serve"], upstreams
    clients = {name: [line["client"] for line in lines] for name, (lines, _) in builds.items()}
    assert clients["plugin"] == clients["serve"] == ["127.0.0.1"] * len(CALLS), clients
    for name in ("serve", "wasi-http"):
        for line in builds[name][0]:
            assert isinstance(line["total_us"], int), (name, line)


def test_the_counters_are_the_same_in_serve_and_the_plugin(builds):
    serve_counts, plugin_counts = builds["serve"][1], builds["plugin"][1]
    assert serve_counts, "serve counted nothing"
    assert plugin_counts == serve_counts, (plugin_counts, serve_counts)
    assert serve_counts['taskgate_requests_total{code="ClientClosedRequest",dialect="states",status="499"}'] == 1
    assert serve_counts[
        'taskgate_other_calls_total{action="DescribeExecution",dialect="states",mode="authenticate"}'] == 1


def test_no_build_logs_a_secret_or_a_sensitive_field(builds):
    for name, (lines, _) in builds.items():
        text = json.dumps(lines)
        for secret in (c.ACCESS_KEY_SECRET, c.AWS_SECRET_ACCESS_KEY, c.TOKEN_KEY, "Secret.Error", "secret cause"):
            assert secret not in text, (name, secret)
