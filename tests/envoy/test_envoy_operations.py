"""Running the plugin in Envoy: a configuration it must refuse (Envoy does not start, and its log
says why without a secret), bodies at and over the limits (the vendor's answer, Envoy's memory
flat), an upstream over TLS with a test CA (Envoy's cluster TLS), and the shipped
deploy/envoy/envoy.yaml accepted by Envoy's own validation.
"""

from __future__ import annotations

import http.client
import json
import re
import subprocess
import uuid
from pathlib import Path

import pytest

import envoyproxy as e
import sdkcommon as c


def new_token() -> str:
    return c.make_task_token(str(uuid.uuid4()), 1000 + uuid.uuid4().int % 100000)


# ---------------------------------------------------------------------------------------------
# a bad plugin configuration stops Envoy from starting, with the reason in its log

BAD_SETTINGS = [
    ('[serve]\nlisten = "127.0.0.1:8080"\n', "serve.listen means nothing inside Envoy: Envoy's listeners say where requests arrive"),
    ("[limits]\nmax_body_bytes = 0\n", "limits.max_body_bytes must be between 1 and 16777216"),
    ('[[access_keys]]\nid = "AK"\naccount = "1"\nsecret = "hunter2"\nsecret_env = "X"\n',
     "access_keys[0]: give either secret or secret_env, not both"),
    ("[limitz]\nx = 1\n", "line 1, column 2 (`[limitz]`): unknown field `limitz`"),
    ('[store]\nkind = "redis"\n', "store.kind means nothing inside Envoy"),
]


@pytest.mark.parametrize("settings,named", BAD_SETTINGS, ids=["serve", "limit", "secret", "unknown", "store"])
def test_a_bad_plugin_configuration_keeps_envoy_from_starting_and_says_why(settings: str, named: str, tmp_path: Path):
    with c.refused_port() as port:
        envoy = e.Envoy(tmp_path, settings=settings, upstream_port=port, expect_start=False)
        try:
            code = envoy.wait_exit()
        finally:
            envoy.stop()
    output = envoy.output()
    assert code != 0, output
    assert f"taskgate: the plugin configuration is not valid: {named}" in output, output
    assert "hunter2" not in output


def test_a_secret_from_the_environment_reaches_the_plugin_through_the_vm(tmp_path: Path):
    settings = (f'[[access_keys]]\nid = "{c.ACCESS_KEY_ID}"\naccount = "{c.ACCOUNT}"\n'
                'secret_env = "TASKGATE_TEST_ACCESS_KEY_SECRET"\n'
                f'[[token_keys]]\naccount = "{c.ACCOUNT}"\nsecret = "{c.TOKEN_KEY}"\n')
    env = {"TASKGATE_TEST_ACCESS_KEY_SECRET": c.ACCESS_KEY_SECRET}
    with c.Recorder(answer="auto") as recorder, e.Envoy(
            tmp_path, settings=settings, upstream_port=recorder.port, env=env,
            host_env_keys=["TASKGATE_TEST_ACCESS_KEY_SECRET"]) as envoy:
        c.send_tea_rpc(envoy.endpoint, new_token(), c.ERROR, c.CAUSE)
        assert len(recorder.captures) == 1


# ---------------------------------------------------------------------------------------------
# bodies: the limit, one past it, and a 10 MB one; Envoy's memory stays flat


post = c.post_report


def chunked(endpoint: str, chunks: int, chunk: bytes, headers: dict[str, str]) -> tuple[int, dict]:
    """A body sent in chunks (no Content-Length): the limit can only be seen while reading."""
    connection = http.client.HTTPConnection(endpoint, timeout=60)
    try:
        connection.request("POST", "/", body=(chunk for _ in range(chunks)), headers=headers,
                           encode_chunked=True)
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


@pytest.fixture(scope="module")
def bodies(tmp_path_factory):
    with c.Recorder(answer="auto") as recorder, e.Envoy(
            tmp_path_factory.mktemp("bodies"), settings=e.plugin_settings(), upstream_port=recorder.port) as envoy:
        envoy.recorder = recorder
        yield envoy


def test_a_declared_body_over_the_limit_is_entity_too_large_before_it_is_read(bodies: e.Envoy):
    status, headers, body = post(bodies.endpoint, b"x" * 65537, {"content-type": "application/x-www-form-urlencoded"})
    assert (status, body["Code"]) == (400, "EntityTooLarge"), body
    assert re.fullmatch(r"[0-9A-F]{8}(-[0-9A-F]{4}){3}-[0-9A-F]{12}", headers["x-acs-request-id"]), headers
    assert body["RequestId"] == headers["x-acs-request-id"]
    assert bodies.recorder.captures == []


def test_a_chunked_body_over_the_limit_is_answered_in_each_dialect(bodies: e.Envoy):
    status, body = chunked(bodies.endpoint, 20, b"x" * 4096, {"content-type": "application/x-www-form-urlencoded"})
    assert (status, body["Code"]) == (400, "EntityTooLarge"), body
    aws = {"content-type": "application/x-amz-json-1.0", "x-amz-target": "AWSStepFunctions.SendTaskFailure"}
    status, body = chunked(bodies.endpoint, 160, b" " * 4096, aws)
    assert (status, body["__type"]) == (413, "RequestEntityTooLarge"), body
    assert body["message"] == f"Request body of more than {c.AWS_MAX_BODY_BYTES} bytes."
    assert bodies.recorder.captures == []


