"""In front of the real services, with the official Python SDKs: taskgate as the workers' HTTP
proxy, routing by host to an HTTPS "service" on 127.0.0.1 (tests/sdk/recorder.py over TLS, with a
certificate for the vendors' host names from a CA made at test time by `test-pki`).

- boto3 (Step Functions, SWF, CodePipeline) with `Config(proxies={"http": gateway})` and the
  service's `http://` endpoint, and the Alibaba tea client (RPC v1 and ACS3) with
  `Config(http_proxy=gateway)`, and the legacy aliyun-python-sdk-core with `AcsClient(proxy=...)`:
  each failure report reaches the HTTPS service unchanged (the bytes the SDK sent, seen by a
  transparent TCP tap in front of the gateway, against the bytes the service got: the same but the
  request line's absolute form and the hop-by-hop headers), the service's answer comes back; bad
  ones are answered at the edge and never forwarded;
- an upstream certificate for another name or from an untrusted CA: the SDK gets the vendor's
  500, the service saw no request and exactly one connection (no retry);
- a host no route serves: the edge's answer, nothing forwarded;
- `other_calls` in each mode with real SDK calls taskgate does not model (Step Functions
  `StartExecution` and `DescribeExecution`, Alibaba `StartExecution`), a wrong secret on one; in
  sink mode, answered and recorded;
- SIGHUP rotating an access key while a call is in flight.

Run: tests/sdk/setup.sh && cargo build --release --workspace --bins &&
     tests/sdk/.venv/bin/python -m pytest tests/sdk/python/test_deploy.py
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

import sdkcommon as c

FNF_HOST = "cn-hangzhou.fnf.aliyuncs.com"
SERVICE_HOST = {
    "stepfunctions": "states.us-east-1.amazonaws.com",
    "swf": "swf.us-east-1.amazonaws.com",
    "codepipeline": "codepipeline.us-east-1.amazonaws.com",
}
SFN_TOKEN = "AQCEAAAAKgAAAAMAAAAAAAAAAf-sfn-task-token+/=0123456789"
JOB_ID = "0c6f2a9e-5b1d-4c3e-8f7a-9d2b1e0a4c6f"


def failure_params(service: str) -> dict:
    if service == "stepfunctions":
        return {"taskToken": SFN_TOKEN, "error": "Worker.Crashed", "cause": c.CAUSE}
    if service == "swf":
        return {"taskToken": "swf-activity-task-token", "reason": "Worker.Crashed", "details": c.CAUSE}
    return {"jobId": JOB_ID, "failureDetails": {"type": "JobFailed", "message": c.CAUSE}}


def report_failure(client, service: str) -> dict:
    return getattr(client, c.AWS_CALL_BY_SERVICE[service].method)(**failure_params(service))


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> Path:
    return c.make_pki(tmp_path_factory.mktemp("pki"))


def https_service(pki: Path, chain: str = "vendors", answer: str = "aws", delay: float = 0.0) -> c.Recorder:
    return c.Recorder(answer=answer, tls=(str(pki / f"{chain}.pem"), str(pki / f"{chain}.key")), delay=delay)


def routes(pki: Path, service: c.Recorder, *hosts: str) -> str:
    """`[[serve.routes]]` sending each host pattern to `https://{host}`, dialling the service."""
    return "".join(
        f'\n[[serve.routes]]\nhost = "{host}"\nupstream = "https://{{host}}"\n'
        f'connect_to = "{service.endpoint}"\nca_file = "{pki / "ca.pem"}"\n'
        for host in hosts
    )


def config(tmp: Path, extra: str, secret: str = c.ACCESS_KEY_SECRET, aws_secret: str = c.AWS_SECRET_ACCESS_KEY) -> Path:
    path = tmp / "taskgate.toml"
    path.write_text(
        c.serve_config_toml(
            secret,
            extra_access_keys=[(c.AWS_ACCESS_KEY_ID, aws_secret, c.AWS_ACCOUNT)],
            max_body_bytes=c.AWS_MAX_BODY_BYTES,
            sink_path=tmp / "sink.jsonl",
            extra=extra,
        ),
        encoding="utf-8",
    )
    return path


def proxied_aws_client(service: str, proxy: str, *, secret: str = c.AWS_SECRET_ACCESS_KEY):
    """boto3 for the service's real `http://` endpoint, through `proxy`; records what it sends."""
    import boto3
    from botocore.config import Config

    session = boto3.session.Session(
        aws_access_key_id=c.AWS_ACCESS_KEY_ID, aws_secret_access_key=secret, region_name=c.AWS_REGION
    )
    client = session.client(
        service,
        endpoint_url=f"http://{SERVICE_HOST[service]}",
        config=Config(
            proxies={"http": proxy},
            retries={"total_max_attempts": 1, "mode": "standard"},
            connect_timeout=10,
            read_timeout=30,
        ),
    )
    sent: list[c.SentRequest] = []

    def record(request, **_kwargs):
        body = request.body or b""
        body = body.encode("utf-8") if isinstance(body, str) else bytes(body)
        headers = [(str(k).lower(), v.decode("latin-1") if isinstance(v, bytes) else str(v)) for k, v in request.headers.items()]
        sent.append(c.SentRequest(request.method, request.url, headers, body))

    client.meta.events.register("before-send", record)
    return client, sent


