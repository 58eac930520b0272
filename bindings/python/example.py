"""Check examples/report-task-failed.http with the demo configuration.

Run from bindings/python after `bash setup.sh` and `cargo build --release -p taskgate`:
    .venv/bin/python example.py
"""

from pathlib import Path

from taskgate_filter import Filter, Forward, Request

# Parse the raw HTTP request: request line, header lines, blank line, body.
raw = (Path(__file__).parent / "../../examples/report-task-failed.http").read_bytes()
head, _, body = raw.partition(b"\r\n\r\n")
request_line, *header_lines = head.decode("latin-1").split("\r\n")
method, target, _version = request_line.split(" ")
headers = [(name.strip(), value.strip()) for name, value in (h.split(":", 1) for h in header_lines)]

taskgate = Filter(
    access_keys={"LTAI5tDemoAccessKeyId": ("demo-access-key-secret", "1234567890123456")},
    token_keys=[("demo-token-key", "1234567890123456")],
)
verdict = taskgate.check(
    Request(method, target, headers, body, received_at=1795334400)  # 2026-11-22T08:00:00Z
)

if isinstance(verdict, Forward):
    print("forward", verdict.report.action, verdict.report.callback, verdict.report.access_key_id)
else:
    print("reject", verdict.status, verdict.code)