def test_ten_megabyte_bodies_are_refused_and_envoys_memory_stays_flat(bodies: e.Envoy):
    ten_mb = b"x" * (10 * 1024 * 1024)
    aws = {"content-type": "application/x-amz-json-1.0", "x-amz-target": "AWSStepFunctions.SendTaskFailure"}
    post(bodies.endpoint, ten_mb, {"content-type": "application/x-www-form-urlencoded"})
    before = bodies.rss_kib()
    for _ in range(10):
        status, _, body = post(bodies.endpoint, ten_mb, {"content-type": "application/x-www-form-urlencoded"})
        assert (status, body["Code"]) == (400, "EntityTooLarge"), body
        status, _, body = post(bodies.endpoint, ten_mb, aws)
        assert (status, body["__type"]) == (413, "RequestEntityTooLarge"), body
    for _ in range(5):
        status, body = chunked(bodies.endpoint, 2560, b"x" * 4096, {"content-type": "application/x-www-form-urlencoded"})
        assert (status, body["Code"]) == (400, "EntityTooLarge"), body
    grown = bodies.rss_kib() - before
    # 250 MB went by; what stays is Envoy's own bookkeeping.
    assert grown < 8 * 1024, f"Envoy's RSS grew by {grown} KiB"
    assert bodies.recorder.captures == []


def test_the_sdks_sending_ten_megabytes_get_the_vendors_answer(bodies: e.Envoy):
    cause = "x" * (10 * 1024 * 1024)
    client, _ = c.aws_client("stepfunctions", bodies.endpoint)
    before = bodies.rss_kib()
    exc = c.expect_client_error(lambda: client.send_task_failure(taskToken="AQCE" + uuid.uuid4().hex, cause=cause))
    assert exc.response["Error"]["Code"] == "RequestEntityTooLarge", exc.response
    assert exc.response["ResponseMetadata"]["HTTPStatusCode"] == 413
    assert exc.response["Error"]["Message"] == f"Request body of more than {c.AWS_MAX_BODY_BYTES} bytes."
    exc = c.expect_sdk_error(lambda: c.send_tea_rpc(bodies.endpoint, new_token(), c.ERROR, cause))
    assert c.sdk_error_code(exc) == "EntityTooLarge", repr(exc)
    assert bodies.rss_kib() - before < 8 * 1024
    assert bodies.recorder.captures == []


# ---------------------------------------------------------------------------------------------
# an upstream over TLS, verified with a test CA by Envoy's cluster TLS


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> Path:
    return c.make_pki(tmp_path_factory.mktemp("pki"))


def tls_context(pki: Path, sni: str) -> dict:
    return {
        "sni": sni,
        "common_tls_context": {"validation_context": {
            "trusted_ca": {"filename": str(pki / "ca.pem")},
            "match_typed_subject_alt_names": [{"san_type": "DNS", "matcher": {"exact": sni}}],
        }},
    }


def test_an_https_upstream_gets_the_request_over_verified_tls(pki: Path, tmp_path: Path):
    recorder = c.Recorder(answer="auto", tls=(str(pki / "vendors.pem"), str(pki / "vendors.key")))
    with recorder, e.Envoy(tmp_path, settings=e.plugin_settings(), upstream_port=recorder.port,
                           upstream_tls=tls_context(pki, "localhost")) as envoy:
        client, sent = c.aws_client("codepipeline", envoy.endpoint)
        answer = client.put_job_failure_result(
            jobId=str(uuid.uuid4()), failureDetails={"type": "JobFailed", "message": c.CAUSE})
        captures = recorder.captures
    assert len(captures) == 1, captures
    assert answer["ResponseMetadata"]["RequestId"] == captures[0].request_id
    assert c.parse_raw(captures[0].raw).body == sent[0].body


def test_an_https_upstream_whose_certificate_is_not_trusted_is_never_sent_the_request(pki: Path, tmp_path: Path):
    recorder = c.Recorder(answer="auto", tls=(str(pki / "untrusted.pem"), str(pki / "untrusted.key")))
    with recorder, e.Envoy(tmp_path, settings=e.plugin_settings(), upstream_port=recorder.port,
                           upstream_tls=tls_context(pki, "localhost")) as envoy:
        client, _ = c.aws_client("stepfunctions", envoy.endpoint)
        exc = c.expect_client_error(lambda: client.send_task_heartbeat(taskToken="AQCEtoken" + uuid.uuid4().hex))
        captures = recorder.captures
    # Envoy's own 503 (the handshake failed), in the service's words (the shipped local replies).
    assert exc.response["ResponseMetadata"]["HTTPStatusCode"] == 500, exc.response
    assert exc.response["Error"]["Code"] == "InternalFailure", exc.response
    assert captures == [], "a request went to an upstream whose certificate is not trusted"


# ---------------------------------------------------------------------------------------------
# the shipped configuration


def test_the_shipped_envoy_yaml_passes_envoys_validation(tmp_path: Path):
    shipped = (c.REPO_ROOT / "deploy/envoy/envoy.yaml").read_text(encoding="utf-8")
    assert "/etc/taskgate/taskgate.wasm" in shipped
    config = tmp_path / "envoy.yaml"
    config.write_text(shipped.replace("/etc/taskgate/taskgate.wasm", str(e.PLUGIN)), encoding="utf-8")
    names = set(re.findall(r"secret_env = \\?\"([A-Z0-9_]+)\\?\"", shipped))
    env = {name: "not-a-real-secret" for name in names}
    run = subprocess.run([e.ENVOY, "--mode", "validate", "-c", str(config), "--use-dynamic-base-id"],
                         capture_output=True, text=True, timeout=120, env={**e.os.environ, **env})
    assert run.returncode == 0, run.stdout + run.stderr
    assert "OK" in run.stdout + run.stderr
