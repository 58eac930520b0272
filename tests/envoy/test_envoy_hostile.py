"""The project's hostile corpus (tests/hostile/cases.toml, the raw HTTP/1 cases) through the real
Envoy with the plugin, configured as the corpus's gateway is (the shipped envoy.yaml's limits
and local replies, with its timeouts at the corpus's read_timeout_ms of 500 ms and 16 header
fields at most): nothing reaches the upstream, Envoy keeps serving, and where `taskgate serve`
answers a case with a vendor code, Envoy's answer carries that code with that status, or the
case is one of EXCEPTIONS, each with the reason (docs/envoy.md, "Hostile input").

The corpus's HTTP/2 cases are raw frames for the gateway's own HTTP/2 server
(tests/support/h2_frames.rs); they are not sent here.

Run: tests/envoy/run.sh.
"""

from __future__ import annotations

import json
import re
import socket
import time
import tomllib
import uuid
from pathlib import Path

import pytest

import envoyproxy as e
import sdkcommon as c

CORPUS = c.REPO_ROOT / "tests/hostile/cases.toml"

# The corpus's gateway: read_timeout_ms = 500, max_headers = 16, max_header_bytes at its default.
LIMITS = {
    **e.SHIPPED["limits"],
    "request_headers_timeout": "0.5s",
    "request_timeout": "0.5s",
    "common_http_protocol_options": {"idle_timeout": "0.5s", "max_headers_count": 16},
}

# Cases `taskgate serve` answers with a vendor code that Envoy answers with another one (every
# answer here is in the vendor's format), by reason; docs/envoy.md, "Hostile input", says the same.
REFUSED = ("Envoy refuses the message before the plugin sees it; the shipped local replies answer it "
           "400 as taskgate serve's Malformed (InvalidArgument), where serve's check named the parameter "
           "or header that is missing")
REFUSED_AWS = ("Envoy refuses both lengths before the request's headers reach its filters, so the local "
               "reply cannot tell an AWS call: answered in Alibaba's format (InvalidArgument)")
ONE_HOST = ("Envoy keeps one Host (its :authority): the plugin never sees the second and checks the request "
            "as one with a single Host")
DECLARED = ("the plugin answers an oversized body once it has come (read and thrown away, so that a client "
            "writing its whole body first gets the answer); a client that never sends it is answered "
            "RequestTimeout at request_timeout")
CHUNKS = ("Envoy's codec reads this chunked framing where taskgate serve's refuses it; the plugin then "
          "checks what Envoy read")
EXCEPTIONS: dict[str, str] = {
    "HTTP/1.0 without Host": REFUSED,
    "POST to an asterisk": REFUSED,
    "a target with a fragment": REFUSED,
    "a target with UTF-8 bytes": REFUSED,
    "an authority-form target on GET": REFUSED,
    "Host with a space": REFUSED,
    "Host with bytes beyond ASCII": REFUSED,
    "a websocket upgrade": REFUSED,
    "a Connection header naming Host": REFUSED,
    "many one-byte chunks": REFUSED,
    "both lengths on an AWS call": REFUSED_AWS,
    "two Host headers": ONE_HOST,
    "two Host headers on an AWS call": ONE_HOST,
    "two Host headers differing in case only": ONE_HOST,
    "two Host headers on an Alibaba call": ONE_HOST,
    "a declared Alibaba body over max_body_bytes": DECLARED,
    "a declared AWS body over max_aws_body_bytes": DECLARED,
    "a declared oversized body expecting 100-continue": DECLARED,
    "a chunk longer than it says": CHUNKS,
    "a chunk extension of 20 KiB": CHUNKS,
}


def expand_runs(raw: str) -> bytes:
    """`{{text*N}}` stands for `text` N times (the corpus's notation)."""
    return re.sub(r"\{\{(.*?)\*(\d+)\}\}", lambda m: m.group(1) * int(m.group(2)), raw).encode()


def read_answer(sock: socket.socket) -> tuple[int, bytes]:
    """The first final answer's status and body (0 and b"" when the connection closes or
    stays silent first); interim 1xx answers are skipped."""
    data = b""
    while True:
        while b"\r\n\r\n" not in data:
            try:
                chunk = sock.recv(65536)
            except (TimeoutError, ConnectionError):
                return 0, b""
            if not chunk:
                return 0, b""
            data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = int(lines[0].split()[1])
        if 100 <= status < 200:
            data = rest
            continue
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get(b"content-length", b"0"))
        while len(rest) < length:
            try:
                chunk = sock.recv(65536)
            except (TimeoutError, ConnectionError):
                break
            if not chunk:
                break
            rest += chunk
        return status, rest[:length]


def vendor_code(body: bytes) -> str:
    try:
        value = json.loads(body)
    except ValueError:
        return ""
    if not isinstance(value, dict):
        return ""
    code = value.get("__type") or value.get("Code") or ""
    return code.rsplit("#", 1)[-1]


def send_case(endpoint: str, raw: str) -> tuple[int, str]:
    host, port = endpoint.split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.settimeout(5)
        try:
            sock.sendall(expand_runs(raw))
        except OSError:
            pass  # Envoy answered and closed before the client finished: the answer still counts.
        status, body = read_answer(sock)
    return status, vendor_code(body)


@pytest.fixture(scope="module")
def corpus() -> list[dict]:
    cases = [case for case in tomllib.loads(CORPUS.read_text())["case"] if "raw" in case]
    assert len(cases) >= 190, len(cases)
    return cases


def test_the_hostile_corpus_through_envoy(corpus: list[dict], tmp_path: Path):
    got = {}
    with c.Recorder(answer="auto") as recorder, e.Envoy(
            tmp_path, settings=e.plugin_settings(), upstream_port=recorder.port, limits=LIMITS) as envoy:
        for case in corpus:
            got[case["name"]] = send_case(envoy.endpoint, case["raw"])
        # Envoy still serves.
        assert envoy.admin("/ready").strip() == "LIVE"
        result = c.send_tea_rpc(envoy.endpoint, c.make_task_token(str(uuid.uuid4()), 7), "E", "c")
        captures = recorder.captures
    assert result.event_id == c.EVENT_ID
    assert len(captures) == 1, f"{len(captures) - 1} hostile requests reached the upstream"
    differing = {}
    for case in corpus:
        if not case.get("code"):
            continue
        expected = (case["status"], case["code"])
        if got[case["name"]] != expected:
            differing[case["name"]] = (expected, got[case["name"]])
    unexplained = {name: seen for name, seen in differing.items() if name not in EXCEPTIONS}
    stale = sorted(set(EXCEPTIONS) - set(differing))
    assert not unexplained, json.dumps(unexplained, indent=1)
    # Every exception is still an answer in the vendor's format: a vendor code.
    assert all(seen[1] for _, seen in differing.values()), json.dumps(differing, indent=1)
    # The cases with a vendor code through taskgate serve, and how many Envoy answers alike.
    coded = [case for case in corpus if case.get("code")]
    assert len(coded) - len(differing) >= 117, f"{len(coded) - len(differing)} of {len(coded)} alike"
    assert not stale, f"answered as taskgate serve answers now: take them out of EXCEPTIONS: {stale}"
