"""Regenerates tests/fixtures/fnf/captured/<name>.http + <name>.toml (run via capture_fixtures.sh).

Each .http holds one request exactly as a vendor SDK put it on the wire (fixed keys, the fixed
token of sdkcommon.FIXTURE_*); its .toml tells the Rust fixture tests how to check it.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path

import sdkcommon as c

OUT_DIR = c.REPO_ROOT / "tests" / "fixtures" / "fnf" / "captured"


def toml_str(s: str) -> str:
    # JSON string escapes are valid TOML basic-string escapes.
    return json.dumps(s, ensure_ascii=False)


def write_fixture(name: str, raw: bytes, sdk: str, layout: str, token: str) -> None:
    req = c.parse_raw(raw)
    params = {**req.query, **req.form}
    assert params["TaskToken"] == token and params["Error"] == c.ERROR and params["Cause"] == c.CAUSE, name
    (OUT_DIR / f"{name}.http").write_bytes(raw)
    meta = f"""# Captured from the real SDK by tests/sdk/capture_fixtures.sh; the .http beside it is the exact request.
received_at = {toml_str(c.request_time(raw))}
access_key_id = {toml_str(c.ACCESS_KEY_ID)}
secret = {toml_str(c.ACCESS_KEY_SECRET)}
token_key = {toml_str(c.TOKEN_KEY)}
account = {toml_str(c.ACCOUNT)}
sdk = {toml_str(sdk)}
layout = {toml_str(layout)}

# What the request carries (decoded).
[expect]
task_token = {toml_str(token)}
error = {toml_str(c.ERROR)}
cause = {toml_str(c.CAUSE)}
execution_id = {toml_str(c.FIXTURE_EXECUTION_ID)}
event_id = {c.FIXTURE_EVENT_ID}
"""
    (OUT_DIR / f"{name}.toml").write_text(meta, encoding="utf-8")
    print(f"wrote {name}.http / {name}.toml ({sdk})")


def main() -> int:
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    token = c.make_task_token(c.FIXTURE_EXECUTION_ID, c.FIXTURE_EVENT_ID)
    for layout in c.LAYOUTS:
        with c.Recorder() as rec:
            result = layout.send(rec.endpoint, token, c.ERROR, c.CAUSE)
            captures = rec.captures
        assert len(captures) == 1 and result.request_id == captures[0].request_id, layout.name
        write_fixture(layout.name, captures[0].raw, layout.sdk, layout.description, token)
    node = subprocess.run(
        ["node", str(c.SDK_DIR / "node" / "capture.mjs")],
        check=True, capture_output=True, text=True, stdin=subprocess.DEVNULL,
    )
    for line in node.stdout.splitlines():
        item = json.loads(line)
        write_fixture(item["name"], base64.b64decode(item["raw_base64"]), item["sdk"], item["layout"], token)
    return 0


if __name__ == "__main__":
    sys.exit(main())
