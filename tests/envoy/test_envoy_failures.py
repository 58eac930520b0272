"""When things fail around the plugin in the real Envoy, configured as deploy/envoy/envoy.yaml
ships (its failure policy and local replies):

- a plugin that crashes (the fault build, target/proxy-wasm/taskgate-test-faults.wasm, traps on
  a marker in the body) is made again for the next request (`FAIL_RELOAD`); the request that
  crashed it is answered 500 in the vendor's format and never reaches the upstream; the crash
  is counted in Envoy's stats;
- Envoy's own answers (an upstream that cannot be reached or does not answer in time, a host no
  route serves, a full circuit breaker) reach boto3 and the Alibaba SDKs as the errors
  `taskgate serve` gives for the same failures: the same code, message and status (for the
  circuit breaker: code and status), where Envoy alone would send plain text.

Run: tests/envoy/run.sh (it builds the fault build and sets TASKGATE_ENVOY_FAULTS_PLUGIN).
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

import envoyproxy as e
import sdkcommon as c

FAULTS_PLUGIN = Path(os.environ.get(
    "TASKGATE_ENVOY_FAULTS_PLUGIN", c.REPO_ROOT / "target/proxy-wasm/taskgate-test-faults.wasm"))
SFN_TOKEN = "AQCEAAAAKgAAAAMAAAAAAAAAAf-sfn-task-token+/=0123456789"


def new_token() -> str:
    return c.make_task_token(str(uuid.uuid4()), 1000 + uuid.uuid4().int % 100000)


def unique(token: str) -> str:
    return f"{token}-{uuid.uuid4().hex}"


def aws_failure(endpoint: str, cause: str = "c") -> tuple[str, str, int]:
    """What boto3 makes of a SendTaskFailure's error answer: code, message, status."""
    client, _ = c.aws_client("stepfunctions", endpoint)
    exc = c.expect_client_error(
        lambda: client.send_task_failure(taskToken=unique(SFN_TOKEN), error="E", cause=cause))
    return (exc.response["Error"]["Code"], exc.response["Error"]["Message"],
            exc.response["ResponseMetadata"]["HTTPStatusCode"])


def fnf_failure(endpoint: str, cause: str = "c") -> tuple[str, str, int]:
    """What the Alibaba SDK (tea, RPC v1) makes of a ReportTaskFailed's error answer."""
    exc = c.expect_sdk_error(lambda: c.send_tea_rpc(endpoint, new_token(), "E", cause))
    return c.sdk_error_code(exc), c.sdk_error_message(exc), c.sdk_error_status(exc)


def stat(envoy: e.Envoy, name: str) -> int:
    for line in envoy.admin("/stats").splitlines():
        key, _, value = line.partition(": ")
        if key == name:
            return int(value)
    raise AssertionError(f"no stat {name}")


def test_a_crashed_plugin_is_made_again_and_its_crash_answered_in_the_vendors_format(tmp_path: Path):
    with c.Recorder(answer="auto") as recorder, e.Envoy(
            tmp_path, settings=e.plugin_settings(), upstream_port=recorder.port, plugin=FAULTS_PLUGIN,
            concurrency=1) as envoy:
        c.send_tea_rpc(envoy.endpoint, new_token(), "E", "before")
        assert fnf_failure(envoy.endpoint, "taskgate-test-trap")[::2] == ("InternalServerError", 500)
        # The next request finds a new VM (the first backoff is shorter than this round trip).
        c.send_tea_rpc(envoy.endpoint, new_token(), "E", "after")
        assert aws_failure(envoy.endpoint, "taskgate-test-trap")[::2] == ("InternalFailure", 500)
        client, _ = c.aws_client("stepfunctions", envoy.endpoint)
        client.send_task_failure(taskToken=unique(SFN_TOKEN), error="E", cause="after")
        reloaded = stat(envoy, "wasm.taskgate.vm_reload_success")
        output = envoy.output()
    assert reloaded == 2, "one VM made again per crash"
    assert len(recorder.captures) == 3, "the crashing requests never reached the upstream"
    assert all(b"taskgate-test-trap" not in capture.raw for capture in recorder.captures)
    assert "Uncaught RuntimeError: unreachable" in output, "Envoy says why the VM failed"


@pytest.fixture(scope="module")
def serve_answers(tmp_path_factory) -> dict[str, tuple[str, str, int]]:
    """`taskgate serve`'s answers to the same failures: an upstream that refuses connections,
    and a host no route serves."""
    workdir = tmp_path_factory.mktemp("serve")
    answers = {}
    with c.refused_port() as port:
        config = workdir / "dead.toml"
        config.write_text(c.serve_config_toml(upstream=f"http://127.0.0.1:{port}",
                                              extra_access_keys=c.AWS_ACCESS_KEYS), encoding="utf-8")
        with c.Serve(config, workdir=workdir) as serve:
            answers["aws unreachable"] = aws_failure(serve.endpoint)
            answers["fnf unreachable"] = fnf_failure(serve.endpoint)
    config = workdir / "routes.toml"
    config.write_text(c.serve_config_toml(extra_access_keys=c.AWS_ACCESS_KEYS, extra=(
        '[[serve.routes]]\nhost = "served.example"\nupstream = "http://127.0.0.1:9"\n')), encoding="utf-8")
    with c.Serve(config, workdir=workdir) as serve:
        answers["aws no route"] = aws_failure(serve.endpoint)
        answers["fnf no route"] = fnf_failure(serve.endpoint)
    return answers


