"""How long a crashed plugin keeps Envoy from checking requests, per failure policy.

    tests/sdk/.venv/bin/python tests/bench/envoy_recovery.py [CRASHES]

For FAIL_RELOAD (the shipped envoy.yaml's, backoff 0.1 s to 10 s) and FAIL_CLOSED: Envoy (one
worker) with the plugin's fault build (proxy-wasm/build.sh --test-faults) in front of a recording
upstream; CRASHES times (default 3), one request crashes the plugin, then requests are sent one
after another for a second: how many, how many were answered 5xx (the VM down), and which was
the first the plugin checked again.
"""

from __future__ import annotations

import http.client
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "envoy"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "sdk" / "python"))
import envoyproxy as e  # noqa: E402
import sdkcommon as c  # noqa: E402

FAULTS = c.REPO_ROOT / "target/proxy-wasm/taskgate-test-faults.wasm"


def status(endpoint: str, body: bytes) -> int:
    connection = http.client.HTTPConnection(endpoint, timeout=10)
    try:
        connection.request("POST", "/?Action=ReportTaskFailed&Version=2019-03-15", body=body,
                           headers={"content-type": "application/x-www-form-urlencoded"})
        answer = connection.getresponse()
        answer.read()
        return answer.status
    finally:
        connection.close()


def main() -> None:
    crashes = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    if not FAULTS.exists():
        sys.exit(f"{FAULTS} is missing: bash proxy-wasm/build.sh --test-faults")
    print("| policy | crash | requests in the next second | answered 5xx | first checked again |")
    print("|---|---|---|---|---|")
    with c.Recorder(answer="auto") as recorder, tempfile.TemporaryDirectory() as workdir:
        for policy in ("FAIL_RELOAD", "FAIL_CLOSED"):
            with e.Envoy(Path(workdir), settings=e.plugin_settings(), upstream_port=recorder.port,
                         plugin=FAULTS, failure_policy=policy, concurrency=1) as envoy:
                for crash in range(1, crashes + 1):
                    status(envoy.endpoint, b"Cause=taskgate-test-trap")
                    started, statuses = time.monotonic(), []
                    while time.monotonic() - started < 1.0:
                        statuses.append(status(envoy.endpoint, b"Cause=x"))
                    failed = sum(1 for s in statuses if s >= 500)
                    first = next((i + 1 for i, s in enumerate(statuses) if s < 500), None)
                    print(f"| {policy} | {crash} | {len(statuses)} | {failed} | "
                          f"{'never' if first is None else f'request {first}'} |")


if __name__ == "__main__":
    main()
