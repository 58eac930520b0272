"""Shadow mode (`[serve] mode = "shadow"`) seen by the real SDKs: the same calls that an
enforcing gateway answers at the edge (a wrong secret, a report for a task already settled) go
through to the recording upstream unchanged, and the gateway logs and counts the exact code
enforce mode answered them with (`shadow_code` in the log line,
`taskgate_shadow_total{dialect,code}`). And a client's W3C trace context (boto3 adding
`traceparent` and `tracestate`) reaches the upstream byte for byte, its trace id in the log.

Run: tests/sdk/setup.sh && TASKGATE_BIN=target/release/taskgate tests/sdk/.venv/bin/python -m pytest tests/sdk/python/test_shadow.py
"""

from __future__ import annotations

from pathlib import Path

import pytest
from botocore.exceptions import ClientError

import sdkcommon as c

LAYOUT_IDS = [layout.name for layout in c.LAYOUTS]
SFN_TOKEN = "AQCEAAAAKgAAAAMAAAAAAAAAAf-shadow-task-token"


def config(tmp_path: Path, name: str, mode: str, fnf: c.Recorder, aws: c.Recorder, store: str = 'kind = "none"') -> Path:
    return c.recorders_config(tmp_path / name, fnf, aws, extra=f'mode = "{mode}"', store=store)


def shadow_lines(serve: c.Serve, count: int = 1) -> list[dict]:
    """The shadow-mode log lines, once there are (at least) `count` of them."""
    return serve.wait_for_log_lines(count, where=lambda line: line.get("shadow_code"))


@pytest.mark.parametrize("layout", c.LAYOUTS, ids=LAYOUT_IDS)
def test_a_wrong_secret_goes_through_in_shadow_mode_and_is_counted_with_enforces_code(
    layout: c.Layout, tmp_path: Path
) -> None:
    token = c.make_task_token("2b0c6a4e-8f5e-4d1a-9c3b-7e6f5a4d3c2b", 7000 + c.LAYOUTS.index(layout))
    with c.Recorder() as fnf, c.Recorder(answer="aws") as aws:
        enforce_config = config(tmp_path, "enforce.toml", "enforce", fnf, aws)
        shadow_config = config(tmp_path, "shadow.toml", "shadow", fnf, aws)
        with c.Serve(enforce_config, workdir=tmp_path) as enforce:
            exc = c.expect_sdk_error(
                lambda: c.send_with_secret(layout, c.WRONG_SECRET, enforce.endpoint, token, c.ERROR, c.CAUSE)
            )
        enforced = c.sdk_error_code(exc)
        assert enforced == "SignatureNotMatch", exc
        assert fnf.captures == []

        with c.Serve(shadow_config, workdir=tmp_path) as shadow:
            result = c.send_with_secret(layout, c.WRONG_SECRET, shadow.endpoint, token, c.ERROR, c.CAUSE)
            assert result.event_id == c.EVENT_ID, "the SDK got the upstream's answer"
            assert len(fnf.captures) == 1
            forwarded = c.parse_raw(fnf.captures[0].raw)
            params = {**forwarded.query, **forwarded.form}
            assert params["TaskToken"] == token and params["Cause"] == c.CAUSE
            [line] = shadow_lines(shadow)
            assert (line["code"], line["status"]) == ("forwarded", 200)
            assert (line["shadow_code"], line["shadow_status"]) == (enforced, 403)
            assert c.CAUSE not in shadow.stderr_text()
            shadow.wait_for_metric(f'taskgate_shadow_total{{dialect="fnf",code="{enforced}"}} 1')


