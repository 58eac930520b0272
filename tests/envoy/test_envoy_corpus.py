"""The shared case corpus (tests/cases, the verdicts `taskgate test` holds every build to) through
the real Envoy with the plugin's test-clock build: each case's request, written byte for byte as
the case gives it, must get the case's verdict. A reject must be the case's status, vendor code
and body (the request id aside: the plugin makes its own, where `taskgate test` derives one from
the case); a forward or a pass must reach the upstream once.

The test-clock build takes the time of receipt from `x-taskgate-test-received-at` (the cases were
signed at fixed times); it is never deployed. A case's `[config]` is applied to the base
configuration as `taskgate test` applies it (one Envoy per distinct configuration). Left out, and
counted: the cases that state the store's memory (`[memory]`: the plugin's own memory is
exercised by the SDK suite with real replays and settled tasks).
"""

from __future__ import annotations

import base64
import http.client
import json
import socket
import tomllib
from pathlib import Path

import pytest

import envoyproxy as e
import sdkcommon as c

CASES = c.REPO_ROOT / "tests" / "cases"
BASE = (CASES / "taskgate.toml").read_text(encoding="utf-8")


def load_cases() -> tuple[list[tuple[str, dict]], list[str]]:
    run, left_out = [], []
    for path in sorted(CASES.rglob("*.toml")):
        if path.name == "taskgate.toml":
            continue
        case = tomllib.loads(path.read_text(encoding="utf-8"))
        name = str(path.relative_to(CASES))
        if "memory" in case:
            left_out.append(name)
        else:
            run.append((name, case))
    return run, left_out


RUN, LEFT_OUT = load_cases()

# Envoy's HTTP/1 codec joins a repeated header into one value (`a,b`) before any filter sees
# it: the same verdict, status and code, but a message that quotes the joined value.
JOINED_BY_ENVOY = {"fnf/two_different_content_types_are_unsupported_media_type.toml"}


@pytest.fixture(scope="module")
def recorder():
    with c.Recorder(answer="auto") as rec:
        yield rec


def toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return json.dumps(value)  # a TOML basic string is a JSON string


def settings_for(overrides: dict) -> str:
    """The base configuration with a case's `[config]` on top, as `taskgate test` merges it:
    `limits` and `serve` key by key, `access_keys` and `token_keys` whole; no memory (the
    corpus signs many requests with one nonce, and `taskgate test` judges each case alone)."""
    merged = tomllib.loads(BASE)
    for section, value in overrides.items():
        if isinstance(value, dict):
            merged.setdefault(section, {}).update(value)
        else:
            merged[section] = value
    merged["store"] = {"kind": "none"}
    lines = []
    for section, value in merged.items():
        if isinstance(value, dict):
            lines.append(f"[{section}]")
            lines += [f"{k} = {toml_value(v)}" for k, v in value.items()]
        else:
            for entry in value:
                lines.append(f"[[{section}]]")
                lines += [f"{k} = {toml_value(v)}" for k, v in entry.items()]
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def envoys(recorder: c.Recorder, tmp_path_factory):
    """An Envoy for each distinct case configuration, started when first needed."""
    running: dict[str, e.Envoy] = {}

    def envoy_for(overrides: dict) -> e.Envoy:
        key = json.dumps(overrides, sort_keys=True)
        if key not in running:
            running[key] = e.Envoy(tmp_path_factory.mktemp("corpus"), settings=settings_for(overrides),
                                   upstream_port=recorder.port, plugin=e.TEST_CLOCK_PLUGIN)
        return running[key]

    yield envoy_for
    for envoy in running.values():
        envoy.stop()


def raw_request(case: dict) -> bytes:
    """The case's request as HTTP/1.1 bytes: its method, target and headers as given (a
    `Content-Length` added when it has none), the test clock's header, its body."""
    request = case["request"]
    if "body_base64" in request:
        body = base64.b64decode(request["body_base64"])
    else:
        body = request.get("body", "").encode("utf-8")
    headers = [(name, value) for name, value in request.get("headers", [])]
    if not any(name.lower() == "content-length" for name, _ in headers):
        headers.append(("Content-Length", str(len(body))))
    headers.append(("x-taskgate-test-received-at", str(case["received_at"])))
    head = f"{request['method']} {request['path']} HTTP/1.1\r\n" + "".join(
        f"{name}: {value}\r\n" for name, value in headers) + "\r\n"
    return head.encode("utf-8") + body


def exchange(endpoint: str, raw: bytes) -> tuple[int, dict[str, str], bytes]:
    host, port = endpoint.split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(raw)
        answer = http.client.HTTPResponse(sock)
        answer.begin()
        return answer.status, {k.lower(): v for k, v in answer.getheaders()}, answer.read()


def with_request_id(expected: str, got: str) -> str:
    """The expected body with its request id replaced by the one the plugin made."""
    try:
        want_id = json.loads(expected).get("RequestId")
        got_id = json.loads(got).get("RequestId")
    except (ValueError, AttributeError):
        return expected
    if isinstance(want_id, str) and isinstance(got_id, str):
        return expected.replace(want_id, got_id)
    return expected


def test_most_of_the_corpus_runs_through_envoy():
    assert len(RUN) >= 360 and len(LEFT_OUT) <= 30, (len(RUN), LEFT_OUT)


@pytest.mark.parametrize("name,case", RUN, ids=[name for name, _ in RUN])
def test_case_gets_the_verdict_taskgate_test_gives(name: str, case: dict, envoys, recorder: c.Recorder):
    envoy = envoys(case.get("config", {}))
    recorder.clear()
    expect = case["expect"]
    status, headers, body = exchange(envoy.endpoint, raw_request(case))
    text = body.decode("utf-8", errors="replace")
    if expect["verdict"] == "reject":
        assert status == expect["status"], f"{name}: {status} {text}"
        if name in JOINED_BY_ENVOY:
            assert json.loads(text)["Code"] == expect["code"], f"{name}: {text}"
        else:
            assert text == with_request_id(expect["body"], text), f"{name}: {text}"
        assert recorder.captures == [], "a rejected request reached the upstream"
    else:
        assert status == 200, f"{name}: {status} {text}"
        assert len(recorder.captures) == 1