def tea_client(proxy: str, *, acs3: bool, secret: str = c.ACCESS_KEY_SECRET):
    """The Alibaba tea client for the service's real host, over http://, through `proxy`."""
    from alibabacloud_fnf20190315.client import Client
    from alibabacloud_tea_openapi import models as open_api_models

    client = Client(
        open_api_models.Config(
            access_key_id=c.ACCESS_KEY_ID,
            access_key_secret=secret,
            endpoint=FNF_HOST,
            protocol="http",
            region_id="cn-hangzhou",
            http_proxy=proxy,
        )
    )
    if acs3:
        client._signature_algorithm = "ACS3-HMAC-SHA256"  # see sdkcommon._tea_client
    return client


def report_task_failed(client, token: str):
    from alibabacloud_fnf20190315 import models as fnf_models

    return client.report_task_failed(fnf_models.ReportTaskFailedRequest(task_token=token, error=c.ERROR, cause=c.CAUSE))


def token() -> str:
    return c.make_task_token(c.FIXTURE_EXECUTION_ID, c.FIXTURE_EVENT_ID)


def aws_error(exc: ClientError) -> tuple[str, int]:
    return exc.response["Error"]["Code"], exc.response["ResponseMetadata"]["HTTPStatusCode"]


def expect_aws_error(send) -> tuple[str, int]:
    try:
        result = send()
    except ClientError as exc:
        return aws_error(exc)
    raise AssertionError(f"the call succeeded ({result!r}) where an error answer was expected")


# ---------------------------------------------------------------------------------------------
# failure reports through proxy mode to the HTTPS service


@pytest.mark.parametrize("service", list(SERVICE_HOST))
def test_boto3_through_the_proxy_reaches_the_https_service_unchanged(service: str, pki: Path, tmp_path: Path):
    with https_service(pki) as svc:
        with c.Serve(config(tmp_path, routes(pki, svc, "*.amazonaws.com")), workdir=tmp_path) as gw, c.Tap(gw.port) as tap:
            client, signed = proxied_aws_client(service, tap.url)
            response = report_failure(client, service)
            assert response["ResponseMetadata"]["HTTPStatusCode"] == 200
            assert response["ResponseMetadata"]["RequestId"] == svc.captures[-1].request_id, "the service's answer"
            assert len(svc.captures) == 1 and len(signed) == 1
            [sent] = tap.requests()
            assert sent.startswith(f"POST http://{SERVICE_HOST[service]}/ HTTP/1.1\r\n".encode()), sent[:100]
            c.assert_forwarded_exactly(sent, svc.captures[0].raw)
            up = c.parse_raw(svc.captures[0].raw)
            assert up.header("host") == SERVICE_HOST[service], "the Host the request was signed for"
            assert up.header("authorization") == signed[0].header("authorization"), "what botocore signed"
            # A wrong secret is answered at the edge, in the SDK's own exception.
            bad, _ = proxied_aws_client(service, tap.url, secret="not-the-secret")
            assert expect_aws_error(lambda: report_failure(bad, service)) == ("InvalidSignatureException", 400)
            assert len(tap.requests()) == 2 and len(svc.captures) == 1, "a rejected call was forwarded"
            log = gw.wait_for_log_lines(1, where=lambda line: line.get("status") == 200)
            assert log[-1]["upstream"] == f"https://{SERVICE_HOST[service]}"


