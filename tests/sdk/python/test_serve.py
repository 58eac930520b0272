"""End to end through `taskgate serve`: the vendors' real Python SDKs send ReportTaskFailed to a
running taskgate, which forwards accepted reports to a recording upstream (tests/sdk/recorder.py),
answers rejected ones itself, and in sink mode (no upstream) answers and logs them itself.

Every test starts its own `taskgate serve` (temporary config, port 0) and stops it with SIGTERM,
expecting exit code 0.

Run: tests/sdk/setup.sh && TASKGATE_BIN=target/release/taskgate tests/sdk/.venv/bin/python -m pytest tests/sdk/python/test_serve.py
The trap tests use $TASKGATE_FAULTS_COMPONENT, or build the test-faults component themselves.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

import sdkcommon as c

LAYOUT_IDS = [layout.name for layout in c.LAYOUTS]
VENDOR_ERROR_KEYS = {"RequestId", "HostId", "Code", "Message", "Recommend"}
# Two different reports for the sink: (Error, Cause).
REPORTS = [(c.ERROR, c.CAUSE), ("Task.Timeout", "second report: 100% over ✓ x=y&z")]


def new_task() -> tuple[str, int, str]:
    """(execution id, event id, token) of a fresh task."""
    execution_id = str(uuid.uuid4())
    event_id = 1000 + uuid.uuid4().int % 100000
    return execution_id, event_id, c.make_task_token(execution_id, event_id)


def write_config(tmp_path: Path, name: str = "taskgate.toml", **kwargs) -> Path:
    path = tmp_path / name
    path.write_text(c.serve_config_toml(**kwargs), encoding="utf-8")
    return path


def error_data(exc: BaseException) -> dict:
    """The parsed error body an SDK exception carries, where the SDK keeps it."""
    data = getattr(exc, "data", None)
    return data if isinstance(data, dict) else {}


@pytest.fixture
def recorder():
    with c.Recorder() as rec:
        yield rec


@pytest.fixture(scope="session")
def faults_component() -> Path:
    return c.faults_component()


# ---------------------------------------------------------------------------------------------
# 1. a valid report is forwarded once, intact


@pytest.mark.parametrize("layout", c.LAYOUTS, ids=LAYOUT_IDS)
def test_valid_report_is_forwarded_intact(layout: c.Layout, recorder: c.Recorder, tmp_path: Path):
    execution_id, event_id, token = new_task()
    config = write_config(tmp_path, upstream=f"http://{recorder.endpoint}")
    with c.Serve(config, workdir=tmp_path) as serve:
        result = layout.send(serve.endpoint, token, c.ERROR, c.CAUSE)
        captures = recorder.captures

    # The SDK got the upstream's answer.
    assert len(captures) == 1, f"the upstream got {len(captures)} requests, expected exactly one"
    assert result.event_id == c.EVENT_ID
    assert result.request_id == captures[0].request_id

    # What arrived upstream.
    req = c.parse_raw(captures[0].raw)
    assert req.method == "POST"
    assert req.path == "/"
    assert req.header("x-forwarded-for") == "127.0.0.1", req.headers
    assert req.header("host") == serve.endpoint, "the Host the SDK sent was not kept"
    params = {**req.query, **req.form}
    assert params["TaskToken"] == token
    assert params["Error"] == c.ERROR
    assert params["Cause"] == c.CAUSE

    # The signed bytes arrived intact: the forwarded request still verifies.
    forwarded = tmp_path / "forwarded.http"
    forwarded.write_bytes(captures[0].raw)
    res = c.taskgate_check(config, forwarded)
    assert res.exit_code == 0, res
    assert res.output["verdict"] == "forward", res
    report = res.output["report"]
    assert report["access_key_id"] == c.ACCESS_KEY_ID
    assert report["task_token"] == token
    assert report["error"] == c.ERROR
    assert report["cause"] == c.CAUSE
    assert report["token"]["execution_id"] == execution_id
    assert report["token"]["event_id"] == event_id
    assert report["token"]["verified"] is True


# ---------------------------------------------------------------------------------------------
# 2. a wrong secret is answered by taskgate itself


@pytest.mark.parametrize("layout", c.LAYOUTS, ids=LAYOUT_IDS)
def test_wrong_secret_is_rejected_and_not_forwarded(layout: c.Layout, recorder: c.Recorder, tmp_path: Path):
    _, _, token = new_task()
    config = write_config(tmp_path, upstream=f"http://{recorder.endpoint}")
    with c.Serve(config, workdir=tmp_path) as serve:
        exc = c.expect_sdk_error(
            lambda: c.send_with_secret(layout, c.WRONG_SECRET, serve.endpoint, token, c.ERROR, c.CAUSE)
        )
        captures = recorder.captures
    assert c.sdk_error_code(exc) == "SignatureNotMatch", repr(exc)
    data = error_data(exc)
    if data:
        assert data.keys() >= VENDOR_ERROR_KEYS, data
    assert captures == [], f"a rejected request reached the upstream: {captures!r}"


# ---------------------------------------------------------------------------------------------
# 3. a dead upstream is an InternalServerError


@pytest.mark.parametrize("layout", c.LAYOUTS, ids=LAYOUT_IDS)
def test_dead_upstream_is_internal_server_error(layout: c.Layout, tmp_path: Path):
    _, _, token = new_task()
    with c.refused_port() as port:
        config = write_config(tmp_path, upstream=f"http://127.0.0.1:{port}")
        with c.Serve(config, workdir=tmp_path) as serve:
            exc = c.expect_sdk_error(lambda: layout.send(serve.endpoint, token, c.ERROR, c.CAUSE))
    assert c.sdk_error_code(exc) == "InternalServerError", repr(exc)
    data = error_data(exc)
    if data:
        assert data.keys() >= VENDOR_ERROR_KEYS, data


# ---------------------------------------------------------------------------------------------
# 4. a component trap is an InternalServerError, and the next request works


@pytest.mark.parametrize("layout", c.LAYOUTS, ids=LAYOUT_IDS)
def test_component_trap_is_internal_server_error_then_recovers(
    layout: c.Layout, recorder: c.Recorder, tmp_path: Path, faults_component: Path
):
    _, _, trap_token = new_task()
    execution_id, event_id, token = new_task()
    trap_cause = f"{c.CAUSE} {c.TRAP_MARKER}"
    config = write_config(tmp_path, upstream=f"http://{recorder.endpoint}")
    with c.Serve(config, workdir=tmp_path, component=faults_component) as serve:
        exc = c.expect_sdk_error(lambda: layout.send(serve.endpoint, trap_token, c.ERROR, trap_cause))
        after_trap = recorder.captures
        result = layout.send(serve.endpoint, token, c.ERROR, c.CAUSE)
        captures = recorder.captures

    assert c.sdk_error_code(exc) == "InternalServerError", repr(exc)
    assert after_trap == [], "the request that trapped the component reached the upstream"
    assert len(captures) == 1, f"the upstream got {len(captures)} requests, expected exactly one"
    assert result.event_id == c.EVENT_ID
    assert result.request_id == captures[0].request_id
    req = c.parse_raw(captures[0].raw)
    params = {**req.query, **req.form}
    assert params["TaskToken"] == token
    assert params["Cause"] == c.CAUSE


# ---------------------------------------------------------------------------------------------
# 5. sink mode: no upstream, taskgate answers and logs accepted reports


@pytest.mark.parametrize("layout", c.LAYOUTS, ids=LAYOUT_IDS)
def test_sink_mode_answers_and_logs_each_report(layout: c.Layout, tmp_path: Path):
    sink = tmp_path / "sink.jsonl"
    config = write_config(tmp_path, sink_path=sink)
    sent = []
    with c.Serve(config, workdir=tmp_path) as serve:
        for i, (error, cause) in enumerate(REPORTS):
            execution_id, event_id, token = new_task()
            result = layout.send(serve.endpoint, token, error, cause)
            assert type(result.event_id) is int, f"report {i + 1}: EventId {result.event_id!r} is not an integer"
            assert isinstance(result.request_id, str) and result.request_id, result
            sent.append((execution_id, event_id, token, error, cause, result))

    lines = c.read_sink(sink)
    assert len(lines) == 2, f"the sink holds {len(lines)} lines, expected 2: {lines!r}"
    by_execution = {line.get("execution_id"): line for line in lines}
    assert len(by_execution) == 2, lines
    for execution_id, event_id, token, error, cause, result in sent:
        line = by_execution.get(execution_id)
        assert line is not None, f"no sink line for execution {execution_id}: {lines!r}"
        for key in ("request_id", "access_key_id", "task_token", "execution_id", "event_id",
                    "account", "verified", "error", "cause"):
            assert key in line, f"sink line lacks {key!r}: {line!r}"
        assert line["error"] == error
        assert line["cause"] == cause
        assert line["event_id"] == event_id
        assert line["task_token"] == token
        assert line["access_key_id"] == c.ACCESS_KEY_ID
        assert line["account"] == c.ACCOUNT
        assert line["verified"] is True
        assert line["request_id"] == result.request_id, "the sink logged another RequestId than it answered"