def test_boto3_calls_enforce_refuses_go_through_in_shadow_mode(tmp_path: Path) -> None:
    with c.Recorder() as fnf, c.Recorder(answer="aws") as aws:
        enforce_config = config(tmp_path, "enforce.toml", "enforce", fnf, aws)
        shadow_config = config(tmp_path, "shadow.toml", "shadow", fnf, aws)
        bad_calls = {
            # A signature made with another secret, and a cause over the 32768-character limit.
            "InvalidSignatureException": dict(secret="not" + c.AWS_SECRET_ACCESS_KEY, cause="c"),
            "ValidationException": dict(secret=c.AWS_SECRET_ACCESS_KEY, cause="x" * 32769),
        }
        enforced = {}
        with c.Serve(enforce_config, workdir=tmp_path) as enforce:
            for expected, call in bad_calls.items():
                client, _ = c.aws_client("stepfunctions", enforce.endpoint, secret=call["secret"])
                with pytest.raises(ClientError) as raised:
                    client.send_task_failure(taskToken=SFN_TOKEN, error="E", cause=call["cause"])
                enforced[expected] = raised.value.response["Error"]["Code"]
                assert enforced[expected] == expected
        assert aws.captures == []

        with c.Serve(shadow_config, workdir=tmp_path) as shadow:
            for expected, call in bad_calls.items():
                client, sent = c.aws_client("stepfunctions", shadow.endpoint, secret=call["secret"])
                client.send_task_failure(taskToken=SFN_TOKEN, error="E", cause=call["cause"])
                # Byte for byte what boto3 sent.
                assert c.parse_raw(aws.captures[-1].raw).body == sent[-1].body
            codes = [(line["shadow_code"], line["status"]) for line in shadow_lines(shadow, len(enforced))]
            assert codes == [(code, 200) for code in enforced.values()]
            for code in enforced.values():
                shadow.wait_for_metric(f'taskgate_shadow_total{{dialect="states",code="{code}"}} 1')
        assert len(aws.captures) == 2


def test_a_report_for_a_settled_task_goes_through_in_shadow_mode_with_the_settled_code(tmp_path: Path) -> None:
    token = c.make_task_token("2b0c6a4e-8f5e-4d1a-9c3b-7e6f5a4d3c2b", 7100)
    with c.Recorder() as fnf, c.Recorder(answer="aws") as aws:
        store = f'kind = "embedded"\npath = "{tmp_path / "state.redb"}"'
        shadow_config = config(tmp_path, "shadow.toml", "shadow", fnf, aws, store=store)
        with c.Serve(shadow_config, workdir=tmp_path) as shadow:
            c.send_tea_rpc(shadow.endpoint, token, "E", "c")
            # The upstream settled it; enforce mode would now answer TaskAlreadyCompleted.
            c.send_tea_rpc(shadow.endpoint, token, "E", "c")
            assert len(fnf.captures) == 2
            [line] = shadow_lines(shadow)
            assert line["shadow_code"] == "TaskAlreadyCompleted", line
            assert line["code"] == "forwarded"


def test_a_traceparent_boto3_sends_reaches_the_upstream_byte_for_byte_and_is_logged(tmp_path: Path) -> None:
    traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    tracestate = "congo=t61rcWkgMzE"

    def add_trace_context(request, **_kwargs) -> None:
        request.headers["traceparent"] = traceparent
        request.headers["tracestate"] = tracestate

    with c.Recorder() as fnf, c.Recorder(answer="aws") as aws:
        with c.Serve(config(tmp_path, "enforce.toml", "enforce", fnf, aws), workdir=tmp_path) as serve:
            client, _ = c.aws_client("stepfunctions", serve.endpoint)
            client.meta.events.register("before-sign", add_trace_context)
            client.send_task_failure(taskToken=SFN_TOKEN, error="E", cause="c")
            traced = serve.wait_for_log_lines(1, where=lambda line: line.get("trace_id"))
        [raw] = [capture.raw for capture in aws.captures]
    head = raw.split(b"\r\n\r\n", 1)[0].decode("latin-1").lower()
    assert f"\r\ntraceparent: {traceparent}\r\n" in head, head
    assert f"\r\ntracestate: {tracestate.lower()}\r\n" in head, head
    assert traced[0]["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736"