def test_an_unreachable_upstream_is_the_services_internal_error(tmp_path: Path, serve_answers):
    with c.refused_port() as port, e.Envoy(tmp_path, settings=e.plugin_settings(), upstream_port=port) as envoy:
        assert aws_failure(envoy.endpoint) == serve_answers["aws unreachable"]
        assert fnf_failure(envoy.endpoint) == serve_answers["fnf unreachable"]
        verdicts = envoy.wait_verdicts(2)
        prometheus = envoy.admin("/stats/prometheus")
    # Logged and counted as what the caller got, as taskgate serve logs it: not as forwarded.
    assert [(v["dialect"], v["code"], v["status"]) for v in verdicts] == [
        ("states", "InternalFailure", 500), ("fnf", "InternalServerError", 500)], verdicts
    assert 'taskgate_requests_total{dialect="fnf",code="InternalServerError",status="500"} 1' in prometheus
    assert serve_answers["aws unreachable"][::2] == ("InternalFailure", 500)
    assert serve_answers["fnf unreachable"][::2] == ("InternalServerError", 500)


def test_an_upstream_that_does_not_answer_in_time_is_the_services_internal_error(tmp_path: Path, serve_answers):
    with c.Recorder(answer="auto", delay=3.0) as slow, e.Envoy(
            tmp_path, settings=e.plugin_settings(), upstream_port=slow.port, route_timeout="1s") as envoy:
        assert aws_failure(envoy.endpoint) == serve_answers["aws unreachable"]
        assert fnf_failure(envoy.endpoint) == serve_answers["fnf unreachable"]


def test_a_host_no_route_serves_is_the_gateways_no_route_answer(tmp_path: Path, serve_answers):
    with c.Recorder(answer="auto") as recorder, e.Envoy(
            tmp_path, settings=e.plugin_settings(), upstream_port=recorder.port,
            domains=["served.example"]) as envoy:
        aws = aws_failure(envoy.endpoint)
        fnf = fnf_failure(envoy.endpoint)
        verdicts = envoy.wait_verdicts(2)
    assert [(v["code"], v["status"]) for v in verdicts] == [("ValidationException", 400), ("InvalidArgument", 400)]
    assert recorder.captures == []
    # The same code and status; the message names the host as Envoy has it, with its port
    # (`%REQ(:AUTHORITY)%`: Envoy has no host-only formatter), where serve leaves the port out.
    for ours, theirs in ((aws, serve_answers["aws no route"]), (fnf, serve_answers["fnf no route"])):
        assert ours[::2] == theirs[::2], (ours, theirs)
        host = envoy.endpoint.split(":")[0]
        assert ours[1] == theirs[1].replace(f"'{host}'", f"'{envoy.endpoint}'"), (ours, theirs)
    assert aws[0] == "ValidationException" and fnf[0] == "InvalidArgument"


def test_a_full_circuit_breaker_is_the_services_throttling_answer(tmp_path: Path):
    """One upstream connection and one request waiting for it, an upstream that holds each
    answer: a third request at once overflows Envoy's circuit breaker (UO)."""
    from concurrent.futures import ThreadPoolExecutor

    def attempt(endpoint: str, kind: str):
        try:
            if kind == "aws":
                client, _ = c.aws_client("stepfunctions", endpoint)
                client.send_task_heartbeat(taskToken=unique(SFN_TOKEN))
            else:
                c.send_tea_rpc(endpoint, new_token(), "E", "c")
            return None
        except Exception as exc:  # noqa: BLE001 (the SDKs' error classes differ)
            if kind == "aws":
                return exc.response["Error"]["Code"], exc.response["ResponseMetadata"]["HTTPStatusCode"]
            return c.sdk_error_code(exc), c.sdk_error_status(exc)

    breaker = {"priority": "DEFAULT", "max_connections": 1, "max_pending_requests": 1, "max_requests": 1}
    with c.Recorder(answer="auto", delay=1.5) as slow, e.Envoy(
            tmp_path, settings=e.plugin_settings(), upstream_port=slow.port, circuit_breaker=breaker) as envoy:
        for kind, expected in (("aws", ("ThrottlingException", 400)), ("fnf", ("ResourceThrottled", 429))):
            with ThreadPoolExecutor(4) as pool:
                results = list(pool.map(lambda _: attempt(envoy.endpoint, kind), range(4)))
            refused = [result for result in results if result is not None]
            assert refused and all(result == expected for result in refused), (kind, results)