@pytest.mark.parametrize("acs3", [False, True], ids=["rpc-v1", "acs3"])
def test_the_alibaba_sdk_through_the_proxy_reaches_the_https_service_unchanged(acs3: bool, pki: Path, tmp_path: Path):
    with https_service(pki, answer="fnf") as svc:
        with c.Serve(config(tmp_path, routes(pki, svc, "*.fnf.aliyuncs.com")), workdir=tmp_path) as gw, c.Tap(gw.port) as tap:
            result = report_task_failed(tea_client(tap.url, acs3=acs3), token())
            assert result.status_code == 200 and result.body.event_id == c.EVENT_ID
            assert len(svc.captures) == 1
            assert result.body.request_id == svc.captures[0].request_id, "the service's answer came back"
            [sent] = tap.requests()
            assert sent.startswith(f"POST http://{FNF_HOST}/?".encode()), sent[:100]
            c.assert_forwarded_exactly(sent, svc.captures[0].raw)
            assert c.parse_raw(svc.captures[0].raw).header("host") == FNF_HOST
            # A wrong secret: the SDK raises the service's error, nothing is forwarded.
            bad = tea_client(tap.url, acs3=acs3, secret=c.WRONG_SECRET)
            exc = c.expect_sdk_error(lambda: report_task_failed(bad, token()))
            assert c.sdk_error_code(exc) == "SignatureNotMatch"
            assert len(tap.requests()) == 2 and len(svc.captures) == 1


def legacy_report(proxy: str, secret: str = c.ACCESS_KEY_SECRET) -> dict:
    """aliyun-python-sdk-core's AcsClient for the service's real host, over http://, through
    `proxy` (its `proxy` argument: a requests-style dict; else HTTP_PROXY/HTTPS_PROXY)."""
    import json

    from aliyunsdkcore.client import AcsClient
    from aliyunsdkfnf.request.v20190315.ReportTaskFailedRequest import ReportTaskFailedRequest

    client = AcsClient(c.ACCESS_KEY_ID, secret, "cn-hangzhou", auto_retry=False, proxy={"http": proxy})
    request = ReportTaskFailedRequest()
    request.set_endpoint(FNF_HOST)
    request.set_protocol_type("http")
    request.set_TaskToken(token())
    request.set_Error(c.ERROR)
    request.set_Cause(c.CAUSE)
    return json.loads(client.do_action_with_exception(request))


def test_the_legacy_alibaba_sdk_through_the_proxy_reaches_the_https_service_unchanged(pki: Path, tmp_path: Path):
    with https_service(pki, answer="fnf") as svc:
        with c.Serve(config(tmp_path, routes(pki, svc, FNF_HOST)), workdir=tmp_path) as gw, c.Tap(gw.port) as tap:
            body = legacy_report(tap.url)
            assert body == {"EventId": c.EVENT_ID, "RequestId": svc.captures[0].request_id}
            [sent] = tap.requests()
            assert sent.startswith(f"POST http://{FNF_HOST}/?".encode()), sent[:100]
            c.assert_forwarded_exactly(sent, svc.captures[0].raw)
            exc = c.expect_sdk_error(lambda: legacy_report(tap.url, secret=c.WRONG_SECRET))
            assert c.sdk_error_code(exc) == "SignatureNotMatch"
            assert len(tap.requests()) == 2 and len(svc.captures) == 1


# ---------------------------------------------------------------------------------------------
# a dedicated callback endpoint: taskgate's own TLS listener, fixed HTTPS upstreams


