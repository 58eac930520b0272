"""The README's SDK examples, run as written against `taskgate serve` with the demo configuration."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from sdkcommon import REPO_ROOT, Serve, read_sink, taskgate_bin

EXAMPLES = REPO_ROOT / "examples"
NODE_MODULES = REPO_ROOT / "tests" / "sdk" / "node" / "node_modules"


def demo_config(tmp_path: Path) -> Path:
    """examples/taskgate.toml as shipped, but on free ports and with the sink in tmp_path."""
    text = (EXAMPLES / "taskgate.toml").read_text()
    text = re.sub(r'(?m)^listen = ".*"$', 'listen = "127.0.0.1:0"', text)
    text = re.sub(r'(?m)^admin_listen = ".*"$', 'admin_listen = "127.0.0.1:0"', text)
    text = re.sub(r'(?m)^sink_path = ".*"$', f'sink_path = "{tmp_path / "sink.jsonl"}"', text)
    path = tmp_path / "taskgate.toml"
    path.write_text(text)
    return path


def mint(event_id: int = 42) -> str:
    out = subprocess.run(
        [
            taskgate_bin(),
            "token",
            "mint",
            "--execution-id",
            "2b0c6a4e-8f5e-4d1a-9c3b-7e6f5a4d3c2b",
            "--event-id",
            str(event_id),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip()


def test_the_readme_sdk_examples_report_to_the_demo_gateway(tmp_path: Path) -> None:
    # Each example reports its own task: the demo gateway remembers settled tasks.
    python_example = [sys.executable, str(EXAMPLES / "sdk" / "report_task_failed.py"), mint(42)]
    node_example = ["node", str(EXAMPLES / "sdk" / "report_task_failed.mjs"), mint(43)]
    with Serve(demo_config(tmp_path), workdir=tmp_path) as gateway:
        env = dict(os.environ, TASKGATE_ENDPOINT=gateway.endpoint, NODE_PATH=str(NODE_MODULES))
        for command in (python_example, node_example):
            out = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
            assert out.returncode == 0, out.stderr
            assert re.fullmatch(r"EventId=\d+ RequestId=[0-9A-F-]{36}\n", out.stdout), out.stdout
        # Run again, the same report is answered at the edge as the service would: the task
        # has already completed.
        again = subprocess.run(python_example, env=env, capture_output=True, text=True, timeout=60)
        assert again.returncode != 0 and "TaskAlreadyCompleted" in again.stderr, again.stderr
    lines = read_sink(tmp_path / "sink.jsonl")
    assert [line["error"] for line in lines] == ["PaymentDeclined", "PaymentDeclined"]
    assert [line["event_id"] for line in lines] == [42, 43]
    assert all(line["verified"] for line in lines)


def test_the_readme_boto3_example_reports_to_the_same_demo_gateway(tmp_path: Path) -> None:
    with Serve(demo_config(tmp_path), workdir=tmp_path) as gateway:
        env = dict(os.environ, TASKGATE_URL=f"http://{gateway.endpoint}")
        command = [sys.executable, str(EXAMPLES / "sdk" / "send_task_failure.py"), "some-task-token"]
        out = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        assert re.fullmatch(r"RequestId=[0-9A-F-]{36}\n", out.stdout), out.stdout
    [line] = read_sink(tmp_path / "sink.jsonl")
    assert (line["dialect"], line["action"], line["task_token"]) == (
        "states",
        "SendTaskFailure",
        "some-task-token",
    )
    # An AWS token is opaque: no decoded token fields.
    assert line["error"] == "PaymentDeclined" and "execution_id" not in line
