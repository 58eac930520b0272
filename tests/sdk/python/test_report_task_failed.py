"""End to end: the vendors' real Python SDKs send ReportTaskFailed to a local recorder; the exact
captured request is then judged by the `taskgate check` CLI.

Run: tests/sdk/setup.sh && TASKGATE_BIN=target/release/taskgate tests/sdk/.venv/bin/python -m pytest tests/sdk/python
"""

from __future__ import annotations

import base64
import dataclasses
import json
import uuid
from pathlib import Path

import pytest

import sdkcommon as c


@dataclasses.dataclass
class Exchange:
    layout: c.Layout
    token: str
    execution_id: str
    event_id: int
    sdk: c.SdkResult
    recorded_request_id: str
    raw: bytes
    request_file: Path
    good_config: Path
    wrong_config: Path


@pytest.fixture(scope="module", params=c.LAYOUTS, ids=lambda layout: layout.name)
def exchange(request, tmp_path_factory) -> Exchange:
    layout: c.Layout = request.param
    execution_id = str(uuid.uuid4())
    event_id = 1000 + uuid.uuid4().int % 100000
    token = c.make_task_token(execution_id, event_id)
    with c.Recorder() as rec:
        result = layout.send(rec.endpoint, token, c.ERROR, c.CAUSE)
        captures = rec.captures
    assert len(captures) == 1, f"expected exactly one request, got {len(captures)}"
    tmp = tmp_path_factory.mktemp(layout.name)
    request_file = tmp / "request.http"
    request_file.write_bytes(captures[0].raw)
    good = tmp / "good.toml"
    good.write_text(c.config_toml())
    wrong = tmp / "wrong-secret.toml"
    wrong.write_text(c.config_toml(secret=c.WRONG_SECRET))
    return Exchange(
        layout, token, execution_id, event_id, result, captures[0].request_id, captures[0].raw,
        request_file, good, wrong,
    )


def test_token_format_has_no_plus_or_slash():
    token = c.make_task_token(c.FIXTURE_EXECUTION_ID, c.FIXTURE_EVENT_ID)
    text = base64.b64decode(token).decode("ascii")
    assert text.startswith(f"v1#a#{c.FIXTURE_EXECUTION_ID}#{c.FIXTURE_EVENT_ID}#")
    assert "+" not in token and "/" not in token


def test_sdk_received_recorder_answer(exchange: Exchange):
    assert exchange.sdk.event_id == c.EVENT_ID
    assert exchange.sdk.request_id == exchange.recorded_request_id


def test_request_layout(exchange: Exchange):
    """Where the SDK put what: catches an SDK upgrade that changes the wire layout."""
    req = c.parse_raw(exchange.raw)
    assert req.method == "POST"
    assert req.path == "/"
    params = {**req.query, **req.form}
    assert not set(req.query) & set(req.form), "a parameter sent twice"
    assert params["TaskToken"] == exchange.token
    assert params["Error"] == c.ERROR
    assert params["Cause"] == c.CAUSE
    assert req.form.keys() >= {"Error", "Cause"}
    assert "TaskToken" in req.query
    name = exchange.layout.name
    if name.endswith("acs3"):
        assert set(req.query) == {"TaskToken"}
        auth = req.header("authorization") or ""
        assert auth.startswith(f"ACS3-HMAC-SHA256 Credential={c.ACCESS_KEY_ID},SignedHeaders=")
        signed = auth.split("SignedHeaders=")[1].split(",")[0].split(";")
        assert set(signed) >= {
            "host", "x-acs-action", "x-acs-content-sha256", "x-acs-date",
            "x-acs-signature-nonce", "x-acs-version",
        }
        assert req.header("x-acs-action") == "ReportTaskFailed"
        assert req.header("x-acs-version") == "2019-03-15"
    else:
        assert params["Action"] == "ReportTaskFailed"
        assert params["Version"] == "2019-03-15"
        assert params["AccessKeyId"] == c.ACCESS_KEY_ID
        assert params["SignatureMethod"] == "HMAC-SHA1"
        assert params["SignatureVersion"] == "1.0"
        assert "Signature" in req.query
        assert params["Format"] == ("JSON" if name == "python-legacy-rpc" else "json")
    if name == "python-legacy-rpc":
        assert params["SignatureType"] == ""
        assert params["RegionId"] == "cn-hangzhou"
        assert req.header("content-md5")
    assert not req.chunked


def test_taskgate_forwards(exchange: Exchange):
    res = c.taskgate_check(exchange.good_config, exchange.request_file)
    assert res.exit_code == 0, res
    assert res.output["verdict"] == "forward", res
    report = res.output["report"]
    assert report["dialect"] == "fnf"
    assert report["action"] == "ReportTaskFailed"
    assert isinstance(report["request_id"], str) and report["request_id"]
    assert report["access_key_id"] == c.ACCESS_KEY_ID
    assert report["task_token"] == exchange.token
    assert report["error"] == c.ERROR
    assert report["cause"] == c.CAUSE
    token = report["token"]
    assert token["version"] == "v1"
    assert token["kind"] == "a"
    assert token["execution_id"] == exchange.execution_id
    assert token["event_id"] == exchange.event_id
    assert token["account"] == c.ACCOUNT
    assert token["verified"] is True


def test_taskgate_rejects_wrong_secret(exchange: Exchange):
    res = c.taskgate_check(exchange.wrong_config, exchange.request_file)
    assert res.exit_code == 1, res
    assert res.output["verdict"] == "reject", res
    assert res.output["code"] == "SignatureNotMatch"
    response = res.output["response"]
    assert response["status"] == 403
    headers = {k.lower(): v for k, v in response["headers"].items()}
    assert headers["content-type"].startswith("application/json")
    body = json.loads(response["body"])
    assert body.keys() >= {"RequestId", "HostId", "Code", "Message", "Recommend"}
    assert body["Code"] == "SignatureNotMatch"