def test_a_dedicated_endpoint_on_the_tls_listener_forwards_to_fixed_https_upstreams(pki: Path, tmp_path: Path):
    import boto3
    from alibabacloud_fnf20190315.client import Client
    from alibabacloud_tea_openapi import models as open_api_models
    from botocore.config import Config
    from botocore.exceptions import SSLError

    with https_service(pki) as svc, https_service(pki, answer="fnf") as fnf_svc:
        extra = (
            f'upstream = "https://127.0.0.1:{svc.port}"\nca_file = "{pki / "ca.pem"}"\n'
            f'\n[[serve.tls.certificates]]\ncert_file = "{pki / "vendors.pem"}"\nkey_file = "{pki / "vendors.key"}"\n'
        )
        path = tmp_path / "taskgate.toml"
        path.write_text(
            c.serve_config_toml(
                extra_access_keys=c.AWS_ACCESS_KEYS,
                sink_path=tmp_path / "sink.jsonl",
                extra=extra,
                upstreams={"fnf": f"https://127.0.0.1:{fnf_svc.port}"},
            ),
            encoding="utf-8",
        )
        with c.Serve(path, workdir=tmp_path) as gw:
            assert gw.scheme == "https"
            endpoint = f"localhost:{gw.port}"

            def sfn(verify):
                return boto3.session.Session(
                    aws_access_key_id=c.AWS_ACCESS_KEY_ID,
                    aws_secret_access_key=c.AWS_SECRET_ACCESS_KEY,
                    region_name=c.AWS_REGION,
                ).client(
                    "stepfunctions",
                    endpoint_url=f"https://{endpoint}",
                    verify=verify,
                    config=Config(retries={"total_max_attempts": 1, "mode": "standard"}),
                )

            response = report_failure(sfn(str(pki / "ca.pem")), "stepfunctions")
            assert response["ResponseMetadata"]["HTTPStatusCode"] == 200
            assert len(svc.captures) == 1
            assert c.parse_raw(svc.captures[0].raw).header("host") == endpoint, "the Host boto3 signed"
            # A client that does not trust the private CA never gets as far as a request.
            with pytest.raises(SSLError):
                report_failure(sfn(True), "stepfunctions")
            assert len(svc.captures) == 1

            for acs3 in (False, True):
                client = Client(
                    open_api_models.Config(
                        access_key_id=c.ACCESS_KEY_ID,
                        access_key_secret=c.ACCESS_KEY_SECRET,
                        endpoint=endpoint,
                        protocol="https",
                        region_id="cn-hangzhou",
                        ca=str(pki / "ca.pem"),
                    )
                )
                if acs3:
                    client._signature_algorithm = "ACS3-HMAC-SHA256"
                result = report_task_failed(client, token())
                assert result.status_code == 200 and result.body.event_id == c.EVENT_ID
            assert len(fnf_svc.captures) == 2


# ---------------------------------------------------------------------------------------------
# a service the gateway must not trust, and hosts it does not serve


@pytest.mark.parametrize("chain", ["wrong-name", "untrusted"])
def test_an_untrusted_service_certificate_is_internal_failure_and_never_retried(chain: str, pki: Path, tmp_path: Path):
    with https_service(pki, chain=chain) as svc:
        extra = routes(pki, svc, "*.amazonaws.com", "*.fnf.aliyuncs.com")
        with c.Serve(config(tmp_path, extra), workdir=tmp_path) as gw:
            client, _ = proxied_aws_client("stepfunctions", gw.url)
            assert expect_aws_error(lambda: report_failure(client, "stepfunctions")) == ("InternalFailure", 500)
            assert svc.captures == [], "nothing was sent to the service"
            assert svc.connections == 1, "one handshake, no retry"
            assert 'taskgate_upstream_errors_total{kind="tls"} 1' in gw.metrics().splitlines()
            # The Alibaba SDK gets its own dialect's 500.
            exc = c.expect_sdk_error(lambda: report_task_failed(tea_client(gw.url, acs3=False), token()))
            assert c.sdk_error_code(exc) == "InternalServerError"
            assert svc.captures == [] and svc.connections == 2


