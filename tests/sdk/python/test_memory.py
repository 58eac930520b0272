"""The gateway's memory seen by the real SDKs: two `taskgate serve` nodes sharing one real
`redis-server` (started here on a free loopback port; tests/run.sh installs Debian's), in front
of recording upstreams.

- a duplicate report to node B of a task node A forwarded: the SDK raises the service's own
  error for a closed task (TaskAlreadyCompleted; botocore's modeled TaskTimedOut,
  UnknownResourceFault, InvalidJobStateException), and the upstream saw one report;
- an access key over its rate, across both nodes: the SDK raises ResourceThrottled /
  ThrottlingException.

Run: tests/sdk/setup.sh && TASKGATE_BIN=target/release/taskgate tests/sdk/.venv/bin/python -m pytest tests/sdk/python/test_memory.py
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

import sdkcommon as c

SFN_TOKEN = "AQCEAAAAKgAAAAMAAAAAAAAAAf-memory-task-token"
SWF_TOKEN = "AAAAKgAAAAEAAAAAAAAAAswf-memory-task-token"
JOB_ID = "7d1e4b2a-9c3f-4a5e-8b6d-0f1e2d3c4b5a"


class RedisServer:
    """Debian's redis-server on a free loopback port, nothing persisted; stopped on exit."""

    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        assert binary, "redis-server is not installed (tests/run.sh installs Debian's package)"
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.proc = subprocess.Popen(
            [binary, "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.05)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def __enter__(self) -> "RedisServer":
        return self

    def __exit__(self, *_exc) -> None:
        self.proc.kill()
        self.proc.wait()


def fleet_config(tmp_path: Path, name: str, redis: RedisServer, fnf: c.Recorder, aws: c.Recorder, before: str = "") -> Path:
    store = f'kind = "redis"\nurl = "{redis.url}"'
    return c.recorders_config(tmp_path / name, fnf, aws, store=store, before=before)


def aws_failure(service: str, endpoint: str):
    client, _ = c.aws_client(service, endpoint)
    if service == "stepfunctions":
        return client, lambda: client.send_task_failure(taskToken=SFN_TOKEN, error="E", cause="c")
    if service == "swf":
        return client, lambda: client.respond_activity_task_failed(taskToken=SWF_TOKEN, reason="E")
    return client, lambda: client.put_job_failure_result(
        jobId=JOB_ID, failureDetails={"type": "JobFailed", "message": "the build broke"}
    )


def test_a_duplicate_report_to_another_node_is_the_services_closed_task_error(tmp_path: Path) -> None:
    with RedisServer() as redis, c.Recorder() as fnf, c.Recorder(answer="aws") as aws:
        a_config = fleet_config(tmp_path, "a.toml", redis, fnf, aws)
        b_config = fleet_config(tmp_path, "b.toml", redis, fnf, aws)
        with c.Serve(a_config, workdir=tmp_path) as a, c.Serve(b_config, workdir=tmp_path) as b:
            for layout in c.LAYOUTS:
                fnf.clear()
                # Each layout reports its own task: one event id per layout.
                token = c.make_task_token("2b0c6a4e-8f5e-4d1a-9c3b-7e6f5a4d3c2b", 5000 + c.LAYOUTS.index(layout))
                layout.send(a.endpoint, token, "PaymentDeclined", "no funds")
                exc = c.expect_sdk_error(lambda: layout.send(b.endpoint, token, "PaymentDeclined", "no funds"))
                assert c.sdk_error_code(exc) == "TaskAlreadyCompleted", (layout.name, exc)
                assert len(fnf.captures) == 1, layout.name
            for service, error in (
                ("stepfunctions", "TaskTimedOut"),
                ("swf", "UnknownResourceFault"),
                ("codepipeline", "InvalidJobStateException"),
            ):
                aws.clear()
                _, first = aws_failure(service, a.endpoint)
                first()
                client, again = aws_failure(service, b.endpoint)
                modeled = getattr(client.exceptions, error)
                with pytest.raises(modeled):
                    again()
                assert len(aws.captures) == 1, service


def test_an_access_key_over_its_rate_across_nodes_is_throttled_in_each_sdk(tmp_path: Path) -> None:
    # Two requests at once, then one a minute, per access key, for the whole fleet.
    throttle = "[throttle]\nrate_per_second = 0.0167\nburst = 2\n"
    with RedisServer() as redis, c.Recorder() as fnf, c.Recorder(answer="aws") as aws:
        a_config = fleet_config(tmp_path, "a.toml", redis, fnf, aws, before=throttle)
        b_config = fleet_config(tmp_path, "b.toml", redis, fnf, aws, before=throttle)
        with c.Serve(a_config, workdir=tmp_path) as a, c.Serve(b_config, workdir=tmp_path) as b:
            send = c.send_tea_rpc
            token = lambda n: c.make_task_token("2b0c6a4e-8f5e-4d1a-9c3b-7e6f5a4d3c2b", 6000 + n)  # noqa: E731
            send(a.endpoint, token(1), "E", "c")
            send(b.endpoint, token(2), "E", "c")
            exc = c.expect_sdk_error(lambda: send(a.endpoint, token(3), "E", "c"))
            assert c.sdk_error_code(exc) == "ResourceThrottled", exc

            client, _ = c.aws_client("stepfunctions", a.endpoint)
            other, _ = c.aws_client("stepfunctions", b.endpoint)
            client.send_task_failure(taskToken="rate-1", error="E")
            other.send_task_failure(taskToken="rate-2", error="E")
            with pytest.raises(ClientError) as raised:
                client.send_task_failure(taskToken="rate-3", error="E")
            assert raised.value.response["Error"]["Code"] == "ThrottlingException"
            assert len(fnf.captures) == 2 and len(aws.captures) == 2