def test_a_host_no_route_serves_is_answered_at_the_edge(pki: Path, tmp_path: Path):
    with https_service(pki) as svc:
        with c.Serve(config(tmp_path, routes(pki, svc, SERVICE_HOST["stepfunctions"])), workdir=tmp_path) as gw:
            client, _ = proxied_aws_client("swf", gw.url)
            exc = pytest.raises(ClientError, report_failure, client, "swf").value
            assert aws_error(exc) == ("ValidationException", 400)
            assert SERVICE_HOST["swf"] in exc.response["Error"]["Message"]
            exc = c.expect_sdk_error(lambda: report_task_failed(tea_client(gw.url, acs3=True), token()))
            assert c.sdk_error_code(exc) == "InvalidArgument"
            assert svc.captures == [] and svc.connections == 0


# ---------------------------------------------------------------------------------------------
# calls other than the failure reports


STATE_MACHINE_ARN = f"arn:aws:states:us-east-1:{c.AWS_ACCOUNT}:stateMachine:orders"
EXECUTION_ARN = f"arn:aws:states:us-east-1:{c.AWS_ACCOUNT}:execution:orders:run-42"


def start_execution(client):
    return client.start_execution(stateMachineArn=STATE_MACHINE_ARN, input='{"ok": true}')


def describe_execution(client):
    return client.describe_execution(executionArn=EXECUTION_ARN)


def fnf_start_execution(client):
    from alibabacloud_fnf20190315 import models as fnf_models

    return client.start_execution(fnf_models.StartExecutionRequest(flow_name="orders", input='{"ok": true}'))


def test_other_calls_authenticate_reject_or_forward(pki: Path, tmp_path: Path):
    with https_service(pki) as svc, https_service(pki, answer="fnf") as fnf_svc:
        extra = routes(pki, svc, "*.amazonaws.com") + routes(pki, fnf_svc, "*.fnf.aliyuncs.com")
        for mode in ("authenticate", "reject", "forward"):
            svc.clear()
            fnf_svc.clear()
            work = tmp_path / mode
            work.mkdir()
            with c.Serve(config(work, f'other_calls = "{mode}"\n' + extra), workdir=work) as gw:
                good, _ = proxied_aws_client("stepfunctions", gw.url)
                bad, _ = proxied_aws_client("stepfunctions", gw.url, secret="not-the-secret")
                tea = tea_client(gw.url, acs3=False)
                if mode == "reject":
                    for call in (start_execution, describe_execution):
                        assert expect_aws_error(lambda: call(good)) == ("UnknownOperationException", 400)
                    exc = c.expect_sdk_error(lambda: fnf_start_execution(tea))
                    assert (c.sdk_error_code(exc), exc.statusCode) == ("ActionNotSupported", 400)
                    assert svc.captures == [] and fnf_svc.captures == []
                    continue
                assert start_execution(good)["ResponseMetadata"]["HTTPStatusCode"] == 200
                assert describe_execution(good)["ResponseMetadata"]["HTTPStatusCode"] == 200
                assert fnf_start_execution(tea).status_code == 200
                assert len(svc.captures) == 2 and len(fnf_svc.captures) == 1
                if mode == "authenticate":
                    assert expect_aws_error(lambda: start_execution(bad)) == ("InvalidSignatureException", 400)
                    bad_tea = tea_client(gw.url, acs3=True, secret=c.WRONG_SECRET)
                    exc = c.expect_sdk_error(lambda: fnf_start_execution(bad_tea))
                    assert c.sdk_error_code(exc) == "SignatureNotMatch"
                    assert len(svc.captures) == 2 and len(fnf_svc.captures) == 1
                else:
                    # Unchecked: the service decides (the recorder accepts anything).
                    assert start_execution(bad)["ResponseMetadata"]["HTTPStatusCode"] == 200
                    bad_tea = tea_client(gw.url, acs3=True, secret=c.WRONG_SECRET)
                    assert fnf_start_execution(bad_tea).status_code == 200
                    assert len(svc.captures) == 3 and len(fnf_svc.captures) == 2
                    assert c.parse_raw(fnf_svc.captures[1].raw).header("x-acs-action") == "StartExecution"
                # The failure report itself is fully checked in every mode.
                assert expect_aws_error(lambda: report_failure(bad, "stepfunctions")) == ("InvalidSignatureException", 400)
                metrics = gw.metrics()
                assert f'taskgate_other_calls_total{{dialect="states",action="StartExecution",mode="{mode}"}}' in metrics
                assert f'taskgate_other_calls_total{{dialect="fnf",action="StartExecution",mode="{mode}"}}' in metrics
                actions = [(line.get("dialect"), line.get("action")) for line in gw.log_lines()]
                assert ("states", "DescribeExecution") in actions and ("fnf", "StartExecution") in actions


def test_other_calls_in_sink_mode_are_answered_and_recorded(tmp_path: Path):
    with c.Serve(config(tmp_path, ""), workdir=tmp_path) as gw:
        sfn, _ = c.aws_client("stepfunctions", gw.endpoint)
        response = describe_execution(sfn)
        assert response["ResponseMetadata"]["HTTPStatusCode"] == 200
        assert set(response) == {"ResponseMetadata"}, "an empty AWS answer: {}"
        tea = c._tea_client(gw.endpoint, acs3=False)
        result = fnf_start_execution(tea)
        assert result.status_code == 200 and result.body.request_id
        bad, _ = c.aws_client("stepfunctions", gw.endpoint, secret="not-the-secret")
        assert expect_aws_error(lambda: start_execution(bad)) == ("InvalidSignatureException", 400)
        lines = c.read_sink(tmp_path / "sink.jsonl")
        assert [(line["dialect"], line["action"], line["request_id"]) for line in lines] == [
            ("states", "DescribeExecution", response["ResponseMetadata"]["RequestId"]),
            ("fnf", "StartExecution", result.body.request_id),
        ]
        # A call passed on without a report: which operation and by whom, never its parameters.
        assert [sorted(line) for line in lines] == [
            ["access_key_id", "action", "dialect", "received_at", "request_id"]
        ] * 2
        assert [line["access_key_id"] for line in lines] == [c.AWS_ACCESS_KEY_ID, c.ACCESS_KEY_ID]


# ---------------------------------------------------------------------------------------------
# reload


def test_sighup_rotates_an_access_key_while_a_call_is_in_flight(pki: Path, tmp_path: Path):
    with https_service(pki, delay=1.5) as svc:
        extra = routes(pki, svc, "*.amazonaws.com")
        path = config(tmp_path, extra, aws_secret="old-secret")
        with c.Serve(path, workdir=tmp_path) as gw:
            old, _ = proxied_aws_client("stepfunctions", gw.url, secret="old-secret")
            new, _ = proxied_aws_client("stepfunctions", gw.url, secret="new-secret")
            result: dict = {}

            def in_flight():
                try:
                    result["response"] = report_failure(old, "stepfunctions")
                except Exception as exc:  # reported below
                    result["error"] = exc

            caller = threading.Thread(target=in_flight)
            caller.start()
            deadline = time.monotonic() + 10
            while not svc.captures and time.monotonic() < deadline:
                time.sleep(0.02)
            assert svc.captures, "the first call never reached the service"
            config(tmp_path, extra, aws_secret="new-secret")
            gw.reload()
            gw.wait_for_metric("taskgate_reloads_total 1")
            assert caller.is_alive(), "the call was no longer in flight when the new keys took effect"
            caller.join(timeout=30)
            assert "error" not in result, result
            assert result["response"]["ResponseMetadata"]["HTTPStatusCode"] == 200, "the call in flight finished"
            assert expect_aws_error(lambda: report_failure(old, "stepfunctions")) == ("InvalidSignatureException", 400)
            assert report_failure(new, "stepfunctions")["ResponseMetadata"]["HTTPStatusCode"] == 200
            # A broken file changes nothing.
            (tmp_path / "taskgate.toml").write_text("[serve]\nother_calls = \"sometimes\"\n", encoding="utf-8")
            gw.reload()
            gw.wait_for_metric("taskgate_reload_failures_total 1")
            assert report_failure(new, "stepfunctions")["ResponseMetadata"]["HTTPStatusCode"] == 200
            assert "serve.other_calls" in gw.stderr_text()
